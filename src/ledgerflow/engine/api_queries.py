"""Read use cases of the REST API: what a principal may see, assembled in one read transaction each.

Every function applies the rules of `access` first, so an object the principal may not see is answered
as unknown. Results are domain objects and plain JSON-ready values; the API converts them at its edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ledgerflow.domain.attachments import shown
from ledgerflow.domain.durations import format_duration
from ledgerflow.domain.errors import Forbidden, InvalidInput
from ledgerflow.domain.figures import Period, week_of
from ledgerflow.domain.findings import Finding
from ledgerflow.domain.flow import data_under_decision
from ledgerflow.domain.lint import lint_source
from ledgerflow.domain.playbook import ActionStep, DecisionStep, Playbook, Step, TaskStep
from ledgerflow.domain.rights import delegate_exclusion
from ledgerflow.domain.runs import Recommendation, RunState, TaskState
from ledgerflow.domain.states import RunStatus, TaskStatus
from ledgerflow.domain.summary import render_summary
from ledgerflow.domain.times import display_time, format_time, parse_time
from ledgerflow.engine import access
from ledgerflow.engine.tokens import GUEST_TYPES, Principal
from ledgerflow.reporting import reports
from ledgerflow.reporting import scorecard as scorecards
from ledgerflow.reporting.friction import friction as friction_report
from ledgerflow.reporting.review import period_of_review, review_pack
from ledgerflow.reporting.summaries import of_runs as run_summaries
from ledgerflow.storage import reporting
from ledgerflow.storage.store import Store, Tx
from ledgerflow.storage.visibility import visible_among

# ---------------------------------------------------------------------------------------- playbooks


def playbooks(store: Store) -> list[dict[str, Any]]:
    """Every published playbook's newest version, with its owners and governance state."""
    with store.read() as tx:
        rows = []
        for row in tx.list_playbooks():
            playbook, _ = tx.playbook(row.id, row.version)
            state = tx.governance(row.id)
            rows.append({"playbook": row.id, "version": row.version, "versions": row.versions,
                         "title": playbook.title, "workflow_owner": playbook.workflow_owner,
                         "outcome_owner": playbook.outcome.owner,
                         "governance": state.state if state is not None else "continue"})
    return rows


def playbook(store: Store, playbook_id: str, version: int | None) -> dict[str, Any]:
    """One published version: its definition as stored and its YAML source."""
    with store.read() as tx:
        definition, number = tx.playbook(playbook_id, version)
        row = next(r for r in tx.playbook_versions(playbook_id) if r.version == number)
        state = tx.governance(playbook_id)
    return {"playbook": definition.id, "version": number, "title": definition.title,
            "content_hash": row.content_hash, "published_at": display_time(row.published_at),
            "published_by": row.published_by, "governance": state.state if state is not None else "continue",
            "definition": definition.data, "source": row.source}


def directory(store: Store) -> dict[str, Any]:
    """Who is who, without contact details: each person and agent with their roles and standing delegate."""
    with store.read() as tx:
        loaded = tx.directory()
    actors = loaded.actors if loaded is not None else ()
    return {"actors": [{"id": a.id, "kind": a.kind, "name": a.name, "roles": list(a.roles), "delegate": a.delegate}
                       for a in actors]}


def lint(store: Store, text: str, file: str) -> list[Finding]:
    """Lint a playbook text against the loaded directory."""
    with store.read() as tx:
        directory = tx.directory()
    return lint_source(text, file, directory)


# --------------------------------------------------------------------------------------------- runs


def runs(store: Store, principal: Principal, *, playbook: str | None, status: str | None, after: str | None,
         limit: int) -> tuple[list[Any], str | None]:
    """A page of the runs the principal sees, oldest first, and the cursor of the next page."""
    with store.read() as tx:
        if principal.is_guest:
            return [], None
        return access.page_of_runs(tx, principal.actor, playbook=playbook, status=status, after=after, limit=limit)


def run(store: Store, principal: Principal, run_id: str) -> tuple[RunState, list[dict[str, Any]]]:
    """A run the principal sees, with its whole timeline."""
    with store.read() as tx:
        found = access.visible_run(tx, run_id, principal)
        return found, tx.events(run=run_id)


def run_events(store: Store, principal: Principal, run_id: str, *, after: int = 0,
               limit: int | None = None) -> tuple[list[dict[str, Any]], bool]:
    """The run's events after `after` (a seq), at most `limit`; and whether the run has ended."""
    with store.read() as tx:
        found = access.visible_run(tx, run_id, principal)
        return tx.events(run=run_id, after_seq=after, limit=limit), found.status != RunStatus.RUNNING


# -------------------------------------------------------------------------------------------- tasks


def inbox(store: Store, principal: Principal, *, after: str | None = None,
          limit: int | None = None) -> tuple[list[TaskState], dict[str, str | None]]:
    """Open tasks assigned to the principal (with or without a run), oldest ready first, with the summary of
    each run among them (SPEC §12); a page of them after the task `after` (the last one of the previous
    page) when asked.

    Raises:
        InvalidInput: `after` is not one of the principal's tasks.
    """
    with store.read() as tx:
        key = None
        if after is not None:
            found = tx.tasks(assignee=principal.actor, task=after)
            if not found:
                raise InvalidInput(f"{after!r} is not a task of your inbox; pass the last task of the previous "
                                   "page", rule="bad-cursor")
            key = (found[0].ready_at, found[0].id)
        tasks = tx.tasks(assignee=principal.actor, status="open", after=key, limit=limit)
        return tasks, run_summaries(tx, (t.run for t in tasks))


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskContext:
    """Everything a person needs to act on one task (SPEC §7, the task page of the web UI)."""

    task: TaskState
    run: RunState | None
    guest: bool
    why: str | None = None
    """The run's `--why`: what its starter said it is for."""
    input: dict[str, Any] | None = None
    earlier_outputs: list[dict[str, Any]] = field(default_factory=list)
    recommendations: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    clarity: dict[str, Any] = field(default_factory=dict)
    rights: dict[str, Any] | None = None
    produces: dict[str, Any] | None = None
    sla: dict[str, Any] = field(default_factory=dict)
    data_hash: str | None = None
    you_may: list[str] = field(default_factory=list)
    summary: str | None = None
    attachments: list[dict[str, Any]] = field(default_factory=list)
    """The documents of the run (SPEC §14); a guest's: its own task's only."""


def task(store: Store, principal: Principal, task_id: str) -> TaskContext:
    """A task the principal sees, with its full context. A guest gets the task, what it asks for and its
    clock, never the case data (input, other outputs, decisions)."""
    with store.read() as tx:
        found, parent = access.visible_task(tx, task_id, principal)
        now = tx.now()
        if parent is None:
            playbook, _ = tx.playbook(found.playbook)
            step = None
        else:
            playbook, _ = tx.playbook(parent.playbook, parent.version)
            step = playbook.by_id.get(found.step)
        nudges = _count(tx, found, "nudge.sent")
        directory = tx.directory()
        via = decided_via(tx, parent.id) if parent is not None and not principal.is_guest else {}
        agent = directory is not None and directory.is_actor(principal.actor) and not directory.is_person(
            principal.actor)
        autonomy = tx.autonomy(found.playbook).of(found.step, principal.actor) if agent else None
    clarity = _clarity(found, step)
    produces = step.produces if isinstance(step, TaskStep | ActionStep) else None
    sla = _sla(found, step, now, nudges)
    if principal.is_guest:
        open_ = found.is_open and found.type in GUEST_TYPES
        own = [a for a in (parent.attachments if parent is not None else ()) if a.task == found.id]
        return TaskContext(task=found, run=None, guest=True, clarity=clarity, produces=produces, sla=sla,
                           you_may=["complete"] if open_ else [], attachments=shown(own))
    holders: set[str] = set()
    rights: dict[str, Any] | None = None
    data_hash = None
    excluded = None
    if isinstance(step, DecisionStep) and parent is not None:
        holders = {m for name in step.rights.recommend for m in (directory.members(name) if directory else ())}
        data_hash = data_under_decision(parent, playbook, step)
        excluded = delegate_exclusion(parent, playbook, step, principal.actor, None)
        rights = {"recommend": list(step.rights.recommend), "approve": found.approver,
                  "approve_default": step.rights.approve, "authority_row": found.authority_row,
                  "execute": step.rights.execute, "inform": list(step.rights.inform), "options": list(step.options),
                  "rationale_required": step.rationale_required,
                  "separation_of_duties": list(step.separation_of_duties), "quorum": step.quorum,
                  "you_are_excluded": excluded}
        if autonomy is not None:  # an agent is told what the owners left it to decide here (SPEC §11)
            rights["your_autonomy"] = {"limit": autonomy.limit, "withdrawn": autonomy.withdrawn,
                                       "decided_by": autonomy.decided_by,
                                       "decided_at": display_time(autonomy.decided_at),
                                       "rationale": autonomy.rationale}
    elif step is not None:
        rights = {"owner": getattr(step, "owner", None)}
    return TaskContext(
        task=found, run=parent, guest=False, why=parent.why if parent is not None else None,
        input=parent.input if parent is not None else None,
        earlier_outputs=_earlier_outputs(parent, playbook, step), clarity=clarity, rights=rights, produces=produces,
        recommendations=_recommendations(parent, found, data_hash), decisions=_decisions(parent, data_hash, via),
        sla=sla, data_hash=data_hash,
        summary=render_summary(playbook.summary, parent.input) if parent is not None else None,
        you_may=_may(found, parent, principal.actor, access.owners(playbook), holders, excluded),
        attachments=shown(parent.attachments if parent is not None else ()))


def _count(tx: Tx, task: TaskState, type_: str) -> int:
    return reporting.task_event_count(tx, task.id, task.run, type_)


def _clarity(task: TaskState, step: Step | None) -> dict[str, Any]:
    clarity = getattr(step, "clarity", None)
    if clarity is None:
        what = task.note if task.type == "follow_up" else (
            task.note or "Review the playbook's scorecard and decide: continue, stabilize, pause or stop"
            if task.type == "review" else None)
        return {"what": what, "why": None, "success": None, "owner": task.assignee, "due": None,
                "due_at": display_time(task.due_at)}
    owner = task.approver if isinstance(step, DecisionStep) else getattr(step, "owner", None)
    return {"what": clarity.what, "why": clarity.why, "success": clarity.success, "owner": owner,
            "due": format_duration(clarity.due), "due_at": display_time(task.due_at)}


def _hours(start: datetime, end: str | None) -> float | None:
    return None if end is None else (parse_time(end) - start).total_seconds() / 3600


def _sla(task: TaskState, step: Step | None, now: datetime, nudges: int) -> dict[str, Any]:
    """The task's clocks: clarity due, SLA due, the planned nudges and escalations, as of `now`."""
    sla = step.sla if isinstance(step, DecisionStep) else None
    ready = parse_time(task.ready_at)
    closed = not task.is_open
    return {
        "now": display_time(format_time(now)), "ready_at": display_time(task.ready_at),
        "due_at": display_time(task.due_at), "sla_due_at": display_time(task.sla_due_at),
        "hours_to_due": None if closed else _hours(now, task.due_at),
        "hours_to_sla": None if closed else _hours(now, task.sla_due_at),
        "overdue": not closed and task.due_at is not None and task.due_at < format_time(now),
        "sla_breached": not closed and task.sla_due_at is not None and task.sla_due_at < format_time(now),
        "nudges": [display_time(format_time(ready + offset)) for offset in (sla.nudge if sla else ())],
        "nudges_sent": nudges,
        "escalations": [{"at": display_time(format_time(ready + e.after)), "to": e.to}
                        for e in (sla.escalate if sla else ())],
        "escalated": task.escalated,
    }


def _earlier_outputs(run: RunState | None, playbook: Playbook, step: Step | None) -> list[dict[str, Any]]:
    """The outputs this step can read: the newest completed task of every step before it on its path."""
    if run is None or step is None:
        return []
    found = []
    for earlier in playbook.before(step):
        done = [t for t in run.latest(earlier.id) if t.status == TaskStatus.COMPLETED and t.output is not None]
        if done:
            last = done[-1]
            found.append({"step": earlier.id, "task": last.id, "by": last.assignee, "on_behalf_of": last.on_behalf_of,
                          "completed_at": display_time(last.ended_at), "output": last.output})
    return found


def _recommendation(rec: Recommendation, data_hash: str | None) -> dict[str, Any]:
    return {"actor": rec.actor, "outcome": rec.outcome, "rationale": rec.rationale, "data_hash": rec.data_hash,
            "at": display_time(rec.at), "current": data_hash is not None and rec.data_hash == data_hash}


def _recommendations(run: RunState | None, task: TaskState, data_hash: str | None) -> list[dict[str, Any]]:
    if run is None or task.type != "decision":
        return []
    return [_recommendation(r, data_hash) for r in run.recommendations
            if r.step == task.step and r.attempt == task.attempt]


def decided_via(tx: Tx, run_id: str) -> dict[str, str]:
    """The channel each decision of the run was taken through (SPEC §13), by task id."""
    return {str(task): str(channel) for task, channel in reporting.decision_channels(tx, run_id)}


def _decisions(run: RunState | None, data_hash: str | None, via: dict[str, str]) -> list[dict[str, Any]]:
    """Every decision taken on the run so far, superseded ones included (their status says so), with the
    channel it came through."""
    if run is None:
        return []
    return [{"task": t.id, "step": t.step, "attempt": t.attempt, "seat": t.seat, "status": str(t.status),
             "outcome": t.outcome, "rationale": t.rationale, "by": t.assignee, "on_behalf_of": t.on_behalf_of,
             "decided_at": display_time(t.ended_at), "data_hash": t.data_hash, "channel": via.get(t.id)}
            for t in run.tasks if t.type == "decision" and t.outcome is not None]


def _may(task: TaskState, run: RunState | None, actor: str, owners: frozenset[str], holders: set[str],
         excluded: str | None) -> list[str]:
    """What the actor may try on this task now (a hint for forms; the engine decides)."""
    if not task.is_open or (run is not None and run.status != RunStatus.RUNNING):
        return []
    mine = actor == task.assignee
    verbs = []
    if mine and task.status == TaskStatus.READY and task.type != "review":
        verbs.append("start")
    if mine and task.type in ("task", "action", "follow_up"):
        verbs.append("complete")
    if mine and task.type == "decision" and not task.blocked and excluded is None:
        verbs.append("decide")
    if task.type == "decision" and actor in holders and not mine:
        verbs.append("recommend")
    if actor in owners and task.type in ("task", "decision", "action") and run is not None:
        verbs.append("reassign")
    return verbs


# ----------------------------------------------------------------------------- figures and reports


def _require_owner(tx: Tx, playbook_id: str, actor: str, what: str) -> None:
    if not access.owns(tx, playbook_id, actor):
        raise Forbidden(f"the {what} of playbook {playbook_id} is for its workflow owner and outcome owner",
                        rule="not-playbook-owner")


def scorecard(store: Store, principal: Principal, playbook_id: str, period: Period | None, *,
              by_channel: bool = False) -> dict[str, Any]:
    """SPEC §5 figures, for the playbook's owners; `period` None means this week by the database clock."""
    with store.read() as tx:
        _require_owner(tx, playbook_id, principal.actor, "scorecard")
        chosen = period or _this_week(tx)
    return scorecards.scorecard(store, playbook_id, chosen, by_channel=by_channel)


def _this_week(tx: Tx) -> Period:
    return week_of(tx.now())


def this_week(store: Store) -> Period:
    with store.read() as tx:
        return _this_week(tx)


def ownership(store: Store, principal: Principal, playbook_id: str, period: Period) -> dict[str, Any]:
    with store.read() as tx:
        _require_owner(tx, playbook_id, principal.actor, "ownership report")
    return reports.ownership(store, playbook_id, period)


def waits(store: Store, principal: Principal, playbook_id: str, period: Period) -> dict[str, Any]:
    with store.read() as tx:
        _require_owner(tx, playbook_id, principal.actor, "waits report")
    return reports.waits(store, playbook_id, period)


def friction(store: Store, principal: Principal, playbook_id: str, period: Period) -> dict[str, Any]:
    """`report friction`, for the playbook's owners."""
    with store.read() as tx:
        _require_owner(tx, playbook_id, principal.actor, "friction report")
    return friction_report(store, playbook_id, period)


def review(store: Store, principal: Principal, playbook_id: str, period: Period) -> dict[str, Any]:
    """The weekly review pack of a playbook and period, for its owners."""
    with store.read() as tx:
        _require_owner(tx, playbook_id, principal.actor, "review pack")
    return review_pack(store, playbook_id, period)


def review_of_task(store: Store, principal: Principal, task_id: str) -> dict[str, Any]:
    """The review pack a governance review task looks at, for whoever sees the task (its assignee, the owners).

    Raises:
        NotFound: no such task, or one the principal may not see.
        InvalidInput: the task is not a governance review.
    """
    with store.read() as tx:
        access.visible_task(tx, task_id, principal)
        playbook_id, period = period_of_review(tx, task_id)
    return review_pack(store, playbook_id, period)


def _visible_task_ids(tx: Tx, actor: str, rows: list[dict[str, Any]]) -> set[str]:
    """Of report rows naming a task (and its run), those whose task the actor sees."""
    run_ids = {row["run"] for row in rows if row.get("run")}
    seen_runs = visible_among(tx, access.visibility(tx, actor), run_ids) if run_ids else set()
    standalone = tx.standalone(ids=[row["task"] for row in rows if not row.get("run")])
    return {row["task"] for row in rows
            if (row.get("run") in seen_runs) or (row["task"] in standalone
                                                 and access.sees_standalone(tx, standalone[row["task"]], actor))}


def stalled(store: Store, principal: Principal) -> list[dict[str, Any]]:
    """`report stalled`, limited to the tasks the principal sees."""
    found = reports.stalled(store)
    with store.read() as tx:
        keep = _visible_task_ids(tx, principal.actor, found)
    return [row for row in found if row["task"] in keep]


def waiting(store: Store, principal: Principal, playbook: str | None) -> list[dict[str, Any]]:
    """`report waiting`, over the runs the principal sees."""
    return reports.waiting(store, playbook=playbook, visible_to=principal.actor)


def agents(store: Store, principal: Principal) -> list[dict[str, Any]]:
    """`report agents`, over the playbooks the principal owns (the scorecard is the owners')."""
    with store.read() as tx:
        mine = {row.id for row in tx.list_playbooks() if access.owns(tx, row.id, principal.actor)}
    return [row for row in reports.agents(store) if row["playbook"] in mine]


def clarity(store: Store, principal: Principal) -> dict[str, Any]:
    """`report clarity`: findings of the playbooks the principal owns, gaps on tasks it sees."""
    found = reports.clarity(store)
    with store.read() as tx:
        mine = {row.id for row in tx.list_playbooks() if access.owns(tx, row.id, principal.actor)}
        keep = _visible_task_ids(tx, principal.actor, found["gaps"])
    return {"findings": [f for f in found["findings"] if f["playbook"] in mine],
            "gaps": [g for g in found["gaps"] if g["task"] in keep]}
