"""Keeping assignments valid when the directory or the calendar changes (SPEC §2).

After `directory load`, an open task whose assignee left, lost the role or became ineligible is re-routed;
when an away period starts, the person's open tasks move to their delegate. Both happen in the same
transaction as the change that caused them, as `assignment.changed` events of kind `directory` or
`delegation`.
"""

from __future__ import annotations

from ledgerflow.domain.events import authority
from ledgerflow.domain.flow import Builder, Context, _anyone, _Flow, expression_context
from ledgerflow.domain.playbook import ActionStep, DecisionStep, TaskStep
from ledgerflow.domain.rights import agent_may_approve, delegate_exclusion
from ledgerflow.domain.routing import Pick, route, stand_in
from ledgerflow.domain.runs import RunState, TaskState
from ledgerflow.domain.states import RunStatus


def reconcile(ctx: Context, run: RunState, *, autonomy_change: str | None = None) -> Builder:
    """Re-route every open task of `run` whose assignee can no longer hold it.

    `autonomy_change` (what the owners decided, in words) says the cause was a narrowed or withdrawn agent
    autonomy rather than a directory change: a decision the agent may no longer take moves on at once, by
    routing within its row or up the escalation map (SPEC §11, enforced from the next decision).
    """
    b = Builder(ctx, run)
    if run.status != RunStatus.RUNNING:
        return b
    for task in run.tasks:
        current = b.state.task(task.id)
        if current is None or not current.is_open or current.assignee is None or current.blocked:
            continue
        if autonomy_change is not None and current.type != "decision":
            continue
        _check(b, current, autonomy_change)
    return b


def _move(b: Builder, task: TaskState, pick: Pick, kind: str, reason: str) -> None:
    auth = authority("delegation", pick.on_behalf_of) if kind == "delegation" else authority("system", reason)
    b.emit("assignment.changed", task=task.id, step=task.step, auth=auth,
           data={"from": task.assignee, "to": pick.assignee, "kind": kind, "reason": reason,
                 "on_behalf_of": pick.on_behalf_of, "blocked": False})


def _check(b: Builder, task: TaskState, autonomy_change: str | None = None) -> None:
    ctx, directory, assignee = b.ctx, b.ctx.directory, str(task.assignee)
    step = ctx.playbook.by_id.get(task.step)
    holder = task.on_behalf_of or assignee
    if isinstance(step, DecisionStep):
        taken = {t.assignee for t in b.state.latest(step.id) if t.is_open and t.id != task.id}
        context = expression_context(b.state, ctx.playbook)

        def eligible(actor: str, on_behalf_of: str | None) -> bool:
            return (actor not in taken
                    and agent_may_approve(directory, step, task.authority_row, actor, ctx.autonomy, context)
                    and delegate_exclusion(b.state, ctx.playbook, step, actor, on_behalf_of) is None)

        holds = task.escalated or holder in directory.members(task.approver or "")
        still = directory.is_actor(assignee) and holds and eligible(assignee, task.on_behalf_of)
        owner = task.approver or ""
    elif isinstance(step, TaskStep | ActionStep):
        owner = step.owner or task.approver or ""
        eligible = _anyone
        gap_holder = assignee == ctx.playbook.workflow_owner and holder not in directory.members(owner)
        still = directory.is_actor(assignee) and (holder in directory.members(owner) or gap_holder)
    else:
        return
    if not still:
        pick = route(directory, owner, ctx.now, workload=ctx.workload, pending=b.pending, playbook=ctx.playbook.id,
                     step=task.step, strategy="least-loaded", eligible=eligible)
        kind = "routing" if autonomy_change else "directory"
        if pick is None and isinstance(step, DecisionStep):
            pick = _Flow(b).escalate_now(step, eligible, task.approver)
            kind = "escalation" if autonomy_change else kind
        if pick is not None and autonomy_change is not None:
            b.emit("assignment.changed", task=task.id, step=task.step,
                   auth=authority("escalation", pick.assignee) if kind == "escalation" else authority("system"),
                   data={"from": task.assignee, "to": pick.assignee, "kind": kind, "on_behalf_of": pick.on_behalf_of,
                         "reason": f"{assignee} may no longer decide it: {autonomy_change}", "blocked": False})
        elif pick is not None:
            _move(b, task, pick, "directory", f"{assignee} can no longer hold this task after a directory change")
        else:
            _gap(b, task, owner, blocked=isinstance(step, DecisionStep))
        return
    if autonomy_change is None and not directory.is_available(assignee, ctx.now):
        pick = stand_in(directory, assignee, ctx.now, eligible)
        if pick is not None and pick.assignee != assignee:
            _move(b, task, Pick(assignee=pick.assignee, on_behalf_of=assignee), "delegation",
                  f"{assignee} is away")


def _gap(b: Builder, task: TaskState, role: str, *, blocked: bool) -> None:
    owner = b.ctx.playbook.workflow_owner or "admin"
    b.emit("ownership.gap", step=task.step, data={"role": role, "resolved_to": owner, "blocked": blocked,
                                                  "attempt": task.attempt, "task": task.id})
    b.emit("assignment.changed", task=task.id, step=task.step, auth=authority("ownership_gap", role),
           data={"from": task.assignee, "to": owner, "kind": "directory", "reason": f"nobody in {role} can hold it",
                 "blocked": blocked})
