"""JSON columns are written with orjson and read with orjson where it writes and reads what the standard library
would: every value reads back as it read back before."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ledgerflow.storage.database import _dumps, _loads
from tests.strategies import json_documents


def _same(a: Any, b: Any) -> bool:
    """Equal, with NaN equal to NaN (what the standard library writes for it and reads back)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@given(json_documents(max_int=2**80))
def test_a_json_value_reads_back_as_the_standard_library_reads_it_back(value: Any) -> None:
    assert _same(_loads(_dumps(value)), json.loads(json.dumps(value)))


@given(st.recursive(st.floats() | st.none() | st.text(alphabet="\ud800\udfff\x00ab"),
                    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.integers(), children),
                    max_leaves=8))
def test_what_orjson_would_write_differently_is_written_by_the_standard_library(value: Any) -> None:
    # NaN and infinities (orjson writes null), lone surrogates and integer keys (orjson refuses them)
    assert _dumps(value) == json.dumps(value) or _same(json.loads(_dumps(value)), json.loads(json.dumps(value)))


def test_a_nan_is_not_written_as_null() -> None:
    assert _dumps({"limit": math.nan, "cap": math.inf}) == '{"limit": NaN, "cap": Infinity}'
    assert _dumps({"note": None, "n": [1, None]}) == '{"note":null,"n":[1,null]}'
