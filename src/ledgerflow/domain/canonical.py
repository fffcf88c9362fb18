"""Canonical JSON (RFC 8785) and the SHA-256 digests built on it."""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785

ZERO_HASH = "0" * 64


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 encoding of a JSON value: the same bytes for the same data on every machine."""
    return bytes(rfc8785.dumps(value))


def digest(value: Any) -> str:
    """Hex SHA-256 of the canonical JSON of a value."""
    return hashlib.sha256(canonical_json(value)).hexdigest()
