"""The scorecard use case: fetch a period's rows with indexed queries, compute with `domain.figures`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, and_, bindparam, case, func, select

from ledgerflow.domain.errors import NotFound
from ledgerflow.domain.figures import (
    Period,
    hours_between,
    percentile,
    share,
)
from ledgerflow.storage import schema
from ledgerflow.storage.store import Store, Tx


def _count(condition: Any) -> Any:
    """How many rows meet `condition` (a portable conditional count)."""
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


# Built once: risk triggers run these after every run end, so each execution only looks up the compiled form.
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
_LATENCY = frozenset({"decision_latency_median_hours", "decision_latency_p90_hours"})


def _run_counts(tx: Tx, playbook: str, period: Period) -> tuple[int, int, int]:
    """(ended, with an exception, clean first pass) of the runs that ended in the period.

    Counted in SQL from the flags stored when each run ended (migration 0010 filled in older runs'): risk
    triggers read these after every run end, so they must not fetch a row per run.
    """
    start, end = period.bounds
    ended, exceptions, clean = tx.conn.execute(_RUN_COUNTS, {"playbook": playbook, "start": start, "end": end}).one()
    return int(ended), int(exceptions), int(clean)


def scorecard(store: Store, playbook: str, period: Period) -> dict[str, Any]:
    """SPEC §5 figures for one playbook id (all versions) over one period."""
    with store.read() as tx:
        if not tx.playbook_versions(playbook):
            raise NotFound(f"no published playbook {playbook!r}", rule="unknown-playbook")
        return figures(tx, playbook, period)


def figures(tx: Tx, playbook: str, period: Period, *, need: frozenset[str] | None = None) -> dict[str, Any]:
    """The scorecard inside an open transaction (also used by triggers and governance decisions).

    `need` names the figures a caller reads (risk triggers read a few after every run end): the queries
    only those figures need are skipped otherwise, and the skipped figures are null.
    """
    start, end = period.bounds
    params = {"playbook": playbook, "start": start, "end": end}
    ended, exceptions, clean = _run_counts(tx, playbook, period)
    rework = 0
    if need is None or "rework" in need:
        rework = int(tx.conn.execute(_REWORK, params).scalar_one())
    latencies: list[float] = []
    if need is None or need & _LATENCY:
        latencies = [hours_between(ready, ended_at) for ready, ended_at in tx.conn.execute(_DECIDED, params).all()]
    fpy = share(clean, ended)
    previous_fpy = None
    if need is None or "quality_trend" in need:
        before, _, previous_clean = _run_counts(tx, playbook, period.previous())
        previous_fpy = share(previous_clean, before)
    return {
        "playbook": playbook,
        "period": period.name,
        "throughput": ended,
        "exception_rate": share(exceptions, ended),
        "rework": rework,
        "decision_latency": {"median_hours": percentile(latencies, 50), "p90_hours": percentile(latencies, 90)},
        "first_pass_yield": fpy,
        "quality_trend": None if fpy is None or previous_fpy is None else fpy - previous_fpy,
    }
