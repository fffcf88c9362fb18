"""An event's stored body reads back as the values that were hashed: the body's canonical bytes, read and encoded
again, are the same bytes, whatever JSON the event carried (floats written as integer literals included)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledgerflow.domain.canonical import canonical_json
from ledgerflow.storage.event_body import body_fields
from tests.strategies import json_documents


def _same(a: Any, b: Any) -> bool:
    """Equal, and a float where there was a float (1.0 and 1 are the same double, so either reads back)."""
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and a == b and (
            math.copysign(1, a) == math.copysign(1, b) or a == 0)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@given(data=json_documents(max_int=2**53 - 1) | st.floats(allow_nan=False, allow_infinity=False).map(lambda f: [f]))
@settings(max_examples=400)
def test_a_body_reads_back_as_the_values_hashed(data: Any) -> None:
    event = {"data": data, "v": 2}
    body = canonical_json(event)
    read = body_fields(body)
    assert _same(read, event)
    assert canonical_json(read) == body


@pytest.mark.parametrize("number", [3.705303927878146e16, 2.0**60, -(2.0**63), 1e20, 9007199254740994.0])
def test_a_float_written_as_an_integer_literal_reads_back_as_that_float(number: float) -> None:
    read = body_fields(canonical_json({"x": number}))["x"]
    assert type(read) is float and read == number


@pytest.mark.parametrize("body", [b"5", b"[]", b"", b"{", b"\xff\xfe", b"[" * 5000 + b"]" * 5000])
def test_a_body_that_is_not_an_object_reads_as_no_fields(body: bytes) -> None:
    assert body_fields(body) == {}


def test_a_nan_written_into_a_body_by_hand_reads_as_the_standard_library_reads_it() -> None:
    assert math.isnan(body_fields(b'{"x": NaN}')["x"])
