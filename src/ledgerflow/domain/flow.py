"""The engine's decisions: commands on a run produce events; the flow advances in the same command.

Every function here is pure: time, ids, the directory and the workload arrive in `Context`, and the
result is the list of events (each already folded into the returned state with `evolve`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from ledgerflow.domain.attachments import Document, bound
from ledgerflow.domain.autonomy import AS_WRITTEN, Autonomy
from ledgerflow.domain.autonomy import refusal as autonomy_refusal
from ledgerflow.domain.canonical import digest
from ledgerflow.domain.directory import Directory
from ledgerflow.domain.errors import Forbidden, InvalidInput, InvalidTransition, NotFound, SchemaViolation
from ledgerflow.domain.events import Event, authority
from ledgerflow.domain.expressions import ExpressionError
from ledgerflow.domain.playbook import (
    ActionStep,
    CheckStep,
    DecisionStep,
    OnFail,
    ParallelStep,
    Playbook,
    Step,
    TaskStep,
)
from ledgerflow.domain.rights import agent_may_approve, approves_under, approving_authority, delegate_exclusion
from ledgerflow.domain.routing import Pick, Workload, route, stand_in
from ledgerflow.domain.runs import RunState, TaskState, evolve
from ledgerflow.domain.states import OPEN_TASK, RunStatus, TaskStatus, check_run_move
from ledgerflow.domain.times import format_time


class _Walk(Enum):
    DONE = 0
    WAITING = 1
    RESTART = 2
    ENDED = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class Context:
    """Everything a command may read besides the run itself."""

    playbook: Playbook
    directory: Directory
    workload: Workload
    now: datetime
    new_id: Callable[[str], str]
    channel: str = "cli"
    autonomy: Autonomy = AS_WRITTEN
    """The owners' decisions on the agents' autonomy at the playbook's steps (SPEC §11)."""


@dataclass(slots=True)
class Builder:
    """Collects a command's events, folding each into the run as it is emitted."""

    ctx: Context
    run: RunState | None
    events: list[Event] = field(default_factory=list)
    pending: dict[str, int] = field(default_factory=dict)
    _at: str | None = None

    @property
    def at(self) -> str:
        """The command's one time, formatted once (every event of a command shares it)."""
        if self._at is None:
            self._at = format_time(self.ctx.now)
        return self._at

    @property
    def state(self) -> RunState:
        if self.run is None:
            raise RuntimeError("no run")
        return self.run

    def emit(self, type_: str, *, actor: str = "system", task: str | None = None, step: str | None = None,
             auth: dict[str, Any] | None = None, data: dict[str, Any] | None = None) -> None:
        channel = self.ctx.channel if actor != "system" else "system"
        event = Event(type=type_, at=self.at, actor=actor, channel=channel,
                      run=self.run.id if self.run else data.get("run") if data else None, task=task, step=step,
                      authority=auth or authority("system"), data=data or {})
        self.run = evolve(self.run, event)
        self.events.append(event)


def expression_context(run: RunState, playbook: Playbook) -> dict[str, Any]:
    """`input`, `steps.<id>.output`, `decision.<id>` and `run`, as expressions see them (SPEC §3.5)."""
    steps: dict[str, Any] = {}
    decisions: dict[str, str] = {}
    for step in playbook.walk():
        entry: dict[str, Any] = {}
        latest = run.latest(step.id)
        if isinstance(step, TaskStep | ActionStep):
            done = [t for t in latest if t.status == TaskStatus.COMPLETED]
            if done:
                entry["output"] = done[-1].output or {}
        elif isinstance(step, DecisionStep) and latest:
            outcome = _decision_outcome(step, latest)
            if outcome is not None:
                decisions[step.id] = outcome
        steps[step.id] = entry
    return {"input": run.input, "steps": steps, "decision": decisions,
            "run": {"id": run.id, "playbook": run.playbook, "version": run.version, "started_by": run.started_by,
                    "started_at": run.started_at}}


def _read_by(run: RunState, playbook: Playbook, step: Step) -> tuple[dict[str, Any], dict[str, str]]:
    """The outputs a step reads, by earlier step, and the tasks they come from (task id -> step)."""
    outputs, readers = {}, {}
    for earlier in playbook.before(step):
        done = [t for t in run.latest(earlier.id) if t.status == TaskStatus.COMPLETED and t.output is not None]
        if done:
            outputs[earlier.id] = done[-1].output
            readers[done[-1].id] = earlier.id
    return outputs, readers


def data_under_decision(run: RunState, playbook: Playbook, step: Step) -> str:
    """SHA-256 of the canonical JSON of the input and every output the decision can read, and of the documents
    attached with them (by name and hash), so an approval counts only for the documents it saw. A run without
    documents hashes as it did before documents existed."""
    outputs, readers = _read_by(run, playbook, step)
    document: dict[str, Any] = {"input": run.input, "outputs": outputs}
    documents = bound(run.attachments, readers)
    if documents:
        document["attachments"] = documents
    return digest(document)


def documents_under_decision(run: RunState, playbook: Playbook, step: Step) -> list[str]:
    """The hashes of the documents a decision reads, in the order attached."""
    readers = _read_by(run, playbook, step)[1]
    return list(dict.fromkeys(a.sha256 for a in run.attachments if a.task is None or a.task in readers))


def readable_outputs(run: RunState, playbook: Playbook, step: Step) -> dict[str, Any]:
    """The latest output of every earlier step that `step` can read, by step id (what a decision shows)."""
    return _read_by(run, playbook, step)[0]


def _decision_outcome(step: DecisionStep, latest: Iterable[TaskState]) -> str | None:
    rows = list(latest)
    if any(t.status == TaskStatus.SKIPPED for t in rows):
        return "skipped"
    for outcome in ("reject", "send_back"):
        if any(t.status == TaskStatus.DECIDED and t.outcome == outcome for t in rows):
            return outcome
    approvals = [t for t in rows if t.status == TaskStatus.DECIDED and t.outcome == "approve"]
    if len(approvals) >= step.quorum:
        return "approve"
    return None


def validate(validator: Any, document: Any, what: str) -> None:
    """Raise SchemaViolation listing every failing path, or nothing."""
    if validator is None:
        return
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        violations = [{"path": "/" + "/".join(str(p) for p in e.absolute_path), "message": e.message}
                      for e in errors]
        listed = "; ".join(f"{v['path']}: {v['message']}" for v in violations)
        raise SchemaViolation(f"{what} violates its schema: {listed}", details={"violations": violations})


# ---------------------------------------------------------------------------------------------- advancing


class _Flow:
    def __init__(self, b: Builder):
        self.b = b
        self.pb = b.ctx.playbook
        self.dir: Directory = b.ctx.directory
        self._context: tuple[int, dict[str, Any]] | None = None

    def context(self) -> dict[str, Any]:
        """The expression context of the run as it is now (rebuilt only after new events)."""
        if self._context is None or self._context[0] != len(self.b.events):
            self._context = (len(self.b.events), expression_context(self.b.state, self.pb))
        return self._context[1]

    def advance(self) -> None:
        while self.b.state.status == RunStatus.RUNNING:
            result = self.walk(self.pb.steps)
            if result == _Walk.RESTART:
                continue
            if result == _Walk.DONE:
                self.end(RunStatus.COMPLETED, "run.completed")
            return

    def walk(self, steps: Iterable[Step]) -> _Walk:
        for step in steps:
            result = self.visit(step)
            if result != _Walk.DONE:
                return result
        return _Walk.DONE

    def visit(self, step: Step) -> _Walk:
        if isinstance(step, ParallelStep):
            if any(t.status == TaskStatus.SKIPPED for t in self.b.state.latest(step.id)):
                return _Walk.DONE
            if self.skipped(step):
                return _Walk.DONE
            results = []
            for branch in step.branches:
                result = self.walk(branch)
                if result in (_Walk.ENDED, _Walk.RESTART):
                    return result
                results.append(result)
            return _Walk.DONE if all(r == _Walk.DONE for r in results) else _Walk.WAITING
        latest = self.b.state.latest(step.id)
        if latest:
            if any(t.is_open for t in latest):
                return _Walk.WAITING
            if self.is_done(step, latest):
                return _Walk.DONE
        if self.skipped(step):
            return _Walk.DONE
        attempt = max((t.attempt for t in self.b.state.tasks if t.step == step.id), default=0) + 1
        if isinstance(step, CheckStep):
            return self.check(step, attempt)
        if isinstance(step, DecisionStep):
            self.open_decision(step, attempt)
        elif isinstance(step, TaskStep):
            self.open_task(step, attempt)
        elif isinstance(step, ActionStep):
            self.open_action(step, attempt)
        return _Walk.WAITING

    def is_done(self, step: Step, latest: tuple[TaskState, ...]) -> bool:
        if isinstance(step, DecisionStep):
            return _decision_outcome(step, latest) in ("approve", "skipped")
        return all(t.status in (TaskStatus.COMPLETED, TaskStatus.SKIPPED) for t in latest)

    def skipped(self, step: Step) -> bool:
        """Evaluate `when`; a false condition records a skipped row. A runtime error fails closed: the step runs."""
        if step.when is None:
            return False
        try:
            runs = step.when.test(self.context())
        except ExpressionError:
            return False
        if runs:
            return False
        attempt = max((t.attempt for t in self.b.state.tasks if t.step == step.id), default=0) + 1
        self.b.emit("step.skipped", task=self.b.ctx.new_id("t"), step=step.id,
                    data={"type": step.type if step.type != "parallel" else "task", "attempt": attempt,
                          "assignee": None, "when": step.when.source})
        return True

    # --------------------------------------------------------------------------------- checks

    def check(self, step: CheckStep, attempt: int) -> _Walk:
        context = self.context()
        task_id = self.b.ctx.new_id("t")
        for index, rule in enumerate(step.rules):
            try:
                ok = rule.expr.test(context)
                message = rule.message
            except ExpressionError as exc:
                ok, message = False, f"{rule.message} (error: {exc.message})"
            if ok:
                continue
            on_fail = rule.on_fail or step.on_fail or OnFail(reject=True)
            self.b.emit("check.failed", task=task_id, step=step.id,
                        data={"type": "check", "attempt": attempt, "assignee": None, "rule": index,
                              "error": message, "on_fail": "reject" if on_fail.reject else "send_back"})
            if on_fail.reject:
                self.reject(task_id)
                return _Walk.ENDED
            target = self.pb.step(str(on_fail.send_back))
            self.send_back(self.b.state.task(task_id), step, target, actor="system", auth=authority("system"))
            return _Walk.RESTART
        self.b.emit("check.passed", task=task_id, step=step.id,
                    data={"type": "check", "attempt": attempt, "assignee": None})
        return _Walk.DONE

    # ---------------------------------------------------------------------------------- tasks

    def _previous(self, step: Step) -> list[str]:
        """Who did the superseded tasks of this step, newest first."""
        done = (TaskStatus.SENT_BACK, TaskStatus.DECIDED, TaskStatus.COMPLETED)
        return [t.assignee for t in reversed(self.b.state.tasks)
                if t.step == step.id and t.status in done and t.assignee]

    def _ready(self, step: Step, attempt: int, pick: Pick, auth: dict[str, Any], *, seat: int = 0,
               extra: dict[str, Any] | None = None, task_id: str | None = None) -> None:
        now = self.b.ctx.now
        clarity = getattr(step, "clarity", None)
        sla = getattr(step, "sla", None)
        data: dict[str, Any] = {
            "type": step.type, "attempt": attempt, "seat": seat, "assignee": pick.assignee,
            "on_behalf_of": pick.on_behalf_of, "ready_at": self.b.at,
            "due_at": format_time(now + clarity.due) if clarity and clarity.due else None,
            "sla_due_at": format_time(now + sla.due) if sla and sla.due else None,
        }
        data.update(extra or {})
        self.b.pending[pick.assignee] = self.b.pending.get(pick.assignee, 0) + 1
        self.b.emit("task.ready", task=task_id or self.b.ctx.new_id("t"), step=step.id, auth=auth, data=data)

    def open_task(self, step: TaskStep, attempt: int) -> None:
        now, owner = self.b.ctx.now, step.owner or ""
        members = set(self.dir.members(owner))
        for previous in self._previous(step):
            if previous in members and self.dir.is_available(previous, now):
                self._ready(step, attempt, Pick(assignee=previous), authority("role", owner))
                return
            break
        pick = route(self.dir, owner, now, workload=self.b.ctx.workload, pending=self.b.pending,
                     playbook=self.pb.id, step=step.id, strategy=step.routing, eligible=_anyone)
        if pick is not None:
            kind = "delegation" if pick.on_behalf_of else "role"
            self._ready(step, attempt, pick, authority(kind, pick.on_behalf_of or owner))
            return
        self.gap(step, attempt, owner, blocked=False)

    def open_action(self, step: ActionStep, attempt: int) -> None:
        data = {"type": "action", "attempt": attempt, "seat": 0, "assignee": None, "ready_at": self.b.at,
                "due_at": None, "sla_due_at": None, "approver": self.action_owner(step)}
        self.b.emit("task.ready", task=self.b.ctx.new_id("t"), step=step.id, auth=authority("system"), data=data)

    def action_owner(self, step: ActionStep) -> str | None:
        return self.pb.action_owner(step)

    def gap(self, step: Step, attempt: int, role: str, *, blocked: bool, seat: int = 0,
            extra: dict[str, Any] | None = None) -> None:
        """No available, eligible actor: the work goes to the workflow owner, recorded as a gap."""
        owner = self.pb.workflow_owner or "admin"
        pick = stand_in(self.dir, owner, self.b.ctx.now, _anyone) or Pick(assignee=owner)
        task_id = self.b.ctx.new_id("t")
        self.b.emit("ownership.gap", task=task_id, step=step.id,
                    data={"role": role, "resolved_to": pick.assignee, "blocked": blocked, "attempt": attempt})
        self._ready(step, attempt, pick, authority("ownership_gap", role), seat=seat,
                    extra={**(extra or {}), "blocked": blocked}, task_id=task_id)

    # ------------------------------------------------------------------------------ decisions

    def open_decision(self, step: DecisionStep, attempt: int) -> None:
        run, now = self.b.state, self.b.ctx.now
        context = self.context()
        approver, row, error = approving_authority(step, context, self.dir, self.b.ctx.autonomy)
        data_hash = data_under_decision(run, self.pb, step)
        extra = {"approver": approver, "authority_row": row, "data_hash": data_hash}
        if error:
            extra["authority_error"] = error
        taken: set[str] = set()

        def eligible(actor: str, on_behalf_of: str | None) -> bool:
            if actor in taken or (on_behalf_of is not None and on_behalf_of in taken):
                return False
            if not agent_may_approve(self.dir, step, row, actor, self.b.ctx.autonomy, context):
                return False
            return delegate_exclusion(self.b.state, self.pb, step, actor, on_behalf_of) is None

        auth = authority("authority_row", row) if row is not None else authority("role", approver)
        members = set(self.dir.members(approver or ""))
        previous = [p for p in dict.fromkeys(self._previous(step)) if p in members]
        for seat in range(step.quorum):
            pick = None
            while previous and pick is None:
                candidate = previous.pop(0)
                if self.dir.is_available(candidate, now) and eligible(candidate, None):
                    pick = Pick(assignee=candidate)
            if pick is None and approver:
                pick = route(self.dir, approver, now, workload=self.b.ctx.workload, pending=self.b.pending,
                             playbook=self.pb.id, step=step.id, strategy="least-loaded", eligible=eligible,
                             skip=frozenset(taken))
            if pick is not None:
                taken.add(pick.assignee)
                seat_auth = authority("delegation", pick.on_behalf_of) if pick.on_behalf_of else auth
                self._ready(step, attempt, pick, seat_auth, seat=seat, extra=extra)
                continue
            pick = self.escalate_now(step, eligible, approver)
            if pick is not None:
                taken.add(pick.assignee)
                self._ready(step, attempt, pick, authority("escalation", pick.assignee), seat=seat,
                            extra={**extra, "escalated": True})
                continue
            self.gap(step, attempt, approver or "", blocked=True, seat=seat, extra=extra)

    def escalate_now(self, step: DecisionStep, eligible: Callable[[str, str | None], bool],
                     approver: str | None) -> Pick | None:
        """Nobody eligible can decide: go through the escalation map, then the outcome owner, each only to
        someone who may approve under the matched row or is the outcome owner (SPEC §3.3)."""
        targets = [e.to for e in (step.sla.escalate if step.sla else ())]
        if self.pb.outcome.owner:
            targets.append(self.pb.outcome.owner)
        may_approve = approves_under(self.dir, self.pb, approver)

        def person_ok(actor: str, on_behalf_of: str | None) -> bool:
            entry = self.dir.get(actor)
            return (entry is not None and not entry.is_agent and may_approve(on_behalf_of or actor)
                    and eligible(actor, on_behalf_of))

        for target in targets:
            pick = route(self.dir, target, self.b.ctx.now, workload=self.b.ctx.workload, pending=self.b.pending,
                         playbook=self.pb.id, step=step.id, strategy="least-loaded", eligible=person_ok)
            if pick is not None:
                return pick
        return None

    # ------------------------------------------------------------------------------- endings

    def end(self, status: RunStatus, event: str, actor: str = "system", auth: dict[str, Any] | None = None,
            data: dict[str, Any] | None = None, reason: str | None = None) -> None:
        run = self.b.state
        check_run_move(run.status, status, run.id)
        for task in run.tasks:
            if task.is_open:
                self.b.emit("task.cancelled", actor=actor, task=task.id, step=task.step, auth=auth,
                            data={"reason": reason or f"run {status}"})
        self.b.emit(event, actor=actor, auth=auth, data=data)

    def reject(self, by_task: str) -> None:
        self.end(RunStatus.REJECTED, "run.rejected", data={"by_task": by_task})

    def send_back(self, sender: TaskState | None, sender_step: Step, target: Step, *, actor: str,
                  auth: dict[str, Any]) -> None:
        """Supersede every step from the target onward on the sender's path; cancel the block's open tasks."""
        if sender is None:
            raise RuntimeError("send-back without a sending task")
        affected = _from_target_onward(self.pb, target, sender_step)
        superseded, cancelled = [], []
        for task in self.b.state.tasks:
            if task.id == sender.id or task.step not in affected:
                continue
            if task.status in OPEN_TASK:
                cancelled.append(task.id)
            elif task.status in (TaskStatus.COMPLETED, TaskStatus.DECIDED, TaskStatus.SKIPPED, TaskStatus.FAILED):
                superseded.append(task.id)
        if sender_step.branch is not None and target.branch is None:
            block = self.pb.steps[sender_step.top]
            for task in self.b.state.tasks:
                if task.is_open and task.id != sender.id and task.id not in cancelled and \
                        self.pb.by_id[task.step].top == block.top:
                    cancelled.append(task.id)
        self.b.emit("task.sent_back", actor=actor, task=sender.id, step=sender_step.id, auth=auth,
                    data={"to": target.id, "superseded": superseded, "cancelled": cancelled})


def _anyone(actor: str, on_behalf_of: str | None) -> bool:
    """Task steps have no separation of duties: every available member is eligible."""
    return True


def _from_target_onward(playbook: Playbook, target: Step, sender: Step) -> set[str]:
    affected = set()
    for step in playbook.walk():
        if target.branch is not None:
            hit = step.top == target.top and step.branch == target.branch and step.index >= target.index
        else:
            hit = step.top >= target.top
        if hit and not isinstance(step, ParallelStep):
            affected.add(step.id)
    affected.discard(sender.id)
    return affected


# ------------------------------------------------------------------------------------ commands


def start_run(ctx: Context, *, run_id: str, actor: str, input: Mapping[str, Any], version: int,
              why: str | None, attachments: tuple[Document, ...] = ()) -> Builder:
    """Validate the input and start a run; the flow advances to its first waiting step. `attachments` are
    documents stored already, recorded with the input."""
    if not ctx.directory.is_actor(actor):
        raise NotFound(f"unknown actor {actor!r}: a run is started by a person or agent in the directory",
                       rule="unknown-actor")
    if not isinstance(input, dict):
        raise SchemaViolation("input must be a JSON object", details={"violations": [{"path": "/",
                                                                                     "message": "not an object"}]})
    validate(ctx.playbook.input_validator, input, "input")
    b = Builder(ctx, None)
    data = {"run": run_id, "playbook": ctx.playbook.id, "version": version, "input": dict(input), "why": why}
    if attachments:
        data["attachments"] = [d.record() for d in attachments]
    b.emit("run.started", actor=actor, auth=authority("starter", "directory member"), data=data)
    _Flow(b).advance()
    return b


def _open_task(run: RunState, task_id: str, actor: str, types: tuple[str, ...], verb: str) -> TaskState:
    task = run.task(task_id)
    if task is None:
        raise NotFound(f"unknown task {task_id!r}", rule="unknown-task")
    if task.type not in types:
        raise InvalidInput(f"task {task_id} is a {task.type}; `{verb}` applies to {' or '.join(types)} tasks",
                           rule="wrong-task-type")
    if task.status == TaskStatus.DECIDED:
        raise InvalidTransition(f"task {task_id} was already decided: {task.outcome} by {task.assignee} at "
                                f"{task.ended_at}", rule="task-state",
                                details={"status": task.status, "outcome": task.outcome, "by": task.assignee,
                                         "at": task.ended_at})
    if run.status != RunStatus.RUNNING:
        raise InvalidTransition(f"run {run.id} is {run.status}", rule="run-state")
    if not task.is_open:
        raise InvalidTransition(f"task {task_id} is {task.status}; only ready or in_progress tasks can be {verb}",
                                rule="task-state", details={"status": task.status})
    if task.assignee != actor:
        raise Forbidden(f"only the assignee ({task.assignee or 'the system'}) may {verb} task {task_id} "
                        f"(step {task.step})", rule="not-assignee", details={"assignee": task.assignee})
    return task


def _delegated(task: TaskState, fallback: dict[str, Any]) -> dict[str, Any]:
    return authority("delegation", task.on_behalf_of) if task.on_behalf_of else fallback


def start_task(ctx: Context, run: RunState, *, task_id: str, actor: str) -> Builder:
    task = _open_task(run, task_id, actor, ("task", "decision", "action"), "start")
    if task.status != TaskStatus.READY:
        raise InvalidTransition(f"task {task_id} is already {task.status}", rule="task-state")
    b = Builder(ctx, run)
    b.emit("task.started", actor=actor, task=task.id, step=task.step, auth=_delegated(task, authority("assignee")))
    return b


def complete_task(ctx: Context, run: RunState, *, task_id: str, actor: str, output: Any = None,
                  guest: dict[str, Any] | None = None, attachments: tuple[Document, ...] = ()) -> Builder:
    """Complete a task as its assignee; `guest` names the invited outsider who did it on the assignee's behalf;
    `attachments` are documents stored already, recorded with the output."""
    task = _open_task(run, task_id, actor, ("task", "action"), "complete")
    step = ctx.playbook.step(task.step)
    if output is None:
        output = {}
    if not isinstance(output, dict):
        raise SchemaViolation("output must be a JSON object",
                              details={"violations": [{"path": "/", "message": "not an object"}]})
    validate(getattr(step, "validator", None), output, f"the output of step {step.id}")
    b = Builder(ctx, run)
    auth = authority("guest", guest) if guest is not None else _delegated(task, authority("assignee"))
    data: dict[str, Any] = {"output": output}
    if attachments:
        data["attachments"] = [d.record() for d in attachments]
    b.emit("task.completed", actor=actor, task=task.id, step=task.step, auth=auth, data=data)
    _Flow(b).advance()
    return b


def _decision_step(ctx: Context, task: TaskState) -> DecisionStep:
    step = ctx.playbook.step(task.step)
    if not isinstance(step, DecisionStep):
        raise RuntimeError(f"task {task.id} is not on a decision step")
    return step


def decide(ctx: Context, run: RunState, *, task_id: str, actor: str, outcome: str, rationale: str | None,
           to: str | None) -> Builder:
    """Record one decision and apply it: approve continues at quorum, reject ends, send_back reworks."""
    _autonomy_gate(ctx, run, task_id, actor)
    task = _open_task(run, task_id, actor, ("decision",), "decide")
    step = _decision_step(ctx, task)
    if task.blocked:
        raise Forbidden(f"task {task_id} is an ownership gap held by the workflow owner, who may reassign it but "
                        "never decide it", rule="ownership-gap")
    if outcome not in step.options:
        raise Forbidden(f"outcome {outcome!r} is not allowed at step {step.id}; options: {', '.join(step.options)}",
                        rule="outcome-not-allowed")
    if step.rationale_required and not (rationale or "").strip():
        raise Forbidden(f"step {step.id} requires a rationale: say why, with --rationale TEXT (the API's "
                        "`rationale`)", rule="rationale-required")
    reason = delegate_exclusion(run, ctx.playbook, step, actor, task.on_behalf_of)
    if reason:
        raise Forbidden(f"separation of duties at step {step.id}: {reason}", rule="separation-of-duties")
    if not task.escalated and not agent_may_approve(ctx.directory, step, task.authority_row, actor):
        raise Forbidden(f"agent {actor} may decide step {step.id} only through a guarded authority row",
                        rule="agent-not-authorized")
    target = _send_back_target(ctx.playbook, step, to) if outcome == "send_back" else None
    if to is not None and outcome != "send_back":
        raise InvalidInput("--to applies only to send_back", rule="bad-to")
    data_hash = data_under_decision(run, ctx.playbook, step)
    if task.escalated:
        auth = authority("escalation", actor)
    elif task.on_behalf_of:
        auth = authority("delegation", task.on_behalf_of)
    elif task.authority_row is not None:
        auth = authority("authority_row", task.authority_row)
    else:
        auth = authority("role", task.approver)
    b = Builder(ctx, run)
    flow = _Flow(b)
    entry = ctx.directory.get(actor)
    b.emit("task.decided", actor=actor, task=task.id, step=step.id, auth=auth,
           data={"outcome": outcome, "rationale": rationale, "data_hash": data_hash,
                 "to": target.id if target else None, "agent": entry is not None and entry.is_agent})
    seats = b.state.latest(step.id)
    if outcome == "approve":
        approvals = [t for t in seats if t.status == TaskStatus.DECIDED and t.outcome == "approve"
                     and t.data_hash == data_hash]
        if len(approvals) < step.quorum:
            return b
    else:
        for seat in seats:
            if seat.is_open and outcome == "reject":
                b.emit("task.cancelled", task=seat.id, step=step.id, data={"reason": f"decided {outcome}"})
    _inform(b, step, outcome)
    if outcome == "reject":
        flow.end(RunStatus.REJECTED, "run.rejected", data={"by_task": task.id})
        return b
    if outcome == "send_back" and target is not None:
        flow.send_back(b.state.task(task.id), step, target, actor=actor, auth=auth)
        for seat in b.state.latest(step.id):
            if seat.is_open:
                b.emit("task.cancelled", task=seat.id, step=step.id, data={"reason": "sent back"})
    flow.advance()
    return b


def _autonomy_gate(ctx: Context, run: RunState, task_id: str, actor: str) -> None:
    """An agent whose autonomy the owners narrowed or withdrew is told so by name, also when the decision it
    held a moment ago has moved on because of it (SPEC §11: enforced from the next decision)."""
    task = run.task(task_id)
    if task is None or task.type != "decision" or not task.is_open or ctx.autonomy.of(task.step, actor) is None:
        return
    step = _decision_step(ctx, task)
    refused = autonomy_refusal(ctx.directory, ctx.autonomy, step, task.authority_row, actor,
                               expression_context(run, ctx.playbook))
    if refused is not None:
        raise Forbidden(refused[1], rule=refused[0])


def _inform(b: Builder, step: DecisionStep, outcome: str) -> None:
    names = [m for name in step.rights.inform for m in b.ctx.directory.members(name)]
    if names:
        b.emit("decision.informed", step=step.id, data={"outcome": outcome, "to": list(dict.fromkeys(names))})


def _send_back_target(playbook: Playbook, step: Step, to: str | None) -> Step:
    earlier = [s for s in playbook.before(step) if not isinstance(s, ParallelStep)]
    if to is None:
        for candidate in reversed(earlier):
            if isinstance(candidate, TaskStep) and candidate.branch is None:
                return candidate
        raise InvalidInput(f"step {step.id} has no earlier task step to send back to; name one with --to",
                           rule="bad-to")
    target = playbook.by_id.get(to)
    if target is None or target not in earlier or not isinstance(target, TaskStep | DecisionStep):
        valid = [s.id for s in earlier if isinstance(s, TaskStep | DecisionStep)]
        raise InvalidInput(f"--to {to}: the target must be an earlier task or decision on the path of step "
                           f"{step.id}: {', '.join(valid) or 'there is none'}", rule="bad-to",
                           details={"valid": valid})
    return target


def recommend(ctx: Context, run: RunState, *, task_id: str, actor: str, outcome: str, rationale: str) -> Builder:
    task = run.task(task_id)
    if task is None:
        raise NotFound(f"unknown task {task_id!r}", rule="unknown-task")
    if task.type != "decision":
        raise InvalidInput(f"task {task_id} is a {task.type}; only decisions take recommendations",
                           rule="wrong-task-type")
    if not task.is_open or run.status != RunStatus.RUNNING:
        raise InvalidTransition(f"task {task_id} is {task.status}; recommendations go on open decisions",
                                rule="task-state")
    step = _decision_step(ctx, task)
    holders = {m for name in step.rights.recommend for m in ctx.directory.members(name)}
    if actor not in holders:
        raise Forbidden(f"{actor} does not hold recommend at step {step.id}", rule="no-recommend-right")
    if any(actor in (t.assignee, t.on_behalf_of) and t.is_open for t in run.latest(step.id)):
        raise Forbidden(f"{actor} is a decider of step {step.id} and decides rather than recommends",
                        rule="decider-cannot-recommend")
    if outcome not in step.options:
        raise Forbidden(f"outcome {outcome!r} is not allowed at step {step.id}", rule="outcome-not-allowed")
    if not rationale.strip():
        raise Forbidden("a recommendation needs a rationale", rule="rationale-required")
    b = Builder(ctx, run)
    data = {"outcome": outcome, "rationale": rationale, "attempt": task.attempt,
            "data_hash": data_under_decision(run, ctx.playbook, step)}
    seen = documents_under_decision(run, ctx.playbook, step)
    if seen:  # the documents it was made on, named in the history (data_hash covers them too)
        data["documents"] = seen
    b.emit("recommendation.recorded", actor=actor, task=task.id, step=step.id, auth=authority("role", "recommend"),
           data=data)
    return b


def reassign(ctx: Context, run: RunState, *, task_id: str, actor: str, to: str, reason: str) -> Builder:
    pb, directory = ctx.playbook, ctx.directory
    task = run.task(task_id)
    if task is None:
        raise NotFound(f"unknown task {task_id!r}", rule="unknown-task")
    if not directory.is_actor(to):
        raise NotFound(f"unknown actor {to!r}", rule="unknown-actor")
    if task.type not in ("task", "decision", "action"):
        raise InvalidInput(f"task {task_id} is a {task.type} and has no assignee", rule="wrong-task-type")
    roles = {"workflow owner": pb.workflow_owner, "outcome owner": pb.outcome.owner}
    held = next((name for name, who in roles.items() if who == actor), None)
    auth = authority("owner", held)
    if held is None and actor in task.pulled_in:  # SPEC §3.3: pulled in by an escalation, may hand it on
        held, auth = "pulled in", authority("escalation", "pulled in")
    if held is None:
        raise Forbidden(f"only the workflow owner ({pb.workflow_owner}) or the outcome owner ({pb.outcome.owner}) "
                        f"may reassign task {task_id}", rule="reassign-not-owner")
    if not reason.strip():
        raise Forbidden("a reassignment needs a reason", rule="reason-required")
    if not task.is_open or run.status != RunStatus.RUNNING:
        raise InvalidTransition(f"task {task_id} is {task.status}", rule="task-state")
    if to == task.assignee:
        raise InvalidTransition(f"task {task_id} is already assigned to {to}", rule="already-assigned")
    step = pb.step(task.step)
    if isinstance(step, DecisionStep):
        if to not in directory.members(task.approver or ""):
            raise Forbidden(f"{to} does not hold approve at step {step.id}", rule="not-an-approver")
        why = delegate_exclusion(run, pb, step, to, None)
        if why:
            raise Forbidden(f"separation of duties at step {step.id}: {why}", rule="separation-of-duties")
        if not agent_may_approve(directory, step, task.authority_row, to, ctx.autonomy,
                                 expression_context(run, pb)):
            raise Forbidden(f"agent {to} may not decide step {step.id}", rule="agent-not-authorized")
        if any(t.assignee == to and t.is_open for t in run.latest(step.id)):
            raise Forbidden(f"{to} already holds a seat of step {step.id}", rule="seat-taken")
    else:
        owner = getattr(step, "owner", None) or task.approver or ""
        members = directory.members(owner)
        has_gap = not any(directory.is_available(m, ctx.now) for m in members)
        if to not in members and not (has_gap and directory.is_person(to)):
            raise Forbidden(f"{to} is not a member of {owner}, which has available members", rule="not-a-member")
    b = Builder(ctx, run)
    b.emit("assignment.changed", actor=actor, task=task.id, step=task.step, auth=auth,
           data={"from": task.assignee, "to": to, "kind": "reassignment", "reason": reason, "blocked": False})
    return b


def cancel_run(ctx: Context, run: RunState, *, actor: str, reason: str) -> Builder:
    pb = ctx.playbook
    if actor not in (run.started_by, pb.workflow_owner, pb.outcome.owner):
        raise Forbidden("only the starter, the workflow owner or the outcome owner may cancel a run",
                        rule="cancel-not-allowed")
    if not reason.strip():
        raise Forbidden("cancelling a run needs a reason", rule="reason-required")
    b = Builder(ctx, run)
    _Flow(b).end(RunStatus.CANCELLED, "run.cancelled", actor=actor, auth=authority("owner", actor),
                 data={"reason": reason})
    return b


def expire_run(ctx: Context, run: RunState, *, reason: str) -> Builder:
    """The system cancels a run whose time ran out (an approval request nobody decided); each open task is
    cancelled with `reason`. A run that has ended already is left as it is."""
    b = Builder(ctx, run)
    if run.status == RunStatus.RUNNING:
        _Flow(b).end(RunStatus.CANCELLED, "run.cancelled", data={"reason": reason}, reason=reason)
    return b


def _system_action(run: RunState, task_id: str) -> TaskState:
    task = run.task(task_id)
    if task is None or task.type != "action":
        raise NotFound(f"no action task {task_id!r}", rule="unknown-task")
    if not task.is_open or task.assignee is not None or run.status != RunStatus.RUNNING:
        raise InvalidTransition(f"action task {task_id} is no longer waiting on the system", rule="task-state")
    return task


def action_succeeded(ctx: Context, run: RunState, *, task_id: str, output: Any, attempts: int) -> Builder:
    """The worker's call returned: its JSON body becomes the step's output and the flow moves on.

    Raises:
        SchemaViolation: the body does not fit `produces` (the worker then treats the call as failed).
    """
    task = _system_action(run, task_id)
    step = ctx.playbook.step(task.step)
    document = output if isinstance(output, dict) else {"result": output}
    validate(getattr(step, "validator", None), document, f"the output of action {step.id}")
    b = Builder(ctx, run)
    b.emit("action.called", task=task.id, step=task.step, data={"ok": True, "attempts": attempts})
    b.emit("task.completed", task=task.id, step=task.step, data={"output": document})
    _Flow(b).advance()
    return b


def action_failed(ctx: Context, run: RunState, *, task_id: str, error: str, attempts: int) -> Builder:
    """The call's retries are spent: the task goes to its owner, ready, with the error attached."""
    task = _system_action(run, task_id)
    step = ctx.playbook.step(task.step)
    b = Builder(ctx, run)
    owner = _Flow(b).action_owner(step) if isinstance(step, ActionStep) else None
    b.emit("action.failed", task=task.id, step=task.step, data={"error": error, "attempts": attempts})
    pick = route(ctx.directory, owner or "", ctx.now, workload=ctx.workload, pending=b.pending,
                 playbook=ctx.playbook.id, step=task.step, strategy="least-loaded", eligible=_anyone)
    if pick is None:
        fallback = ctx.playbook.workflow_owner or "admin"
        b.emit("ownership.gap", task=task.id, step=task.step, data={"role": owner, "resolved_to": fallback,
                                                                "blocked": False, "attempt": task.attempt})
        pick = Pick(assignee=fallback)
    b.emit("assignment.changed", task=task.id, step=task.step, auth=authority("role", owner),
                     data={"from": None, "to": pick.assignee, "kind": "routing", "on_behalf_of": pick.on_behalf_of,
                           "reason": f"the action failed: {error}", "blocked": False})
    return b
