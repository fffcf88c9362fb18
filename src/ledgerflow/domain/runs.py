"""Run and task state, and `evolve`: the fold that turns a run's events into its state.

The engine applies each event through `evolve` as it emits it, and `audit verify` folds the whole log
the same way, so the stored rows can always be rebuilt from the events alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from ledgerflow.domain.attachments import Attachment
from ledgerflow.domain.events import Event
from ledgerflow.domain.states import OPEN_TASK, RunStatus, TaskStatus, check_task_move


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskState:
    """One task row: a step of a run assigned to exactly one actor (or none, for system steps)."""

    id: str
    run: str | None
    playbook: str
    step: str
    type: str
    status: TaskStatus
    assignee: str | None
    attempt: int = 1
    seat: int = 0
    ready_at: str
    due_at: str | None = None
    sla_due_at: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    outcome: str | None = None
    rationale: str | None = None
    output: dict[str, Any] | None = None
    data_hash: str | None = None
    approver: str | None = None
    authority_row: int | None = None
    on_behalf_of: str | None = None
    escalated: bool = False
    blocked: bool = False
    error: str | None = None
    note: str | None = None
    """What a follow-up asks for (tasks without a step definition carry their own text)."""
    pulled_in: tuple[str, ...] = ()
    """Escalation targets without authority to approve (SPEC §3.3): they read the run and may reassign."""

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_TASK


@dataclass(frozen=True, slots=True, kw_only=True)
class Recommendation:
    task: str
    step: str
    attempt: int
    actor: str
    outcome: str
    rationale: str
    data_hash: str
    at: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RunState:
    """A run with its tasks (in creation order) and recommendations."""

    id: str
    playbook: str
    version: int
    status: RunStatus
    started_by: str
    started_at: str
    ended_at: str | None = None
    input: dict[str, Any] = field(default_factory=dict)
    why: str | None = None
    tasks: tuple[TaskState, ...] = ()
    recommendations: tuple[Recommendation, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    """Documents attached at the start and with task completions, in the order attached (SPEC §14)."""
    held: bool = False
    """A legal hold: retention removes none of the run's documents while it stands."""

    def task(self, task_id: str) -> TaskState | None:
        for task in self.tasks:
            if task.id == task_id:
                return task
        return None

    def latest(self, step: str) -> tuple[TaskState, ...]:
        """The tasks of a step's newest attempt."""
        rows = [t for t in self.tasks if t.step == step]
        if not rows:
            return ()
        attempt = max(t.attempt for t in rows)
        return tuple(t for t in rows if t.attempt == attempt)


_TASK_FIELDS = frozenset(TaskState.__dataclass_fields__)
_State = TypeVar("_State", TaskState, RunState)
_NEW, _SET = object.__new__, object.__setattr__


def renewed(state: _State, **changes: Any) -> _State:
    """`dataclasses.replace` for the run and task states, at under half its cost (it walks the fields' metadata on
    every call, and replaying a run replaces a state per event). Both are frozen and slotted with no
    `__post_init__`, so copying the slots is all `__init__` would do."""
    kind = type(state)
    if not changes.keys() <= kind.__dataclass_fields__.keys():
        raise TypeError(f"{kind.__name__} has no field {sorted(changes.keys() - kind.__dataclass_fields__.keys())}")
    new = _NEW(kind)
    for name in kind.__slots__:
        _SET(new, name, changes[name] if name in changes else getattr(state, name))
    return new


def _with_task(run: RunState, task_id: str, **changes: Any) -> RunState:
    tasks = []
    for task in run.tasks:
        if task.id == task_id:
            if "status" in changes and changes["status"] != task.status:
                check_task_move(task.status, changes["status"], task.id)
            task = renewed(task, **changes)
        tasks.append(task)
    return renewed(run, tasks=tuple(tasks))


def evolve(run: RunState | None, event: Event) -> RunState | None:
    """Apply one event to a run's state; events that change no run state return it unchanged."""
    data = event.data
    if event.type == "run.started":
        return RunState(id=str(event.run), playbook=data["playbook"], version=data["version"],
                        status=RunStatus.RUNNING, started_by=event.actor, started_at=event.at,
                        input=data["input"], why=data.get("why"),
                        attachments=tuple(Attachment.of(d, actor=event.actor, at=event.at)
                                          for d in data.get("attachments", ())))
    if run is None:
        return None
    match event.type:
        case "task.ready" | "step.skipped" | "check.passed" | "check.failed":
            fields = {k: v for k, v in data.items() if k in _TASK_FIELDS}
            status = {"task.ready": TaskStatus.READY, "step.skipped": TaskStatus.SKIPPED,
                      "check.passed": TaskStatus.COMPLETED, "check.failed": TaskStatus.FAILED}[event.type]
            if event.type != "task.ready":
                fields["ended_at"] = event.at
            fields.update(status=status, run=run.id, playbook=run.playbook, step=event.step,
                          id=event.task, ready_at=fields.get("ready_at", event.at))
            return renewed(run, tasks=(*run.tasks, TaskState(**fields)))
        case "task.started":
            return _with_task(run, str(event.task), status=TaskStatus.IN_PROGRESS, started_at=event.at)
        case "task.completed":
            run = _attached(run, event)
            return _with_task(run, str(event.task), status=TaskStatus.COMPLETED, ended_at=event.at,
                              output=data.get("output", {}))
        case "attachment.removed":
            return replace(run, attachments=tuple(
                replace(a, removed_at=event.at) if a.sha256 == data["sha256"] and a.removed_at is None else a
                for a in run.attachments))
        case "run.held":
            return replace(run, held=True)
        case "run.released":
            return replace(run, held=False)
        case "task.decided":
            return _with_task(run, str(event.task), status=TaskStatus.DECIDED, ended_at=event.at,
                              outcome=data["outcome"], rationale=data.get("rationale"),
                              data_hash=data.get("data_hash"))
        case "action.failed":
            return _with_task(run, str(event.task), error=data.get("error"))
        case "task.cancelled":
            return _with_task(run, str(event.task), status=TaskStatus.CANCELLED, ended_at=event.at)
        case "task.sent_back":
            for task_id in data.get("superseded", []):
                run = _with_task(run, task_id, status=TaskStatus.SENT_BACK)
            for task_id in data.get("cancelled", []):
                run = _with_task(run, task_id, status=TaskStatus.CANCELLED, ended_at=event.at)
            return run
        case "assignment.changed":
            return _with_task(run, str(event.task), assignee=data["to"], on_behalf_of=data.get("on_behalf_of"),
                              escalated=data.get("kind") == "escalation" or _current(run, event).escalated,
                              blocked=bool(data.get("blocked", False)))
        case "escalation.pulled_in":
            pulled = _current(run, event).pulled_in
            return _with_task(run, str(event.task), pulled_in=(*pulled, *(a for a in data["to"] if a not in pulled)))
        case "recommendation.recorded":
            kept = tuple(r for r in run.recommendations if not (r.task == event.task and r.actor == event.actor))
            rec = Recommendation(task=str(event.task), step=str(event.step), attempt=data["attempt"],
                                 actor=event.actor, outcome=data["outcome"], rationale=data["rationale"],
                                 data_hash=data["data_hash"], at=event.at)
            return renewed(run, recommendations=(*kept, rec))
        case "run.completed":
            return renewed(run, status=RunStatus.COMPLETED, ended_at=event.at)
        case "run.rejected":
            return renewed(run, status=RunStatus.REJECTED, ended_at=event.at)
        case "run.cancelled":
            return renewed(run, status=RunStatus.CANCELLED, ended_at=event.at)
        case _:
            return run


def _attached(run: RunState, event: Event) -> RunState:
    documents = event.data.get("attachments")
    if not documents:
        return run
    added = (Attachment.of(d, actor=event.actor, at=event.at, task=event.task, step=event.step) for d in documents)
    return replace(run, attachments=(*run.attachments, *added))


def _current(run: RunState, event: Event) -> TaskState:
    task = run.task(str(event.task))
    if task is None:
        raise ValueError(f"event {event.type} names unknown task {event.task}")
    return task
