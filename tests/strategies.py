"""Hypothesis strategies shared by tests: JSON documents of the shapes events carry."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st


def json_documents(*, max_int: int = 2**60) -> st.SearchStrategy[Any]:
    """Any JSON value: null, booleans, integers within ±max_int, finite floats, text, lists and objects."""
    return st.recursive(
        st.none() | st.booleans() | st.integers(min_value=-max_int, max_value=max_int)
        | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
        max_leaves=20,
    )
