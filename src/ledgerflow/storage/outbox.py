"""The outbox: messages written with the command that causes them, leased and settled by the worker."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select, update

from ledgerflow.storage import schema
from ledgerflow.storage.hot import Hot
from ledgerflow.storage.transaction import TxBase

_HOT_INSERT_OUTBOX = Hot(insert(schema.outbox), by_columns=True)


class Outbox(TxBase):
    """A transaction's outbox messages."""


    def add_outbox(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            _HOT_INSERT_OUTBOX.run(self.conn, list(rows))

    def claim_outbox(self, now: str, lease_until: str, limit: int = 20) -> list[Any]:
        """Lease due messages to this worker; others skip them until the lease ends (SKIP LOCKED on PostgreSQL)."""
        o = schema.outbox
        due = (select(o).where(o.c.status == "pending", o.c.next_attempt_at <= now,
                               (o.c.lease_until.is_(None)) | (o.c.lease_until < now))
               .order_by(o.c.next_attempt_at, o.c.id).limit(limit).with_for_update(skip_locked=True))
        rows = list(self.conn.execute(due))
        if rows:
            self.conn.execute(update(o).where(o.c.id.in_([r.id for r in rows])).values(lease_until=lease_until))
        return rows

    def finish_outbox(self, message_id: int, **values: Any) -> bool:
        """Record a delivery or a retry for a still-pending message; False if it was settled already."""
        o = schema.outbox
        done = self.conn.execute(update(o).where(o.c.id == message_id, o.c.status == "pending").values(**values))
        return bool(done.rowcount == 1)

    def outbox(self, status: str | None = None) -> list[Any]:
        o = schema.outbox
        query = select(o).order_by(o.c.id)
        if status is not None:
            query = query.where(o.c.status == status)
        return list(self.conn.execute(query))
