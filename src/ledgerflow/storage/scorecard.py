"""The scorecard's reads (see scorecard.py): a period's ended runs, send-backs and decisions, by indexed queries.

Built once: risk triggers run these after every run end, so each execution only looks up the compiled form.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import String, and_, bindparam, case, func, select

from ledgerflow.storage import schema

if TYPE_CHECKING:
    from ledgerflow.storage.store import Tx


def _count(condition: Any) -> Any:
    """How many rows meet `condition` (a portable conditional count)."""
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


_r, _e, _t = schema.runs, schema.events, schema.tasks
_PLAYBOOK, _START, _END = (bindparam(name, type_=String) for name in ("playbook", "start", "end"))
_ENDED = (_r.c.playbook == _PLAYBOOK, _r.c.ended_at >= _START, _r.c.ended_at < _END,
          _r.c.status.in_(["completed", "rejected"]))
_RUN_COUNTS = select(func.count(), _count(_r.c.exception.is_(True)),
                     _count(and_(_r.c.status == "completed", _r.c.reworked.is_not(True),
                                 _r.c.failed_check.is_not(True)))).where(*_ENDED)
_REWORK = (select(func.count()).select_from(_e.join(_r, _r.c.id == _e.c.run))
           .where(_e.c.type == "task.sent_back", _e.c.at >= _START, _e.c.at < _END, _r.c.playbook == _PLAYBOOK))
_DECIDED = select(_t.c.ready_at, _t.c.ended_at).where(
    _t.c.playbook == _PLAYBOOK, _t.c.type == "decision", _t.c.outcome.is_not(None), _t.c.ended_at >= _START,
    _t.c.ended_at < _END)
_DECIDED_VIA = select(_e.c.channel, _t.c.ready_at, _t.c.ended_at).select_from(
    _e.join(_t, _t.c.id == _e.c.task)).where(
    _e.c.type == "task.decided", _e.c.at >= _START, _e.c.at < _END, _t.c.playbook == _PLAYBOOK,
    _t.c.type == "decision", _t.c.outcome.is_not(None), _t.c.ended_at.is_not(None))
"""Each decision of the period with the channel it was taken through (by the decision event's time, on the
events' type-and-time index)."""


def run_counts(tx: Tx, playbook: str, start: str, end: str) -> dict[str, int]:
    """Runs of the playbook ended in [start, end), those with an exception, clean first passes, and send-backs,
    from the flags stored when each run ended."""
    params = {"playbook": playbook, "start": start, "end": end}
    ended, exceptions, clean = tx.conn.execute(_RUN_COUNTS, params).one()
    rework = tx.conn.execute(_REWORK, params).scalar_one()
    return {"ended": int(ended), "exceptions": int(exceptions), "clean": int(clean), "rework": int(rework)}


def decided(tx: Tx, playbook: str, start: str, end: str) -> list[tuple[str, str]]:
    """(ready_at, ended_at) of each decision task of the playbook decided in [start, end)."""
    return [(ready, ended_at) for ready, ended_at in
            tx.conn.execute(_DECIDED, {"playbook": playbook, "start": start, "end": end})]


def decided_via(tx: Tx, playbook: str, start: str, end: str) -> list[tuple[str, str, str]]:
    """(channel, ready_at, ended_at) of each decision of the period, by the decision event's time."""
    return [(channel, ready, ended_at) for channel, ready, ended_at in
            tx.conn.execute(_DECIDED_VIA, {"playbook": playbook, "start": start, "end": end})]
