"""The canonical JSON fast path writes exactly what RFC 8785 says, for any JSON document."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from enum import IntEnum, StrEnum
from typing import Any, TypeAlias

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.strategies import json_documents

from ledgerflow.domain.canonical import _fast, _plain, canonical_json, digest, exact_json

json_values = json_documents()
# the documents these tests draw or list, typed as rfc8785 takes them (tuples and str or int enums among them)
Json: TypeAlias = bool | int | str | float | Sequence["Json"] | Mapping[str, "Json"] | None


@given(json_values)
@settings(max_examples=400)
def test_canonical_json_equals_rfc8785_for_any_document(value: Json) -> None:
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


hostile_text = st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(
    ["\u2028", "\u2029", "\x7f", "\x00", "\x1f", '"', "\\", "\ue000", "\U0001f600", "\ufeff"]))
any_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**60), max_value=2**60) | st.floats() | hostile_text,
    lambda children: st.lists(children, max_size=4) | st.tuples(children)
    | st.dictionaries(hostile_text, children, max_size=4),
    max_leaves=24,
)


@given(any_values)
@settings(max_examples=1500)
def test_the_fast_path_writes_rfc8785_bytes_or_refuses_as_it_does(value: Json) -> None:
    """The orjson path and the exact path agree on every document, and refuse the same ones."""
    try:
        expected: bytes | None = bytes(rfc8785.dumps(value))
    except (rfc8785.CanonicalizationError, UnicodeEncodeError, ValueError, OverflowError):
        expected = None
    try:
        found: bytes | None = canonical_json(value)
    except (rfc8785.CanonicalizationError, UnicodeEncodeError, ValueError, OverflowError):
        found = None
    assert found == expected
    if expected is not None:
        assert exact_json(value) == expected


def test_nan_and_infinity_are_refused_not_written_as_null() -> None:
    for value in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises((rfc8785.CanonicalizationError, ValueError)):
            canonical_json({"a": None, "b": value})
    assert canonical_json({"a": None}) == b'{"a":null}'


def test_an_escaped_quote_and_a_float_inside_text_are_text() -> None:
    value = {"s": 'say "1.5e3" \\', "t": "2026-03-02T08:00:00.000000Z", "n": [1, True, False, None]}
    assert canonical_json(value) == bytes(rfc8785.dumps(value))


class Kind(StrEnum):
    ROLE = "role"


class Seats(IntEnum):
    TWO = 2


class Edge(IntEnum):
    TOP = 2**53 - 1
    ABOVE = 2**53
    BOTTOM = 1 - 2**53
    BELOW = -(2**53)


@pytest.mark.parametrize("value", [
    "text", True, None, 0, 2**53 - 1, 1 - 2**53, Kind.ROLE, Seats.TWO, [], (), {},
    {"kind": "role", "detail": "finance"}, {"é": ["a", 1, None, {"nested": (True, Kind.ROLE)}]}, {"\uffff": "x"},
    ["a", {"b": [1, "c"]}], ("a", ["b"]),
])
def test_documents_without_floats_big_integers_or_astral_keys_take_the_standard_encoder(value: Json) -> None:
    assert _plain(value) is True  # the standard encoder's bytes, not the slower rfc8785 package
    assert exact_json(value) == canonical_json(value) == bytes(rfc8785.dumps(value))


def test_only_safe_integers_take_the_standard_encoder() -> None:
    assert _plain(2**53 - 1) and _plain(1 - 2**53) and _plain(Edge.TOP) and _plain(Edge.BOTTOM)
    assert not _plain(2**53) and not _plain(-(2**53)) and not _plain(Edge.ABOVE) and not _plain(Edge.BELOW)


@pytest.mark.parametrize("value", [
    1.5, 2**53 + 1, -(2**53) - 1, {"\U0001f600": 1}, {1: "x"}, [1.0], ("a", 2**60),
    {"a": {"b": 0.5}}, {"a": [2**60]}, {"a": "x", "b": 1.5}, ["x", 1.5], b"bytes",
])
def test_floats_big_integers_astral_keys_and_other_types_leave_the_standard_encoder(value: object) -> None:
    assert _plain(value) is False


@pytest.mark.parametrize("value", [
    {"kind": "role", "detail": None}, {"t": True, "f": False, "n": None}, [True, False, None, 0, -7],
    {"text": "1.5e3 is true, not false nor null", "é": "ü\uffff", "\u2028": "\u00a0"},
    ("a", ["b", (1, 2)]), {"a": ["x", None]}, "only text", 2**53 - 1, {"seq": 12, "data": {}},
])
def test_documents_without_floats_big_integers_escaped_quotes_or_astral_text_take_the_fast_path(value: Any) -> None:
    """orjson's own bytes: text that looks like a number, a literal or null inside a string, tuples, nulls that
    are nulls, and any text inside the Basic Multilingual Plane do not send a document down the slower path."""
    assert _fast(value) == bytes(rfc8785.dumps(value))


ASTRAL = ["\U0001f600", "\U00040000", "\U00080000", "\U000f0000", "\U00100000"]  # lead bytes F0, F1, F2, F3, F4


@pytest.mark.parametrize("value", [
    1.5, {"a": 1e21}, [1e-7], {"a": float("nan"), "b": None}, 2**53, -(2**53), {1: "x"}, b"bytes",
    {"q": '"', "x": 1e21}, {"q": 'say "hi"'}, *({"k": astral} for astral in ASTRAL),
])
def test_floats_big_integers_escaped_quotes_astral_text_and_other_types_leave_the_fast_path(value: object) -> None:
    assert _fast(value) is None


@pytest.mark.parametrize("astral", ASTRAL)
def test_keys_beyond_the_bmp_sort_by_utf16_code_units_from_every_plane(astral: str) -> None:
    value = {astral: 1, "\uff61": 2}  # UTF-16 puts the surrogates of the astral key first, code points put it last
    assert canonical_json(value) == bytes(rfc8785.dumps(value)) and canonical_json(value).index(b"1") < \
        canonical_json(value).index(b"2")


@pytest.mark.parametrize("value", [{"b": 1e21}, {"q": '"', "x": 1e21}, {"n": 1e-7, "t": True}])
def test_a_float_written_without_a_point_takes_the_ecmascript_form(value: Any) -> None:
    """orjson writes 1e21 with neither a point nor a sign, and an escaped quote must not hide one from the scan."""
    assert canonical_json(value) == bytes(rfc8785.dumps(value))


def test_a_digest_is_the_sha256_of_the_canonical_bytes() -> None:
    value: Any = {"input": {"deal_value": 12000}, "outputs": {"prepare": {"note": "é"}}}
    assert digest(value) == hashlib.sha256(bytes(rfc8785.dumps(value))).hexdigest()


