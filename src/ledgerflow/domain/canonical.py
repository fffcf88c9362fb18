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
    """True when the standard encoder's output is already RFC 8785 canonical (iterative: it is on the hot path)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if item is None or isinstance(item, str | bool):
            continue
        if isinstance(item, int):
            if not -_SAFE_INT <= item <= _SAFE_INT:
                return False
        elif isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str) or not (key.isascii() or max(key) <= _BMP_MAX):
                    return False
                if not isinstance(child, str):
                    stack.append(child)
        elif isinstance(item, list | tuple):
            stack.extend(item)
        else:
            return False  # floats, and anything the standard encoder would not write canonically
    return True


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
