"""Token rows: bearer tokens and guest links, stored by the SHA-256 of their value (see tokens.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, insert, select, update

from ledgerflow.storage import schema
from ledgerflow.storage.hot import Hot

if TYPE_CHECKING:
    from ledgerflow.storage.store import Tx

_t = schema.tokens
_BY_HASH = Hot(select(_t).where(_t.c.hash == bindparam("hash")))  # every request


def insert_token(tx: Tx, **row: Any) -> None:
    """Store a new token's row (its columns by name)."""
    tx.conn.execute(insert(_t).values(**row))


def token(tx: Tx, token_id: str) -> Any:
    """A token's row by id, or None."""
    return tx.conn.execute(select(_t).where(_t.c.id == token_id)).one_or_none()


def token_by_hash(tx: Tx, digest: str) -> Any:
    """A token's row by the hash of its value, or None (every authenticated request asks)."""
    return _BY_HASH.first(tx.conn, {"hash": digest})


def revoke_token(tx: Tx, token_id: str, *, at: str, by: str) -> None:
    tx.conn.execute(update(_t).where(_t.c.id == token_id).values(revoked_at=at, revoked_by=by))


def tokens(tx: Tx, *, actor: str | None = None, held_by: str | None = None) -> list[Any]:
    """Token rows oldest first: of one actor, and of `held_by` (both when both are given)."""
    query = select(_t).order_by(_t.c.created_at, _t.c.id)
    if actor is not None:
        query = query.where(_t.c.actor == actor)
    if held_by is not None:
        query = query.where(_t.c.actor == held_by)
    return list(tx.conn.execute(query).all())
