"""Outcome values: one per playbook and period, as recorded (see outcomes.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update

from ledgerflow.storage import schema

if TYPE_CHECKING:
    from ledgerflow.storage.store import Tx

_o = schema.outcome_values


def save_outcome_value(tx: Tx, playbook: str, period: str, **row: Any) -> None:
    """Store a period's value, replacing one recorded before."""
    where = (_o.c.playbook == playbook, _o.c.period == period)
    if tx.conn.execute(select(_o.c.period).where(*where)).first() is None:
        tx.conn.execute(insert(_o).values(playbook=playbook, period=period, **row))
    else:
        tx.conn.execute(update(_o).where(*where).values(**row))


def outcome_value(tx: Tx, playbook: str, period: str) -> Any:
    """The value recorded for the playbook id in a period, or None."""
    return tx.conn.execute(select(_o.c.value).where(_o.c.playbook == playbook, _o.c.period == period)
                           ).scalar_one_or_none()
