"""Durable timers: which ones a ready task sets (nudges, SLA breach, escalation), and what firing one does.

Timers are rows written in the same transaction as the event that created them; firing one is a command
like any other. A timer whose task has moved on (closed, or reassigned since) does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ledgerflow.domain.events import Event, authority
from ledgerflow.domain.flow import Builder, Context
from ledgerflow.domain.playbook import DecisionStep
from ledgerflow.domain.rights import agent_may_approve, approves_under, delegate_exclusion, describe_authority
from ledgerflow.domain.routing import route
from ledgerflow.domain.runs import RunState
from ledgerflow.domain.states import RunStatus
from ledgerflow.domain.times import format_time, parse_time

NUDGE, SLA, ESCALATE = "nudge", "sla", "escalate"
AWAY = "away"
"""An away period begins: the person's open tasks move to their delegate at that instant (SPEC §2)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Timer:
    """A timer to store: when it is due, what it does, and for which task."""

    due_at: str
    kind: str
    run: str | None
    task: str | None
    data: dict[str, Any] = field(default_factory=dict)


def timers_for(events: list[Event], ctx: Context) -> list[Timer]:
    """The timers that the `task.ready` events of a command set, from their step's SLA."""
    out: list[Timer] = []
    for event in events:
        if event.type != "task.ready" or event.step is None:
            continue
        step = ctx.playbook.by_id.get(event.step)
        if not isinstance(step, DecisionStep) or step.sla is None:
            continue
        ready = parse_time(event.at)
        for index, offset in enumerate(step.sla.nudge):
            out.append(Timer(due_at=format_time(ready + offset), kind=NUDGE, run=event.run, task=event.task,
                             data={"index": index}))
        if step.sla.due is not None:
            out.append(Timer(due_at=format_time(ready + step.sla.due), kind=SLA, run=event.run, task=event.task))
        for index, escalation in enumerate(step.sla.escalate):
            out.append(Timer(due_at=format_time(ready + escalation.after), kind=ESCALATE, run=event.run,
                             task=event.task, data={"index": index, "to": escalation.to}))
    return out


def fire(ctx: Context, run: RunState, *, kind: str, task_id: str, data: dict[str, Any]) -> Builder:
    """Fire one timer on its run; returns the events it caused (none when the task moved on)."""
    b = Builder(ctx, run)
    task = run.task(task_id)
    if task is None or not task.is_open or run.status != RunStatus.RUNNING:
        return b
    step = ctx.playbook.by_id.get(task.step)
    if kind == NUDGE:
        b.emit("nudge.sent", task=task.id, step=task.step,
               data={"to": task.assignee, "index": data.get("index"), "due_at": task.sla_due_at})
    elif kind == SLA:
        b.emit("sla.breached", task=task.id, step=task.step,
               data={"assignee": task.assignee, "sla_due_at": task.sla_due_at})
    elif kind == ESCALATE and isinstance(step, DecisionStep):
        taken = {t.assignee for t in run.latest(step.id) if t.is_open and t.assignee}
        target = str(data["to"])
        may_approve = approves_under(ctx.directory, ctx.playbook, task.approver)

        def eligible(actor: str, on_behalf_of: str | None) -> bool:
            entry = ctx.directory.get(actor)
            return (entry is not None and not entry.is_agent and actor not in taken
                    and may_approve(on_behalf_of or actor)
                    and agent_may_approve(ctx.directory, step, None, actor)
                    and delegate_exclusion(run, ctx.playbook, step, actor, on_behalf_of) is None)

        pick = route(ctx.directory, target, ctx.now, workload=ctx.workload, pending={},
                     playbook=ctx.playbook.id, step=step.id, strategy="least-loaded", eligible=eligible)
        unauthorized = [m for m in ctx.directory.members(target) if ctx.directory.is_person(m) and not may_approve(m)]
        if pick is None and unauthorized:
            b.emit("escalation.pulled_in", task=task.id, step=task.step, auth=authority("escalation", target),
                   data={"to": unauthorized, "assignee": task.assignee, "reason":
                         f"escalation {data.get('index', 0) + 1} of step {step.id} names {target}, who may not "
                         f"approve it under {describe_authority(step, task.authority_row)}"})
        if pick is not None:
            b.emit("assignment.changed", task=task.id, step=task.step,
                   auth=authority("escalation", data["to"]),
                   data={"from": task.assignee, "to": pick.assignee, "kind": "escalation",
                         "on_behalf_of": pick.on_behalf_of, "reason": f"escalation {data.get('index', 0) + 1} "
                         f"of step {step.id}", "blocked": False})
    return b
