"""Idempotency-Key rows: a request's key claimed, then its answer recorded (see idempotency.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, insert, select, update

from ledgerflow.storage import schema
from ledgerflow.storage.hot import Hot

if TYPE_CHECKING:
    from ledgerflow.storage.store import Tx

_k = schema.idempotency_keys
# every keyed request runs these: built once, run on the driver (see hot.py)
_FIND = Hot(select(_k).where(_k.c.actor == bindparam("actor"), _k.c.key == bindparam("key")))
_CLAIM = Hot(insert(_k), by_columns=True)
_RECORD = Hot(update(_k).where(_k.c.actor == bindparam("for_actor"), _k.c.key == bindparam("for_key"))
              .values(status=bindparam("status"), response=bindparam("response")))


def find_key(tx: Tx, actor: str, key: str) -> Any:
    """The row of an actor's key, or None."""
    return _FIND.first(tx.conn, {"actor": actor, "key": key})


def claim_key(tx: Tx, *, actor: str, key: str, method: str, path: str, request_hash: str, created_at: str) -> None:
    """Store a key for a request that has no answer yet (a duplicate key raises `Conflict` at the commit)."""
    _CLAIM.run(tx.conn, {"actor": actor, "key": key, "method": method, "path": path, "request_hash": request_hash,
                         "status": None, "response": None, "created_at": created_at})


def record_answer(tx: Tx, *, actor: str, key: str, status: int, response: Any) -> None:
    _RECORD.run(tx.conn, {"for_actor": actor, "for_key": key, "status": status, "response": response})
