"""The scorecard use case: fetch a period's rows with indexed queries, compute with `domain.figures`."""

from __future__ import annotations

from typing import Any

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
from ledgerflow.storage.outcomes import outcome_value as stored_outcome
from ledgerflow.storage.scorecard import decided, decided_via, run_counts
from ledgerflow.storage.store import Store, Tx


def _counts(tx: Tx, playbook: str, period: Period) -> dict[str, int]:
    """Ended runs, those with an exception, clean first passes, and send-backs of the period.

    An ISO week reads its running counts (one row: risk triggers ask after every run end); any other span
    counts in SQL, from the flags stored when each run ended (migration 0010 filled in older runs').
    """
    if period.is_week:
        return tx.period_counts(playbook, period.name)
    start, end = period.bounds
    return run_counts(tx, playbook, start, end)


def _latencies(tx: Tx, playbook: str, period: Period) -> list[float]:
    start, end = period.bounds
    return [hours_between(ready, ended_at) for ready, ended_at in decided(tx, playbook, start, end)]


def latency_side(tx: Tx, playbook: str, period: Period, threshold: float, p: float) -> int | None:
    """The sign of (the period's p-th decision latency percentile - threshold); None with no decisions.

    A week's running marks answer in one row when they count every decision of the week; otherwise (another
    span, or a trigger that arrived mid-week) the period's latencies are read and placed.
    """
    if period.is_week:
        marks = tx.complete_latency_marks(playbook, period.name, threshold)
        if marks is not None:
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
    for channel, ready, ended_at in decided_via(tx, playbook, start, end):
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
    found = stored_outcome(tx, playbook, period.name)
    return None if found is None else float(found)
