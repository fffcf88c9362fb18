"""The scorecard use case: fetch a period's rows with indexed queries, compute with `domain.figures`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, select

from ledgerflow.domain.errors import NotFound
from ledgerflow.domain.figures import (
    FLAG_EVENTS,
    EndedRun,
    Period,
    first_pass_yield,
    hours_between,
    percentile,
    run_flags,
    share,
)
from ledgerflow.storage import schema
from ledgerflow.storage.store import Store, Tx


def _ended_runs(tx: Tx, playbook: str, period: Period) -> list[EndedRun]:
    """Runs that ended in the period, with the flags stored when each ended (computed here for older rows)."""
    r, e = schema.runs, schema.events
    start, end = period.bounds
    rows = list(tx.conn.execute(select(r.c.id, r.c.status, r.c.exception, r.c.reworked, r.c.failed_check).where(
        r.c.playbook == playbook, r.c.ended_at >= start, r.c.ended_at < end,
        r.c.status.in_(["completed", "rejected"]))))
    missing = [row.id for row in rows if row.exception is None]
    computed: dict[str, tuple[bool, bool, bool]] = {}
    if missing:
        events: dict[str, list[tuple[str, Any, Any]]] = {run_id: [] for run_id in missing}
        query = select(e.c.run, e.c.type, e.c.authority, e.c.data).where(e.c.run.in_(missing),
                                                                         e.c.type.in_(FLAG_EVENTS))
        for found in tx.conn.execute(query):
            events[found.run].append((found.type, found.authority, found.data))
        computed = {run_id: run_flags(rows_) for run_id, rows_ in events.items()}
    out = []
    for row in rows:
        exception, reworked, failed = computed.get(row.id) or (row.exception, row.reworked, row.failed_check)
        out.append(EndedRun(id=row.id, status=row.status, exception=bool(exception), reworked=bool(reworked),
                            failed_check=bool(failed)))
    return out


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
    e, t = schema.events, schema.tasks
    start, end = period.bounds
    ended = _ended_runs(tx, playbook, period)
    rework: list[Any] = []
    if need is None or "rework" in need:
        rework = list(tx.conn.execute(select(e.c.seq).select_from(e.join(schema.runs, schema.runs.c.id == e.c.run))
                                      .where(e.c.type == "task.sent_back", e.c.at >= start, e.c.at < end,
                                             schema.runs.c.playbook == playbook)))
    latencies: list[float] = []
    if need is None or need & {"decision_latency_median_hours", "decision_latency_p90_hours"}:
        decided = tx.conn.execute(select(t.c.ready_at, t.c.ended_at).where(and_(
            t.c.playbook == playbook, t.c.type == "decision", t.c.outcome.is_not(None),
            t.c.ended_at >= start, t.c.ended_at < end))).all()
        latencies = [hours_between(row.ready_at, row.ended_at) for row in decided]
    fpy = first_pass_yield(ended)
    previous_fpy = None
    if need is None or "quality_trend" in need:
        previous_fpy = first_pass_yield(_ended_runs(tx, playbook, period.previous()))
    return {
        "playbook": playbook,
        "period": period.name,
        "throughput": len(ended),
        "exception_rate": share(sum(1 for r in ended if r.exception), len(ended)),
        "rework": len(rework),
        "decision_latency": {"median_hours": percentile(latencies, 50), "p90_hours": percentile(latencies, 90)},
        "first_pass_yield": fpy,
        "quality_trend": None if fpy is None or previous_fpy is None else fpy - previous_fpy,
    }
