"""Friction per step (issue #20): where work gets re-routed, needs nudging, loops back and changes hands.

The first seed's advice for a fragile operation is to map where work waits, gets re-routed or depends on
follow-ups; `report waits` has the waits, this module the rest. Pure: `ledgerflow.reporting.friction` reads the rows.

A *holding* is a moment a person (or agent) became the one the run's work waits on: a human task became
ready with an assignee, or an open one changed hands. A *handoff* is a holding by someone other than the
run's previous holder; a *ping-pong* is a handoff back to someone who already held that run's work (the
request went back and forth). Re-routes are the changes of hands that were not the plan: reassignments by
an owner, delegations to a stand-in, and escalations (including people pulled in beside the assignee).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

REROUTES = ("reassignment", "delegation", "escalation")
"""The kinds of re-route the friction view counts, in the order it prints them."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Holding:
    """One moment a run's work came to rest with someone, in the order of the log."""

    run: str
    task: str
    step: str
    holder: str | None
    """The assignee from then on; None for a task nobody could hold (an ownership gap blocked it)."""
    reroute: str | None = None
    """`reassignment`, `delegation` or `escalation` when the work was re-routed to `holder`; else None."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Passage:
    """What one holding was: a handoff or not, a ping-pong or not."""

    holding: Holding
    handoff: bool
    ping_pong: bool


def passages(holdings: Iterable[Holding]) -> list[Passage]:
    """Each holding with whether it handed the run's work to someone else, and whether back to someone who had
    held it before. Holdings must come in log order; runs may interleave."""
    previous: dict[str, str] = {}
    seen: dict[str, set[str]] = {}
    out = []
    for holding in holdings:
        if holding.holder is None:
            out.append(Passage(holding=holding, handoff=False, ping_pong=False))
            continue
        before = previous.get(holding.run)
        had = seen.setdefault(holding.run, set())
        handoff = before is not None and before != holding.holder
        out.append(Passage(holding=holding, handoff=handoff, ping_pong=handoff and holding.holder in had))
        previous[holding.run] = holding.holder
        had.add(holding.holder)
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class StepFriction:
    """The friction figures of one step over the tasks counted."""

    reassignments: int = 0
    delegations: int = 0
    escalations: int = 0
    handoffs: int = 0
    ping_pongs: int = 0
    completions: int = 0
    loops: int = 0
    """Tasks that redo the step after a send-back (attempt 2 or later)."""

    @property
    def reroutes(self) -> int:
        return self.reassignments + self.delegations + self.escalations


def per_step(steps: Sequence[str], passages_: Iterable[Passage], *, counted: frozenset[str],
             completed: Iterable[str], loops: Iterable[str]) -> dict[str, StepFriction]:
    """Friction per step, over the tasks in `counted` (the period's cohort).

    Args:
        steps: the step ids to report, in order; a step seen only in the data is added after them.
        passages_: the holdings of the runs those tasks belong to, from `passages`.
        counted: the ids of the tasks the period counts.
        completed: the step of each counted task its holder finished (completed or decided).
        loops: the step of each counted task that redoes its step after a send-back.
    """
    found: dict[str, dict[str, int]] = {step: {} for step in steps}

    def add(step: str, key: str) -> None:
        figures = found.setdefault(step, {})
        figures[key] = figures.get(key, 0) + 1

    for passage in passages_:
        holding = passage.holding
        if holding.task not in counted:
            continue
        if holding.reroute in REROUTES:
            add(holding.step, holding.reroute + "s")
        if passage.handoff:
            add(holding.step, "handoffs")
        if passage.ping_pong:
            add(holding.step, "ping_pongs")
    for step in completed:
        add(step, "completions")
    for step in loops:
        add(step, "loops")
    return {step: StepFriction(**figures) for step, figures in found.items()}


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFriction:
    """Handoffs over the runs that ended in the period."""

    runs: int
    handoffs: int
    handoffs_per_run: float | None
    handoffs_max: int
    ping_pong_runs: int
    """Runs whose work went back to someone who had already held it at least once."""


def per_run(ended: Iterable[str], passages_: Iterable[Passage]) -> RunFriction:
    """Handoff figures over the runs in `ended`, from the passages of (at least) those runs."""
    runs = set(ended)
    handoffs = dict.fromkeys(runs, 0)
    bounced: set[str] = set()
    for passage in passages_:
        run = passage.holding.run
        if run not in runs:
            continue
        handoffs[run] += passage.handoff
        if passage.ping_pong:
            bounced.add(run)
    total = sum(handoffs.values())
    return RunFriction(runs=len(runs), handoffs=total, handoffs_per_run=total / len(runs) if runs else None,
                       handoffs_max=max(handoffs.values(), default=0), ping_pong_runs=len(bounced))


def nudges_per_completion(nudges: int, completions: int) -> float | None:
    """Nudges sent per task finished; None when nothing was finished (no denominator, SPEC §5)."""
    return nudges / completions if completions else None
