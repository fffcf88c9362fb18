"""Identifiers for runs and tasks."""

from __future__ import annotations

import base64
import secrets


def new_id(prefix: str) -> str:
    """A short random id, e.g. `t-k3j9x2mq7a`: unguessable, safe to type, unique across processes."""
    return f"{prefix}-{base64.b32encode(secrets.token_bytes(5)).decode().lower()}"
