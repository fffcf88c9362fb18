"""Who may see which runs and tasks (SPEC §7): the REST API's per-object authorization.

An actor sees a run when it takes part in it or owns its playbook:

- it started the run, or is (or is acting for) the assignee of any of the run's tasks, or recorded a
  recommendation on it;
- it is the workflow owner or the outcome owner of the run's playbook version;
- it holds `recommend` or `inform` at a decision step of that version (a recommender must read the data
  under decision before recommending; an informed actor "may read the run").

A task of a run is seen with its run. A task without a run (a governance review or follow-up) is seen by
its assignee and by the owners of its playbook. A guest token sees its one task and nothing else.
Anything an actor may not see is answered exactly like something that does not exist.
"""

from __future__ import annotations

from typing import Any

from ledgerflow.domain.directory import Directory
from ledgerflow.domain.errors import NotFound
from ledgerflow.domain.playbook import DecisionStep, Playbook
from ledgerflow.domain.runs import RunState, TaskState
from ledgerflow.engine.tokens import ADMIN, Principal
from ledgerflow.storage.store import Tx
from ledgerflow.storage.visibility import Visibility, playbook_versions
from ledgerflow.storage.visibility import page_of_runs as visible_page


def owners(playbook: Playbook) -> frozenset[str]:
    """The workflow owner and the outcome owner."""
    return frozenset(who for who in (playbook.workflow_owner, playbook.outcome.owner) if who)


def readers(playbook: Playbook, directory: Directory | None) -> frozenset[str]:
    """Actors who may read every run of this playbook version: its owners and the holders of
    `recommend` or `inform` at any of its decision steps (resolved against the current directory)."""
    names: set[str] = set(owners(playbook))
    if directory is None:
        return frozenset(names)
    for step in playbook.walk():
        if isinstance(step, DecisionStep):
            for holder in (*step.rights.recommend, *step.rights.inform):
                names.update(directory.members(holder))
    return frozenset(names)


def takes_part(run: RunState, actor: str) -> bool:
    """Started it, holds (or is represented on, or was pulled in on) one of its tasks, or recommended on it."""
    return (actor == run.started_by
            or any(actor in (t.assignee, t.on_behalf_of) or actor in t.pulled_in for t in run.tasks)
            or any(rec.actor == actor for rec in run.recommendations))


def sees_run(tx: Tx, run: RunState, actor: str) -> bool:
    if takes_part(run, actor):
        return True
    playbook, _ = tx.playbook(run.playbook, run.version)
    return actor in readers(playbook, tx.directory())


def sees_standalone(tx: Tx, task: TaskState, actor: str) -> bool:
    """Reviews and follow-ups: their assignee and the owners of the newest playbook version."""
    if actor == task.assignee:
        return True
    playbook, _ = tx.playbook(task.playbook)
    return actor in owners(playbook)


def owns(tx: Tx, playbook_id: str, actor: str) -> bool:
    """Whether the actor is a workflow or outcome owner of the playbook's newest version.

    Raises:
        NotFound: no such playbook is published.
    """
    playbook, _ = tx.playbook(playbook_id)
    return actor in owners(playbook)


def _hidden_run(run_id: str) -> NotFound:
    return NotFound(f"unknown run {run_id!r}", rule="unknown-run")


def _hidden_task(task_id: str) -> NotFound:
    return NotFound(f"unknown task {task_id!r}", rule="unknown-task")


def visible_run(tx: Tx, run_id: str, principal: Principal) -> RunState:
    """The run, when the principal may see it; otherwise the same NotFound an unknown id gives."""
    if principal.is_guest:
        raise _hidden_run(run_id)
    run = tx.load_run(run_id)
    if principal.kind != ADMIN and not sees_run(tx, run, principal.actor):
        raise _hidden_run(run_id)
    return run


def visible_task(tx: Tx, task_id: str, principal: Principal) -> tuple[TaskState, RunState | None]:
    """The task and its run (None for reviews and follow-ups), when the principal may see it.

    Raises:
        NotFound: unknown, or hidden from the principal.
    """
    if principal.is_guest and principal.task != task_id:
        raise _hidden_task(task_id)
    run_id = tx.run_of_task(task_id)
    if run_id is None:
        task = tx.standalone(ids=[task_id])[task_id]
        if not principal.is_guest and principal.kind != ADMIN and not sees_standalone(tx, task, principal.actor):
            raise _hidden_task(task_id)
        return task, None
    run = tx.load_run(run_id)
    found = run.task(task_id)
    if found is None or not (principal.is_guest or principal.kind == ADMIN or sees_run(tx, run, principal.actor)):
        raise _hidden_task(task_id)
    return found, run


def visibility(tx: Tx, actor: str) -> Visibility:
    """The runs `actor` sees, as storage filters them (the rules above: see `storage.visibility`)."""
    directory = tx.directory()
    return Visibility(actor, tuple((pid, version) for pid, version in playbook_versions(tx)
                                   if actor in readers(tx.playbook(pid, version)[0], directory)))


def page_of_runs(tx: Tx, actor: str, *, playbook: str | None, status: str | None, after: str | None,
                 limit: int) -> tuple[list[Any], str | None]:
    """Runs the actor sees, oldest first, after the run id `after`; and the id to continue after (or None).

    Raises:
        NotFound: `after` names no run the actor sees.
    """
    return visible_page(tx, visibility(tx, actor), playbook=playbook, status=status, after=after, limit=limit)
