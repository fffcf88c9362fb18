"""Decision rights and separation of duties (SPEC §3.3): who may approve, who is excluded, and why."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ledgerflow.domain.autonomy import AS_WRITTEN, Autonomy, admits, row_matches
from ledgerflow.domain.directory import Directory
from ledgerflow.domain.expressions import ExpressionError
from ledgerflow.domain.playbook import DecisionStep, Playbook
from ledgerflow.domain.runs import RunState
from ledgerflow.domain.states import TaskStatus

_DONE = (TaskStatus.COMPLETED, TaskStatus.DECIDED, TaskStatus.SENT_BACK)


def approving_authority(step: DecisionStep, context: Mapping[str, Any], directory: Directory | None = None,
                        autonomy: Autonomy = AS_WRITTEN) -> tuple[str | None, int | None, str | None]:
    """The first matching authority row names the approvers, else `rights.approve`.

    A row naming an agent whose autonomy the owners changed matches as `autonomy.row_matches` says.

    Returns:
        (approver role or person, index of the matching row or None, error of a row that failed closed)
    """
    error = None
    changed = directory if directory is not None and autonomy.any_at(step.id) else None
    for index, row in enumerate(step.authority):
        if row.when is None:
            return row.approve, index, error
        try:
            if (row_matches(changed, autonomy, step, index, context) if changed is not None
                    else row.when.test(context)):
                return row.approve, index, error
        except ExpressionError as exc:
            error = f"authority row {index}: {exc.message}"
    return step.rights.approve, None, error


def approves_under(directory: Directory, playbook: Playbook, approver: str | None) -> Callable[[str], bool]:
    """Whether a person may be handed a decision by an escalation (SPEC §3.3): they may approve under the
    authority row matched when it became ready (its `approver`), or they are the outcome owner."""
    approvers = frozenset(directory.members(approver or ""))
    return lambda actor: actor in approvers or actor == playbook.outcome.owner


def describe_authority(step: DecisionStep, row_index: int | None) -> str:
    """An authority row as people read it: its condition, not its position."""
    if row_index is None:
        return f"rights.approve ({step.rights.approve})"
    row = step.authority[row_index]
    condition = f"when {row.when.source}" if row.when is not None else "otherwise"
    return f"the authority row {condition} ({row.approve})"


def exclusion(run: RunState, playbook: Playbook, step: DecisionStep, actor: str) -> str | None:
    """Why `actor` may not decide this decision, or None when they may."""
    if actor == run.started_by:
        return f"{actor} started run {run.id}"
    readable = {s.id for s in playbook.before(step)}
    for task in run.tasks:
        if actor not in (task.assignee, task.on_behalf_of) or task.ended_at is None:
            continue
        if task.step in step.separation_of_duties and task.status in _DONE and task.type in ("task", "decision"):
            return f"{actor} acted on step {task.step}, listed in separation_of_duties"
        if task.step in readable and task.status == TaskStatus.COMPLETED:
            return f"{actor} supplied data under decision (step {task.step})"
    for rec in run.recommendations:
        if rec.step == step.id and rec.actor == actor:
            return f"{actor} recorded a recommendation on this decision"
    return None


def delegate_exclusion(run: RunState, playbook: Playbook, step: DecisionStep, actor: str,
                       on_behalf_of: str | None) -> str | None:
    """A delegate is excluded if either they or the person they act for is."""
    reason = exclusion(run, playbook, step, actor)
    if reason is None and on_behalf_of is not None:
        reason = exclusion(run, playbook, step, on_behalf_of)
    return reason


def agent_may_approve(directory: Directory, step: DecisionStep, row_index: int | None, actor: str,
                      autonomy: Autonomy = AS_WRITTEN, context: Mapping[str, Any] | None = None) -> bool:
    """An agent decides only through a guarded authority row naming it or a role containing it, within the
    autonomy the owners left it (`domain.autonomy`); with `context` (the run's data), the agent, and each person
    of a row whose agent's autonomy changed, is held to its own test of the row (a widened agent widens nobody
    else)."""
    entry = directory.get(actor)
    changed = row_index is not None and context is not None and autonomy.any_at(step.id)
    if entry is None or not entry.is_agent:  # a person outside the row (an escalation target) is not held to it
        return (not changed or row_index is None or actor not in directory.members(step.authority[row_index].approve)
                or _admits(directory, autonomy, step, row_index, actor, context))
    if row_index is None:
        return False
    row = step.authority[row_index]
    if row.when is None or actor not in directory.members(row.approve):
        return False
    change = autonomy.of(step.id, actor)
    if change is not None and change.withdrawn:
        return False
    # with the run's data, the agent is held to its own test of the row: the autonomy in force, else the guard as
    # written (so that a restore after a widening takes back what the widening let it hold)
    return _admits(directory, autonomy, step, row_index, actor, context)


def _admits(directory: Directory, autonomy: Autonomy, step: DecisionStep, row_index: int | None, actor: str,
            context: Mapping[str, Any] | None) -> bool:
    if row_index is None or context is None:
        return True
    try:
        return admits(directory, autonomy, step, row_index, actor, context)
    except ExpressionError:
        return False  # fails closed, as a guard does
