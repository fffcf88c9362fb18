"""The reports' pure parts (SPEC §5, §6 `report ...`): which changes of hands lack authority, when a task
is overdue, and the per-step wait figures. No I/O; the use cases in `ledgerflow.reporting.reports` fetch the rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ledgerflow.domain.figures import percentile
from ledgerflow.domain.times import display_time, parse_time

EXPLICIT_AUTHORITY = frozenset({"role", "authority_row", "delegation", "escalation", "reassignment",
                                "ownership_gap", "owner", "system"})
"""Authority kinds under which a change of assignee counts as authorized; anything else (`admin`, a missing
kind) is flagged in `report ownership`."""

HANDOVER_AT_READY = frozenset({"escalation", "delegation"})
"""A task that becomes ready under one of these authority kinds changed hands from its role at once."""


def change_flagged(*, kind: str | None, authority_kind: str | None, actor: str, reason: str | None,
                   owners: Iterable[str | None]) -> bool:
    """Whether a change of assignee was made without explicit authority.

    Args:
        kind: the change's kind (routing, delegation, escalation, reassignment, directory).
        authority_kind: the `authority.kind` of the event that made the change.
        actor: who made the change.
        reason: the reason given, if any.
        owners: the playbook version's workflow owner and outcome owner.

    Returns:
        True for a reassignment by anyone but an owner or without a reason, and for any change under an
        authority kind outside `EXPLICIT_AUTHORITY`.
    """
    if authority_kind not in EXPLICIT_AUTHORITY:
        return True
    if kind == "reassignment":
        return actor not in {o for o in owners if o} or not (reason or "").strip()
    return False


def deadline(due_at: str | None, sla_due_at: str | None) -> str | None:
    """The earlier of a task's clarity due time and its SLA due time, whichever are set."""
    present = [moment for moment in (due_at, sla_due_at) if moment is not None]
    return min(present, key=parse_time) if present else None


def overdue_hours(due: str | None, now: datetime) -> float:
    """Hours past `due` at `now`; 0.0 when not due yet or never due."""
    if due is None:
        return 0.0
    return max(0.0, (now - parse_time(due)).total_seconds() / 3600)


@dataclass(frozen=True, slots=True, kw_only=True)
class WaitSample:
    """One human or decision task that became ready in the period, as `report waits` sees it."""

    step: str
    assignee: str | None
    wait_hours: float | None
    """ready_at to its first start, completion or decision; None while nobody has acted on it."""
    in_progress_hours: float | None
    """started_at to ended_at, for a task started and then finished by its assignee; else None."""
    nudges: int = 0
    reassignments: int = 0
    sent_back: int = 0
    """How many send-backs returned this task's work for rework (at most 1)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WaitFigures:
    """`report waits` figures for one step, or one assignee at one step."""

    tasks: int
    waiting: int
    wait_median_hours: float | None
    wait_p90_hours: float | None
    in_progress_median_hours: float | None
    nudges: int
    reassignments: int
    send_backs: int


def summarize(samples: Sequence[WaitSample]) -> WaitFigures:
    """Counts, median and p90 waits, and median time in progress over a group of tasks."""
    waits = [s.wait_hours for s in samples if s.wait_hours is not None]
    working = [s.in_progress_hours for s in samples if s.in_progress_hours is not None]
    return WaitFigures(
        tasks=len(samples),
        waiting=len(samples) - len(waits),
        wait_median_hours=percentile(waits, 50),
        wait_p90_hours=percentile(waits, 90),
        in_progress_median_hours=percentile(working, 50),
        nudges=sum(s.nudges for s in samples),
        reassignments=sum(s.reassignments for s in samples),
        send_backs=sum(s.sent_back for s in samples),
    )


def by_step(steps: Sequence[str], samples: Iterable[WaitSample]
            ) -> list[tuple[str, WaitFigures, list[tuple[str | None, WaitFigures]]]]:
    """Figures per step, in the order given (steps only seen in samples follow, in order of appearance),
    each with its figures per assignee, ordered by assignee id."""
    grouped: dict[str, list[WaitSample]] = {step: [] for step in steps}
    for sample in samples:
        grouped.setdefault(sample.step, []).append(sample)
    result = []
    for step, rows in grouped.items():
        people: dict[str | None, list[WaitSample]] = {}
        for row in rows:
            people.setdefault(row.assignee, []).append(row)
        per_assignee = [(who, summarize(group)) for who, group in sorted(people.items(), key=lambda i: i[0] or "")]
        result.append((step, summarize(rows), per_assignee))
    return result


def waiting_entry(*, run: str, playbook: str, summary: str | None, step: str, task: str, assignee: str | None,
                  ready_at: str, due_at: str | None, sla_due_at: str | None, blocked: bool,
                  now: datetime) -> dict[str, Any]:
    """One row of `report waiting` (SPEC §12): an open task of an open run, whom it waits on and since when.

    The wait runs from `ready_at`, which a reassignment, delegation or escalation keeps (SPEC §5): the work
    has waited that long, whoever holds it now.
    """
    due = deadline(due_at, sla_due_at)
    return {"run": run, "playbook": playbook, "summary": summary, "step": step, "task": task,
            "waiting_on": assignee, "since": display_time(ready_at),
            "waiting_hours": max(0.0, (now - parse_time(ready_at)).total_seconds() / 3600),
            "overdue": overdue_hours(due, now) > 0, "blocked": blocked, "due_at": display_time(due)}


def longest_wait_first(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """`report waiting` order: longest wait first, then by run and task id so equal waits print stably."""
    return sorted(entries, key=lambda e: (-e["waiting_hours"], e["run"], e["task"]))
