"""Canonical JSON (RFC 8785) and the SHA-256 digests built on it.

For documents without floats, integers beyond ±2^53 or keys outside the Basic Multilingual Plane, RFC 8785
output is exactly what the standard library's `json.dumps` writes with sorted keys, compact separators and
`ensure_ascii=False` (same escapes, same key order). Those documents — almost every event — take that C
fast path; everything else goes through the `rfc8785` package. A property test holds the two equal.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import rfc8785

ZERO_HASH = "0" * 64
_SAFE_INT = 2**53
_BMP_MAX = "\uffff"
_encode = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False).encode


def _plain(value: Any) -> bool:
    """True when the standard encoder's output is already RFC 8785 canonical. On every command's path and
    every event `audit verify` reads: exact-type tests first (much faster than isinstance with unions)."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is dict:
        for key, child in value.items():
            if not isinstance(key, str) or not (key.isascii() or max(key) <= _BMP_MAX):
                return False
            if type(child) is not str and not _plain(child):
                return False
        return True
    if kind is list or kind is tuple:
        for child in value:
            if type(child) is not str and not _plain(child):
                return False
        return True
    if kind is int:
        return bool(-_SAFE_INT <= value <= _SAFE_INT)
    if isinstance(value, str):
        return True  # a str subclass (an enum's value) encodes as its text
    if isinstance(value, int):
        return -_SAFE_INT <= value <= _SAFE_INT  # an int subclass (an IntEnum) encodes as its number
    return False  # floats, and anything the standard encoder would not write canonically


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 encoding of a JSON value: the same bytes for the same data on every machine."""
    if _plain(value):
        try:
            return _encode(value).encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: let rfc8785 refuse it with its own error
    return bytes(rfc8785.dumps(value))


def digest(value: Any) -> str:
    """Hex SHA-256 of the canonical JSON of a value."""
    return hashlib.sha256(canonical_json(value)).hexdigest()
