"""Timers: set by commands, claimed and marked fired by the clock's advance and the worker."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, insert, select, update

from ledgerflow.domain.timers import Timer
from ledgerflow.storage import schema
from ledgerflow.storage.hot import Hot
from ledgerflow.storage.transaction import TxBase

_INSERT_TIMERS = insert(schema.timers)
_DUE_TIMERS = (select(schema.timers).where(schema.timers.c.fired_at.is_(None),
                                           schema.timers.c.due_at <= bindparam("until"))
               .order_by(schema.timers.c.due_at, schema.timers.c.id)
               .with_for_update(skip_locked=True))  # several workers: each timer fires once
_FIRE_TIMER = update(schema.timers).where(schema.timers.c.id == bindparam("timer_id"),
                                          schema.timers.c.fired_at.is_(None)).values(fired_at=bindparam("at"))
_HOT_INSERT_TIMERS, _HOT_FIRE_TIMER = Hot(_INSERT_TIMERS, by_columns=True), Hot(_FIRE_TIMER)


class Timers(TxBase):
    """A transaction's timers."""

    def pending_timer(self, kind: str, playbook: str) -> bool:
        tm = schema.timers
        query = select(tm.c.id, tm.c.data).where(tm.c.kind == kind, tm.c.fired_at.is_(None))
        return any(row.data.get("playbook") == playbook for row in self.conn.execute(query))

    def add_timers(self, timers: Sequence[Timer]) -> None:
        if timers:
            _HOT_INSERT_TIMERS.run(self.conn, [{"due_at": t.due_at, "kind": t.kind, "run": t.run, "task": t.task,
                                                "data": t.data} for t in timers])
            earliest = min(t.due_at for t in timers)
            self._earliest_new_timer = min(self._earliest_new_timer or earliest, earliest)

    def take_earliest_new_timer(self) -> str | None:
        """The due time of the earliest timer set since the last call, by any command in this transaction (a
        fired timer that sets another one due within the same advance: it must fire in its turn)."""
        earliest, self._earliest_new_timer = self._earliest_new_timer, None
        return earliest

    def due_timers(self, until: str, limit: int) -> list[Any]:
        """The earliest `limit` unfired timers due at or before `until` (ties by creation order), claimed."""
        return list(self.conn.execute(_DUE_TIMERS.limit(limit), {"until": until}))

    def mark_fired(self, timer_id: int, at: str) -> None:
        """Mark a claimed timer (read with `due_timers`) fired, before it fires: what it does sees it done."""
        _HOT_FIRE_TIMER.run(self.conn, {"timer_id": timer_id, "at": at})
