"""Task, run, recommendation and mark rows to and from the domain's objects."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from ledgerflow.domain.attachments import Attachment
from ledgerflow.domain.figures import Marks
from ledgerflow.domain.runs import Recommendation, RunState, TaskState
from ledgerflow.domain.states import RunStatus, TaskStatus

OPEN = ["ready", "in_progress"]  # the open task statuses, as stored
TASK_COLUMNS = [f.name for f in fields(TaskState)]


def task_row(task: TaskState, ord_: int) -> dict[str, Any]:
    row = {name: getattr(task, name) for name in TASK_COLUMNS}
    row["status"] = str(task.status)
    row["pulled_in"] = list(task.pulled_in) or None
    row["ord"] = ord_
    return row


def recommendation_from(x: Any) -> Recommendation:
    return Recommendation(task=x.task, step=x.step, attempt=x.attempt, actor=x.actor, outcome=x.outcome,
                          rationale=x.rationale, data_hash=x.data_hash, at=x.at)


def run_from(row: Any, tasks: Sequence[TaskState], recs: Sequence[Recommendation]) -> RunState:
    return RunState(id=row.id, playbook=row.playbook, version=row.version, status=RunStatus(row.status),
                    started_by=row.started_by, started_at=row.started_at, ended_at=row.ended_at, input=row.input,
                    why=row.why, tasks=tuple(tasks), recommendations=tuple(recs),
                    attachments=tuple(Attachment.from_dict(a) for a in row.attachments or ()), held=bool(row.held))


def marks_from(row: Any) -> Marks:
    return Marks(decided=row.decided, below=row.below, above=row.above, max_below=row.max_below,
                 min_above=row.min_above)


def task_from(row: Any) -> TaskState:
    values = row._asdict()
    values.pop("ord", None)
    values["status"] = TaskStatus(values["status"])
    values["escalated"] = bool(values["escalated"])
    values["blocked"] = bool(values["blocked"])
    values["pulled_in"] = tuple(values["pulled_in"] or ())
    return TaskState(**values)
