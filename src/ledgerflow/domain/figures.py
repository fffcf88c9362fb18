"""Governance figures (SPEC §5): periods, percentiles and the scorecard, over plain rows. No I/O."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from ledgerflow.domain.errors import InvalidInput
from ledgerflow.domain.runs import TaskState
from ledgerflow.domain.times import format_time, parse_time

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_STORED = len("2026-03-02T08:00:00.000000Z")
EXCEPTION_EVENTS = frozenset({"check.failed", "sla.breached", "ownership.gap", "action.failed", "run.rejected"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Period:
    """A half-open interval [start, end) of UTC time, named like `2026-W10` or by its bounds."""

    name: str
    start: datetime
    end: datetime

    @property
    def bounds(self) -> tuple[str, str]:
        return format_time(self.start), format_time(self.end)

    @property
    def is_week(self) -> bool:
        return _WEEK.match(self.name) is not None

    def previous(self) -> Period:
        span = self.end - self.start
        if self.is_week:
            return week_of(self.start - timedelta(days=7))
        return Period(name=f"{format_time(self.start - span)}/{format_time(self.start)}", start=self.start - span,
                      end=self.start)


def week_of(moment: datetime) -> Period:
    """The ISO week holding `moment`."""
    year, week, _ = moment.isocalendar()
    return parse_period(f"{year}-W{week:02d}")


def parse_period(text: str) -> Period:
    """`YYYY-Www`: Monday 00:00Z to the next Monday 00:00Z.

    Raises:
        InvalidInput: not an ISO week.
    """
    match = _WEEK.match(text.strip())
    if match is None:
        raise InvalidInput(f"--period {text!r} is not an ISO week like 2026-W10", rule="bad-period")
    try:
        monday = date.fromisocalendar(int(match.group(1)), int(match.group(2)), 1)
    except ValueError:
        raise InvalidInput(f"--period {text!r} is not an ISO week like 2026-W10", rule="bad-period") from None
    start = datetime.combine(monday, time(0), tzinfo=UTC)
    return Period(name=text.strip(), start=start, end=start + timedelta(days=7))


def span(since: str, until: str) -> Period:
    """A period from --since/--until (a date or an RFC 3339 time)."""
    try:
        start, end = parse_time(since), parse_time(until)
    except ValueError as exc:
        raise InvalidInput(str(exc), rule="bad-period") from None
    if end <= start:
        raise InvalidInput("--until must be after --since", rule="bad-period")
    return Period(name=f"{format_time(start)}/{format_time(end)}", start=start, end=end)


def percentile(values: Sequence[float], p: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def hours_between(start: str, end: str) -> float:
    if len(start) == len(end) == _STORED and start[-1] == end[-1] == "Z":  # the stored form; scorecards read many
        return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() / 3600
    return (parse_time(end) - parse_time(start)).total_seconds() / 3600


def share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


FLAG_EVENTS = (*EXCEPTION_EVENTS, "task.sent_back", "assignment.changed", "task.ready")
"""The event types `run_flags` reads."""


FlagEvent = tuple[str, Mapping[str, Any] | None, Mapping[str, Any] | None]


def run_flags(events: Iterable[FlagEvent]) -> tuple[bool, bool, bool]:
    """(exception, reworked, failed_check) of one run from its events' (type, authority, data).

    An exception is a rejection, a failed check, an escalation, an SLA breach, a reassignment by
    `task reassign`, an ownership gap or a failed action; delegation and routing are not (SPEC §5).
    """
    exception = reworked = failed_check = False
    for kind, auth, data in events:
        if kind == "assignment.changed":
            exception |= (data or {}).get("kind") in ("reassignment", "escalation")
        elif kind == "task.ready":
            exception |= (auth or {}).get("kind") == "escalation"
        else:
            reworked |= kind == "task.sent_back"
            failed_check |= kind == "check.failed"
            exception |= kind in EXCEPTION_EVENTS
    return exception, reworked, failed_check


LATENCY_PERCENTILES = {"decision_latency_median_hours": 50.0, "decision_latency_p90_hours": 90.0}
"""The risk-trigger metrics that are percentiles of decision latency, and which percentile each is."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Marks:
    """Where a period's decision latencies fall around one threshold: enough to place any percentile.

    Risk triggers ask after every run end whether a latency percentile is beyond a threshold; these
    counts are kept running, so the answer costs one row instead of sorting the period's latencies.
    """

    decided: int
    below: int  # latencies < threshold
    above: int  # latencies > threshold
    max_below: float | None
    min_above: float | None

    @classmethod
    def of(cls, values: Sequence[float], threshold: float) -> Marks:
        below = [v for v in values if v < threshold]
        above = [v for v in values if v > threshold]
        return cls(decided=len(values), below=len(below), above=len(above), max_below=max(below, default=None),
                   min_above=min(above, default=None))

    def merged(self, other: Marks) -> Marks:
        """The marks of both sets of latencies (around the same threshold)."""
        below = [v for v in (self.max_below, other.max_below) if v is not None]
        above = [v for v in (self.min_above, other.min_above) if v is not None]
        return Marks(decided=self.decided + other.decided, below=self.below + other.below,
                     above=self.above + other.above, max_below=max(below, default=None),
                     min_above=min(above, default=None))


def percentile_side(marks: Marks, threshold: float, p: float) -> int | None:
    """The sign of (the p-th percentile - threshold), exactly as `percentile` over the values gives it.

    Sorted, the values are `below` ones under the threshold, then ones equal to it, then `above` ones; the
    value at a rank is known exactly at the edges of those runs and by its side elsewhere, and linear
    interpolation between neighbours only needs exact values where they straddle the threshold.
    """
    n = marks.decided
    if n == 0:
        return None
    rank = (n - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)

    def at(index: int) -> tuple[int, float | None]:  # (side of the threshold, exact value if known)
        if index < marks.below:
            return -1, marks.max_below if index == marks.below - 1 else None
        if index >= n - marks.above:
            return 1, marks.min_above if index == n - marks.above else None
        return 0, threshold

    (low_side, low_value), (high_side, high_value) = at(low), at(high)
    if low_side == high_side:
        return low_side
    assert low_value is not None and high_value is not None  # neighbours on two sides sit at the edges
    value = low_value + (high_value - low_value) * (rank - low)
    return (value > threshold) - (value < threshold)


def ended_counts(completed: bool, flags: tuple[bool, bool, bool]) -> dict[str, int]:
    """What a run that ends adds to its week's counts (`schema.period_counts`), from its flags."""
    exception, reworked, failed_check = flags
    return {"ended": 1, "exceptions": int(exception), "clean": int(completed and not reworked and not failed_check)}


def decisions(tasks: Iterable[TaskState]) -> Iterator[tuple[str, float]]:
    """(decided at, hours from ready) of each decided decision task: what decision latency counts (every
    quorum seat; a reassignment, delegation or escalation keeps the task and its ready_at)."""
    for task in tasks:
        if task.type == "decision" and task.outcome is not None and task.ended_at is not None:
            yield task.ended_at, hours_between(task.ready_at, task.ended_at)
