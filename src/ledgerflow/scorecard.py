"""The scorecard use case: fetch a period's rows with indexed queries, compute with `domain.figures`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, and_, bindparam, case, func, select

from ledgerflow.domain.errors import NotFound
from ledgerflow.domain.figures import (
    LATENCY_PERCENTILES,
    Marks,
    Period,
    hours_between,
    percentile,
    percentile_side,
    share,
)
from ledgerflow.domain.outcome import outcome_block
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
_DECIDED_VIA = select(_e.c.channel, _t.c.ready_at, _t.c.ended_at).select_from(
    _e.join(_t, _t.c.id == _e.c.task)).where(
    _e.c.type == "task.decided", _e.c.at >= _START, _e.c.at < _END, _t.c.playbook == _PLAYBOOK,
    _t.c.type == "decision", _t.c.outcome.is_not(None), _t.c.ended_at.is_not(None))
"""Each decision of the period with the channel it was taken through (by the decision event's time, on the
events' type-and-time index)."""


def _counts(tx: Tx, playbook: str, period: Period) -> dict[str, int]:
    """Ended runs, those with an exception, clean first passes, and send-backs of the period.

    An ISO week reads its running counts (one row: risk triggers ask after every run end); any other span
    counts in SQL, from the flags stored when each run ended (migration 0010 filled in older runs').
    """
    if period.is_week:
        return tx.period_counts(playbook, period.name)
    start, end = period.bounds
    params = {"playbook": playbook, "start": start, "end": end}
    ended, exceptions, clean = tx.conn.execute(_RUN_COUNTS, params).one()
    rework = tx.conn.execute(_REWORK, params).scalar_one()
    return {"ended": int(ended), "exceptions": int(exceptions), "clean": int(clean), "rework": int(rework)}


def _latencies(tx: Tx, playbook: str, period: Period) -> list[float]:
    start, end = period.bounds
    rows = tx.conn.execute(_DECIDED, {"playbook": playbook, "start": start, "end": end})
    return [hours_between(ready, ended_at) for ready, ended_at in rows]


def latency_side(tx: Tx, playbook: str, period: Period, threshold: float, p: float) -> int | None:
    """The sign of (the period's p-th decision latency percentile - threshold); None with no decisions.

    A week's running marks answer in one row when they count every decision of the week; otherwise (another
    span, or a trigger that arrived mid-week) the period's latencies are read and placed.
    """
    if period.is_week:
        marks = tx.latency_marks(playbook, period.name, threshold)
        if marks is not None and marks.decided == tx.period_counts(playbook, period.name)["decided"]:
            return percentile_side(marks, threshold, p)
    return percentile_side(Marks.of(_latencies(tx, playbook, period), threshold), threshold, p)


def scorecard(store: Store, playbook: str, period: Period, *, by_channel: bool = False) -> dict[str, Any]:
    """SPEC §5 figures for one playbook id (all versions) over one period; `by_channel` adds the decision
    latency of each channel decisions were taken through (`latency_by_channel`), the other figures unchanged."""
    with store.read() as tx:
        if not tx.playbook_versions(playbook):
            raise NotFound(f"no published playbook {playbook!r}", rule="unknown-playbook")
        result = figures(tx, playbook, period)
        if by_channel:
            result["latency_by_channel"] = latency_by_channel(tx, playbook, period)
        return result


def latency_by_channel(tx: Tx, playbook: str, period: Period) -> dict[str, dict[str, Any]]:
    """Decisions of the period by channel (web, api, cli, mcp, email, slack): how many, median and p90 hours
    from ready to decided. Channels nobody decided through are left out."""
    start, end = period.bounds
    hours: dict[str, list[float]] = {}
    for channel, ready, ended_at in tx.conn.execute(_DECIDED_VIA, {"playbook": playbook, "start": start,
                                                                   "end": end}):
        hours.setdefault(channel, []).append(hours_between(ready, ended_at))
    return {channel: {"decided": len(values), "median_hours": percentile(values, 50),
                      "p90_hours": percentile(values, 90)} for channel, values in sorted(hours.items())}


def figures(tx: Tx, playbook: str, period: Period, *, need: frozenset[str] | None = None) -> dict[str, Any]:
    """The scorecard inside an open transaction (also used by triggers and governance decisions).

    `need` names the figures a caller reads (risk triggers read a few after every run end): the queries
    only those figures need are skipped otherwise, and the skipped figures are null.
    """
    counts = _counts(tx, playbook, period)
    latencies: list[float] = []
    if need is None or need & LATENCY_PERCENTILES.keys():
        latencies = _latencies(tx, playbook, period)
    ended = counts["ended"]
    fpy = share(counts["clean"], ended)
    previous_fpy = None
    if need is None or "quality_trend" in need:
        before = _counts(tx, playbook, period.previous())
        previous_fpy = share(before["clean"], before["ended"])
    return {
        "playbook": playbook,
        "period": period.name,
        "throughput": ended,
        "exception_rate": share(counts["exceptions"], ended),
        "rework": counts["rework"],
        "decision_latency": {"median_hours": percentile(latencies, 50), "p90_hours": percentile(latencies, 90)},
        "first_pass_yield": fpy,
        "quality_trend": None if fpy is None or previous_fpy is None else fpy - previous_fpy,
        "outcome": _outcome(tx, playbook, period) if need is None or "outcome" in need else None,
    }


def _outcome(tx: Tx, playbook: str, period: Period) -> dict[str, Any] | None:
    """The outcome measure of the newest version, with the value recorded for the period (SPEC §12)."""
    metric = tx.playbook(playbook)[0].outcome.metric
    return outcome_block(metric, outcome_value(tx, playbook, period)) if metric is not None else None


def outcome_value(tx: Tx, playbook: str, period: Period) -> float | None:
    """The outcome value recorded for the playbook id in this period (an ISO week), or None."""
    if not period.is_week:
        return None
    o = schema.outcome_values
    found = tx.conn.execute(select(o.c.value).where(o.c.playbook == playbook, o.c.period == period.name)
                            ).scalar_one_or_none()
    return None if found is None else float(found)
