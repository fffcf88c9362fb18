"""`report friction` (issue #20): per step of a playbook over a period, how long work waited, how often it was
re-routed, nudged, sent back round a loop and handed between people. Read-only; the counting is in
`domain.friction`, the waits come from `report waits` so both reports say the same.
"""

from __future__ import annotations

from typing import Any

from ledgerflow.domain.figures import Period
from ledgerflow.domain.friction import (
    REROUTES,
    Holding,
    StepFriction,
    nudges_per_completion,
    passages,
    per_run,
    per_step,
)
from ledgerflow.reporting import reports
from ledgerflow.storage.reporting import friction_rows
from ledgerflow.storage.store import Store

_HOLDING_EVENTS = ("task.ready", "assignment.changed", "escalation.pulled_in")
_FINISHED = ("completed", "decided", "sent_back")


def friction(store: Store, playbook: str, period: Period) -> dict[str, Any]:
    """The friction view of a playbook (every version) over a period.

    Per step, the tasks counted are those of `report waits`: human and decision tasks that became ready in
    the period. The handoffs per run are over the runs that ended (completed or rejected) in the period, as
    the scorecard counts runs; each run's whole history counts, whenever it happened.

    Raises:
        NotFound: no playbook with that id is published.
    """
    start, end = period.bounds
    waits = reports.waits(store, playbook, period)  # raises NotFound first
    with store.read() as tx:
        tasks, ended_runs, rows = friction_rows(tx, playbook, start, end, types=reports.HUMAN_TYPES,
                                                events=_HOLDING_EVENTS)
    moves = passages(_holding(row) for row in rows)
    steps = per_step([s["step"] for s in waits["steps"]], moves, counted=frozenset(task.id for task in tasks),
                     completed=(task.step for task in tasks if task.status in _FINISHED),
                     loops=(task.step for task in tasks if task.attempt > 1))
    waited = {s["step"]: s for s in waits["steps"]}
    runs = per_run(ended_runs, moves)
    return {
        "playbook": playbook, "period": period.name,
        "steps": [_step(step, waited.get(step), figures) for step, figures in steps.items()],
        "runs": {"runs": runs.runs, "handoffs": runs.handoffs, "handoffs_per_run": runs.handoffs_per_run,
                 "handoffs_max": runs.handoffs_max, "ping_pong_runs": runs.ping_pong_runs},
    }


def _holding(row: Any) -> Holding:
    data = row.data or {}
    if row.type == "escalation.pulled_in":  # pulled in beside the assignee: an escalation, nobody new holds it
        return Holding(run=row.run, task=row.task, step=row.step, holder=None, reroute="escalation")
    if row.type == "task.ready":
        kind = (row.authority or {}).get("kind")
        return Holding(run=row.run, task=row.task, step=row.step, holder=data.get("assignee"),
                       reroute=kind if kind in REROUTES else None)
    kind = data.get("kind")
    return Holding(run=row.run, task=row.task, step=row.step, holder=data.get("to"),
                   reroute=kind if kind in REROUTES else None)


def _step(step: str, waits: dict[str, Any] | None, figures: StepFriction) -> dict[str, Any]:
    nudges = waits["nudges"] if waits else 0
    return {"step": step, "tasks": waits["tasks"] if waits else 0, "completions": figures.completions,
            "wait_median_hours": waits["wait_median_hours"] if waits else None,
            "wait_p90_hours": waits["wait_p90_hours"] if waits else None,
            "reroutes": figures.reroutes, "reassignments": figures.reassignments,
            "delegations": figures.delegations, "escalations": figures.escalations,
            "nudges": nudges, "nudges_per_completion": nudges_per_completion(nudges, figures.completions),
            "send_backs": waits["send_backs"] if waits else 0, "loops": figures.loops,
            "handoffs": figures.handoffs, "ping_pongs": figures.ping_pongs}
