"""Canonical JSON (RFC 8785) and the SHA-256 digests built on it.

For documents without floats, integers beyond ±2^53 or characters outside the Basic Multilingual Plane,
RFC 8785 output is exactly what orjson writes with sorted keys (same escapes; key order by code point equals
order by UTF-16 code unit inside the BMP). Every event is encoded once, when written (its body, which its
hash covers and `audit verify` hashes as stored), so this is the hot path: orjson writes the bytes (~1.5 µs),
and a few byte scans of its output, outside string literals, prove no float was written (orjson writes NaN
and infinities as `null`: a document with a `null` is read back and compared). Anything else takes the exact
path: the standard library's encoder where it is canonical, the `rfc8785` package otherwise. Property tests
hold all three equal.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import orjson
import rfc8785

ZERO_HASH = "0" * 64
_SAFE_INT = 2**53
_BMP_MAX = "\uffff"
_encode = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False).encode


def _plain(value: Any) -> bool:
    """True when the standard encoder's output is already RFC 8785 canonical. On the exact path of every
    command: exact-type tests first (much faster than isinstance with unions)."""
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
        return bool(-_SAFE_INT < value < _SAFE_INT)
    if isinstance(value, str):
        return True  # a str subclass (an enum's value) encodes as its text
    if isinstance(value, int):
        return -_SAFE_INT < value < _SAFE_INT  # an int subclass (an IntEnum) encodes as its number
    return False  # floats, and anything the standard encoder would not write canonically


_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER | orjson.OPT_PASSTHROUGH_DATACLASS | (
    orjson.OPT_PASSTHROUGH_DATETIME)


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 encoding of a JSON value: the same bytes for the same data on every machine."""
    return _fast(value) or exact_json(value)


def _fast(value: Any) -> bytes | None:
    """orjson's bytes when they are the RFC 8785 encoding, else None (the exact path decides)."""
    try:
        out = orjson.dumps(value, option=_OPTIONS)
    except (orjson.JSONEncodeError, TypeError):  # big integers, lone surrogates, keys that are not text
        return None
    if b'\\"' in out or (not out.isascii() and _astral(out)):
        return None  # an escaped quote (the scan below splits on quotes), or keys that sort apart
    outside = b"".join(out.split(b'"')[::2])  # everything but the string literals
    if b"." in outside or outside.count(b"e") != outside.count(b"true") + outside.count(b"false"):
        return None  # a float: RFC 8785 writes numbers as ECMAScript does
    if b"null" in outside and orjson.loads(out) != value:
        return None  # NaN or an infinity written as null (or a tuple, which only looks unequal)
    return out


def _astral(out: bytes) -> bool:
    """A character outside the BMP: its UTF-8 lead byte is F0-F4 (each test a memchr)."""
    return b"\xf0" in out or b"\xf1" in out or b"\xf2" in out or b"\xf3" in out or b"\xf4" in out


def exact_json(value: Any) -> bytes:
    """RFC 8785 by the slower, exact path: the standard encoder where it is canonical, else `rfc8785`."""
    if _plain(value):
        try:
            return _encode(value).encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: let rfc8785 refuse it with its own error
    return bytes(rfc8785.dumps(value))


def digest(value: Any) -> str:
    """Hex SHA-256 of the canonical JSON of a value."""
    return hashlib.sha256(canonical_json(value)).hexdigest()
