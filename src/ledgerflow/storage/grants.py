"""Rows that let someone act once: an agent's approval requests (approvals.py) and the one-click decision
links sent by mail (action_links.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update

from ledgerflow.storage import schema

if TYPE_CHECKING:
    from ledgerflow.storage.store import Tx

_a, _l = schema.approvals, schema.action_links


def insert_approval(tx: Tx, **row: Any) -> None:
    """Store an approval request (its columns by name)."""
    tx.conn.execute(insert(_a).values(**row))


def approval(tx: Tx, approval_id: str) -> Any:
    """An approval request's row, or None."""
    return tx.conn.execute(select(_a).where(_a.c.id == approval_id)).one_or_none()


def consume_approval(tx: Tx, approval_id: str, at: str) -> bool:
    """Mark an approval used; False when it was used already (a grant is single-use)."""
    taken = tx.conn.execute(update(_a).where(_a.c.id == approval_id, _a.c.consumed_at.is_(None))
                            .values(consumed_at=at)).rowcount
    return bool(taken == 1)


def insert_link(tx: Tx, **row: Any) -> None:
    """Store an action link (its columns by name; the link itself is kept only as its hash)."""
    tx.conn.execute(insert(_l).values(**row))


def link_by_hash(tx: Tx, digest: str) -> Any:
    """The action link whose value hashes to `digest`, or None."""
    return tx.conn.execute(select(_l).where(_l.c.hash == digest)).one_or_none()


def link(tx: Tx, link_id: str) -> Any:
    """An action link's row by id (it must exist)."""
    return tx.conn.execute(select(_l).where(_l.c.id == link_id)).one()


def use_link(tx: Tx, link_id: str, at: str) -> None:
    """Mark an action link used, unless it was already."""
    tx.conn.execute(update(_l).where(_l.c.id == link_id, _l.c.used_at.is_(None)).values(used_at=at))
