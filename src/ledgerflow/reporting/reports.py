"""The `report` use cases (SPEC §5, §6, §11): ownership, stalled, waits, clarity and agents. Read-only: each runs a few
indexed Core queries in one read transaction and leaves the arithmetic to `domain.reports`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ledgerflow.domain.agent_scores import SCORED_EVENTS, agent_scores
from ledgerflow.domain.autonomy import current as current_autonomy
from ledgerflow.domain.escalation_map import build_map
from ledgerflow.domain.figures import Period, hours_between
from ledgerflow.domain.lint import lint_source
from ledgerflow.domain.reports import (
    HANDOVER_AT_READY,
    WaitFigures,
    WaitSample,
    by_step,
    change_flagged,
    deadline,
    longest_wait_first,
    overdue_hours,
    waiting_entry,
)
from ledgerflow.domain.times import display_time
from ledgerflow.engine import access
from ledgerflow.reporting.summaries import of_runs as run_summaries
from ledgerflow.storage import reporting
from ledgerflow.storage.store import Store, Tx

HUMAN_TYPES = ("task", "decision")
"""Task types that wait on a person (or an agent) and so have waits worth reporting."""

_FIRST_ACTION = ("task.started", "task.completed", "task.decided")
_WORKED = ("completed", "decided", "sent_back")


# ----------------------------------------------------------------------------------------- ownership


def ownership(store: Store, playbook: str, period: Period) -> dict[str, Any]:
    """Every change of hands and every ownership gap on the playbook's runs in the period.

    Changes are the `assignment.changed` events, plus tasks that became ready under escalation or
    delegation (the work left its role at once). A change is `flagged` when it lacks explicit authority
    (see `domain.reports.change_flagged`). A gap's `task` is the task opened for it.

    Raises:
        NotFound: no playbook with that id is published.
    """
    start, end = period.bounds
    with store.read() as tx:
        tx.playbook(playbook)
        rows = reporting.ownership_events(tx, playbook, start, end)
        owners = {version: _owners(tx, playbook, version) for version in {row.version for row in rows}}
    changes: list[dict[str, Any]] = []
    gaps: list[dict[str, Any]] = []
    unresolved: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        auth = row.authority or {}
        data = row.data or {}
        if row.type == "ownership.gap":
            gap = {"task": data.get("task"), "run": row.run, "step": row.step, "at": display_time(row.at),
                   "role": data.get("role"), "resolved_to": data.get("resolved_to"),
                   "blocked": bool(data.get("blocked", False))}
            gaps.append(gap)
            if gap["task"] is None:
                unresolved[(row.run, row.step)].append(gap)
            continue
        if row.type == "task.ready":
            # a gap met while opening a task names no task: the engine opens it next, in the same command;
            # a gap met by re-routing an open task (directory change) names the task in its data
            waiting = unresolved.get((row.run, row.step))
            if waiting:
                waiting.pop(0)["task"] = row.task
            if auth.get("kind") not in HANDOVER_AT_READY:
                continue
            kind = str(auth["kind"])
            origin, reason = _handover(kind, auth, data)
            changes.append(_change(row, origin, data.get("assignee"), kind, reason, False))
            continue
        moved = data.get("kind")
        flagged = change_flagged(kind=moved, authority_kind=auth.get("kind"), actor=row.actor,
                                 reason=data.get("reason"), owners=owners[row.version])
        changes.append(_change(row, data.get("from"), data.get("to"), moved, data.get("reason"), flagged))
    return {"changes": changes, "gaps": gaps}


def _owners(tx: Tx, playbook: str, version: int) -> tuple[str | None, str | None]:
    definition, _ = tx.playbook(playbook, version)
    return definition.workflow_owner, definition.outcome.owner


def _handover(kind: str, auth: dict[str, Any], data: dict[str, Any]) -> tuple[str | None, str]:
    """Who the work left and why, for a task that became ready under escalation or delegation."""
    if kind == "escalation":
        role = data.get("approver")
        return role, f"no available, eligible approver in {role}"
    away = data.get("on_behalf_of") or auth.get("detail")
    return away, f"{away} is away; the delegate acts on their behalf"


def _change(row: Any, origin: str | None, to: str | None, kind: str | None, reason: str | None,
            flagged: bool) -> dict[str, Any]:
    return {"task": row.task, "run": row.run, "step": row.step, "at": display_time(row.at), "from": origin,
            "to": to, "kind": kind, "authority": row.authority, "reason": reason, "flagged": flagged,
            "actor": row.actor}


# ------------------------------------------------------------------------------------------- stalled


def stalled(store: Store, *, plain: bool = False) -> list[dict[str, Any]]:
    """Open tasks past their due time (the earlier of `due_at` and `sla_due_at`), and every open task
    blocked as an ownership gap; most overdue first. `plain`: summaries as in `summaries.of_runs`."""
    with store.read() as tx:
        now = tx.now()
        rows = reporting.open_tasks(tx)
        late_rows = [row for row in rows if row.blocked or overdue_hours(deadline(row.due_at, row.sla_due_at), now)]
        about = run_summaries(tx, (row.run for row in late_rows), plain=plain)
    found = []
    for row in late_rows:
        due = deadline(row.due_at, row.sla_due_at)
        late = overdue_hours(due, now)
        found.append({"task": row.id, "run": row.run, "playbook": row.playbook,
                      "summary": about.get(row.run or ""), "step": row.step, "assignee": row.assignee,
                      "due_at": display_time(due), "overdue_hours": late,
                      "blocked": bool(row.blocked), "type": row.type, "status": row.status})
    found.sort(key=lambda item: -item["overdue_hours"])  # stable: ties keep ready_at order
    return found


# --------------------------------------------------------------------------------------- the map


def playbook_map(store: Store, playbook: str, version: int | None = None) -> dict[str, Any]:
    """`playbook map` (SPEC §12): the escalation map of a published version (the newest unless named),
    read against the loaded directory.

    Raises:
        NotFound: no such playbook or version.
    """
    with store.read() as tx:
        definition, number = tx.playbook(playbook, version)
        directory = tx.directory()
        autonomy = current_autonomy(definition, directory, tx.autonomy(playbook)) if directory is not None else []
    return build_map(definition, number, directory, autonomy)


# ------------------------------------------------------------------------------------------- waiting


def waiting(store: Store, *, playbook: str | None = None, visible_to: str | None = None) -> list[dict[str, Any]]:
    """`report waiting` (SPEC §12): every open task of every open run, whom it waits on, since when, overdue
    or blocked, longest wait first; of one playbook when named, of the runs `visible_to` sees when named.

    Raises:
        NotFound: `playbook` names no published playbook.
    """
    with store.read() as tx:
        if playbook is not None:
            tx.playbook(playbook)
        now = tx.now()
        seen = access.visibility(tx, visible_to) if visible_to is not None else None
        rows = reporting.waiting_tasks(tx, playbook=playbook, seen=seen)
        about = run_summaries(tx, (row.run for row in rows))
    return longest_wait_first(
        waiting_entry(run=row.run, playbook=row.playbook, summary=about.get(row.run), step=row.step, task=row.id,
                      assignee=row.assignee, ready_at=row.ready_at, due_at=row.due_at, sla_due_at=row.sla_due_at,
                      blocked=bool(row.blocked), now=now)
        for row in rows)


# --------------------------------------------------------------------------------------------- waits


def waits(store: Store, playbook: str, period: Period) -> dict[str, Any]:
    """Per step and per assignee: how long human and decision tasks waited and were worked on.

    The tasks counted are those of the playbook (every version) that became ready in the period; every
    figure is about that cohort, whenever its events happened. A task is counted under its final assignee
    (the one who acted on it).

    Raises:
        NotFound: no playbook with that id is published.
    """
    start, end = period.bounds
    with store.read() as tx:
        definition, _ = tx.playbook(playbook)
        tasks, events, send_backs = reporting.wait_rows(
            tx, playbook, start, end, types=HUMAN_TYPES, events=[*_FIRST_ACTION, "nudge.sent", "assignment.changed"])
    first: dict[str, str] = {}
    nudges: dict[str, int] = defaultdict(int)
    moves: dict[str, int] = defaultdict(int)
    for event in events:
        if event.type in _FIRST_ACTION:
            first.setdefault(event.task, event.at)
        elif event.type == "nudge.sent":
            nudges[event.task] += 1
        elif (event.data or {}).get("kind") == "reassignment":
            moves[event.task] += 1
    step_of = {task.id: task.step for task in tasks}
    reworked: set[str] = set()
    for back in send_backs:
        data = back.data or {}
        reworked.update(tid for tid in data.get("superseded", []) if step_of.get(tid) == data.get("to"))
    samples = [
        WaitSample(
            step=task.step, assignee=task.assignee,
            wait_hours=hours_between(task.ready_at, first[task.id]) if task.id in first else None,
            in_progress_hours=(hours_between(task.started_at, task.ended_at)
                               if task.started_at and task.ended_at and task.status in _WORKED else None),
            nudges=nudges[task.id], reassignments=moves[task.id], sent_back=int(task.id in reworked))
        for task in tasks]
    steps = [step.id for step in definition.walk() if step.type in HUMAN_TYPES]
    return {
        "playbook": playbook,
        "period": period.name,
        "steps": [{"step": step, **_figures(figures),
                   "assignees": [{"assignee": who, **_figures(mine)} for who, mine in people]}
                  for step, figures, people in by_step(steps, samples)],
    }


def _figures(figures: WaitFigures) -> dict[str, Any]:
    return {"tasks": figures.tasks, "wait_median_hours": figures.wait_median_hours,
            "wait_p90_hours": figures.wait_p90_hours, "in_progress_median_hours": figures.in_progress_median_hours,
            "nudges": figures.nudges, "reassignments": figures.reassignments, "send_backs": figures.send_backs,
            "waiting": figures.waiting}


# ------------------------------------------------------------------------------------------- clarity


def clarity(store: Store) -> dict[str, Any]:
    """Lint findings of the newest version of every published playbook, against the loaded directory,
    and the open ownership gaps (tasks blocked with the workflow owner)."""
    with store.read() as tx:
        directory = tx.directory()
        published = reporting.newest_sources(tx)
        blocked = reporting.blocked_tasks(tx)
    findings = [{**finding.to_dict(), "version": row.version}
                for row in published for finding in lint_source(row.source, row.file, directory)]
    gaps = [{"task": row.id, "run": row.run, "playbook": row.playbook, "step": row.step, "assignee": row.assignee,
             "ready_at": display_time(row.ready_at)} for row in blocked]
    return {"findings": findings, "gaps": gaps}


# -------------------------------------------------------------------------------------------- agents


def agents(store: Store, *, playbook: str | None = None) -> list[dict[str, Any]]:
    """`report agents` (SPEC §11): per agent and decision step, how its recommendations and decisions held up
    against the people's final outcomes (the arithmetic is `domain.agent_scores`), and the autonomy it has
    there now (`autonomy`: null when it holds no guarded authority row at the step)."""
    with store.read() as tx:
        return agent_rows(tx, playbook)


def agent_rows(tx: Tx, playbook: str | None = None) -> list[dict[str, Any]]:
    """`agents` inside the caller's transaction (an autonomy decision records the rows it was taken on)."""
    directory = tx.directory()
    agent_ids = frozenset(a.id for a in directory.actors if a.is_agent) if directory is not None else frozenset()
    playbook_of = reporting.run_playbooks(tx, playbook)
    events = reporting.run_events_of_types(tx, SCORED_EVENTS, playbook)
    rows = {(row["agent"], row["playbook"], row["step"]): {**row, "autonomy": None}
            for row in agent_scores(events, playbook_of, agent_ids)}
    if directory is not None:
        ids = [row.id for row in tx.list_playbooks() if playbook is None or row.id == playbook]
        held = tx.autonomy(playbook)
        for playbook_id in ids:
            definition, _ = tx.playbook(playbook_id)
            for now in current_autonomy(definition, directory, held):
                key = (now["agent"], playbook_id, now["step"])
                if key not in rows:  # an agent that holds a row but has not acted yet
                    rows[key] = {"agent": key[0], "playbook": playbook_id, "step": key[2], "recommendations": 0,
                                 "agreed": 0, "overridden": 0, "agreement_rate": None, "decisions": 0,
                                 "decisions_reversed": 0}
                rows[key]["autonomy"] = {**{k: v for k, v in now.items() if k not in ("agent", "playbook", "step")},
                                         "decided_at": display_time(now["decided_at"])}
    return [rows[key] for key in sorted(rows)]
