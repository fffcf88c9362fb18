"""A run's state from its stored events, folded in place: what `audit verify` replays for every run.

`evolve` (runs.py) returns a new frozen run, and a new tuple of tasks, for every event; over a whole log that is
most of a verify's replay. `fold` applies the same changes to plain dicts and builds the frozen state once, at
the end. It takes the events a run's life is made of; anything else (an event `evolve` would refuse, a second
start, a task id used twice, documents attached or removed, a pulled-in escalation) raises `Unfolded`, and the
caller replays that run through `evolve`, whose verdict (a state or an error) stands. Property tests hold the
two equal on generated runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import MISSING
from typing import Any

from ledgerflow.domain.attachments import Attachment
from ledgerflow.domain.events import CHANNELS, EVENT_TYPES
from ledgerflow.domain.runs import Recommendation, RunState, TaskState
from ledgerflow.domain.states import RunStatus, TaskStatus, check_task_move

_NEW_TASK = {"task.ready": TaskStatus.READY, "step.skipped": TaskStatus.SKIPPED,
             "check.passed": TaskStatus.COMPLETED, "check.failed": TaskStatus.FAILED}
_RUN_ENDS = {"run.completed": RunStatus.COMPLETED, "run.rejected": RunStatus.REJECTED,
             "run.cancelled": RunStatus.CANCELLED}
_LEFT_TO_EVOLVE = frozenset({"attachment.removed", "escalation.pulled_in"})
_TASK_DEFAULTS = {name: f.default for name, f in TaskState.__dataclass_fields__.items() if f.default is not MISSING}
_TASK_FIELDS = frozenset(TaskState.__dataclass_fields__)
_REQUIRED_FROM_DATA = ("type", "assignee")  # the fields without a default that a new task takes from its event


class Unfolded(Exception):
    """The events hold something `fold` leaves to `evolve`."""


def fold(rows: Iterable[dict[str, Any]]) -> RunState | None:
    """The state `evolve` gives for a run's events (stored rows, in chain order); raises Unfolded when `fold`
    cannot say."""
    try:
        return _fold(rows)
    except Unfolded:
        raise
    except Exception as exc:  # whatever failed here, `evolve` decides (it may fail the same way)
        raise Unfolded(str(exc)) from exc


def _fold(rows: Iterable[dict[str, Any]]) -> RunState | None:
    run: dict[str, Any] | None = None
    tasks: dict[Any, dict[str, Any]] = {}
    recommendations: list[Recommendation] = []
    for row in rows:
        kind, at, data = row["type"], row["at"], row["data"]
        if kind not in EVENT_TYPES or row["channel"] not in CHANNELS or kind in _LEFT_TO_EVOLVE:
            raise Unfolded(kind)
        if kind == "run.started":
            if run is not None:
                raise Unfolded("started twice")
            run = {"id": str(row["run"]), "playbook": data["playbook"], "version": data["version"],
                   "status": RunStatus.RUNNING, "started_by": row["actor"], "started_at": at, "ended_at": None,
                   "input": data["input"], "why": data.get("why"), "held": False,
                   "attachments": tuple(Attachment.of(d, actor=row["actor"], at=at)
                                        for d in data.get("attachments", ()))}
            continue
        if run is None:
            continue
        if kind in _NEW_TASK:
            fields = {k: v for k, v in data.items() if k in _TASK_FIELDS}
            if kind != "task.ready":
                fields["ended_at"] = at
            fields.update(status=_NEW_TASK[kind], run=run["id"], playbook=run["playbook"], step=row["step"],
                          id=row["task"], ready_at=fields.get("ready_at", at))
            if row["task"] in tasks or any(name not in fields for name in _REQUIRED_FROM_DATA):
                raise Unfolded("a task id used twice, or a task without its type or assignee")
            tasks[row["task"]] = _TASK_DEFAULTS | fields
        elif kind in _RUN_ENDS:
            run["status"], run["ended_at"] = _RUN_ENDS[kind], at
        elif kind == "task.started":
            _change(tasks, str(row["task"]), status=TaskStatus.IN_PROGRESS, started_at=at)
        elif kind == "task.completed":
            if data.get("attachments"):
                raise Unfolded("documents attached")
            _change(tasks, str(row["task"]), status=TaskStatus.COMPLETED, ended_at=at, output=data.get("output", {}))
        elif kind == "task.decided":
            _change(tasks, str(row["task"]), status=TaskStatus.DECIDED, ended_at=at, outcome=data["outcome"],
                    rationale=data.get("rationale"), data_hash=data.get("data_hash"))
        elif kind == "task.cancelled":
            _change(tasks, str(row["task"]), status=TaskStatus.CANCELLED, ended_at=at)
        elif kind == "task.sent_back":
            for task_id in data.get("superseded", []):
                _change(tasks, task_id, status=TaskStatus.SENT_BACK)
            for task_id in data.get("cancelled", []):
                _change(tasks, task_id, status=TaskStatus.CANCELLED, ended_at=at)
        elif kind == "assignment.changed":
            task = tasks.get(str(row["task"]))
            if task is None:
                raise Unfolded("assignment of an unknown task")
            _change(tasks, str(row["task"]), assignee=data["to"], on_behalf_of=data.get("on_behalf_of"),
                    escalated=data.get("kind") == "escalation" or task["escalated"],
                    blocked=bool(data.get("blocked", False)))
        elif kind == "action.failed":
            _change(tasks, str(row["task"]), error=data.get("error"))
        elif kind == "recommendation.recorded":
            recommendations = [r for r in recommendations if not (r.task == row["task"] and r.actor == row["actor"])]
            recommendations.append(Recommendation(
                task=str(row["task"]), step=str(row["step"]), attempt=data["attempt"], actor=row["actor"],
                outcome=data["outcome"], rationale=data["rationale"], data_hash=data["data_hash"], at=at))
        elif kind in ("run.held", "run.released"):
            run["held"] = kind == "run.held"
    if run is None:
        return None
    return RunState(**run, tasks=tuple(TaskState(**task) for task in tasks.values()),
                    recommendations=tuple(recommendations))


def _change(tasks: dict[Any, dict[str, Any]], task_id: Any, **changes: Any) -> None:
    """`_with_task` in place: the task's status may only move as `check_task_move` allows; an unknown id
    changes nothing."""
    task = tasks.get(task_id)
    if task is None:
        return
    if "status" in changes and changes["status"] != task["status"]:
        check_task_move(task["status"], changes["status"], task["id"])
    task.update(changes)
