"""The canonical JSON fast path writes exactly what RFC 8785 says, for any JSON document."""

from __future__ import annotations

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from ledgerflow.domain.canonical import canonical_json

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)


@given(json_values)
@settings(max_examples=400)
def test_canonical_json_equals_rfc8785_for_any_document(value: object) -> None:
    try:
        expected = bytes(rfc8785.dumps(value))
    except (rfc8785.CanonicalizationError, UnicodeEncodeError, ValueError):
        return  # documents RFC 8785 refuses (big integers, lone surrogates) are not events we write
    assert canonical_json(value) == expected


def test_keys_sort_by_utf16_code_units_outside_the_fast_path() -> None:
    value = {"\U0001f600": 1, "\uff61": 2}
    assert canonical_json(value) == bytes(rfc8785.dumps(value))


def test_floats_take_the_ecmascript_form() -> None:
    assert canonical_json({"a": 1.0, "b": 1e21, "c": 1e-7}) == b'{"a":1,"b":1e+21,"c":1e-7}'
