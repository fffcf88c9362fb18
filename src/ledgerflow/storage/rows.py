"""Task, run, recommendation and mark rows to and from the domain's objects."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from operator import attrgetter
from typing import Any

from ledgerflow.domain.attachments import Attachment, records
from ledgerflow.domain.figures import Marks
from ledgerflow.domain.runs import Recommendation, RunState, TaskState
from ledgerflow.domain.states import RunStatus, TaskStatus

OPEN = ["ready", "in_progress"]  # the open task statuses, as stored
TASK_COLUMNS = [f.name for f in fields(TaskState)]

RUN_COMPARED = ("id", "playbook", "version", "status", "started_by", "started_at", "ended_at", "input", "why",
                "attachments", "held", "exception", "reworked", "failed_check")
TASK_COMPARED = (*(c for c in TASK_COLUMNS if c != "pulled_in"), "pulled_in")
RECOMMENDATION_COMPARED = ("run", "task", "step", "attempt", "actor", "outcome", "rationale", "data_hash", "at")
"""The columns `audit verify` reads to compare with a replayed run, in the order of `compared`'s tuples."""
_TASK_PLAIN = attrgetter(*TASK_COMPARED[:-1])
_RECOMMENDATION = attrgetter(*RECOMMENDATION_COMPARED[1:])

Compared = tuple[tuple[Any, ...], list[tuple[Any, ...]], set[tuple[Any, ...]]]
"""A run as rows: its run row with the scorecard flags, its task rows in order, its recommendation rows."""


def compared(run: RunState, flags: tuple[bool, bool, bool] | None) -> Compared:
    """A run and its scorecard flags as `Tx.run_rows` reads them back when the rows hold exactly this state.

    Rows equal to these are rows `run_from`, `task_from` and `recommendation_from` build this state from, so
    `audit verify` need not build states from rows (most of its comparison's cost); rows that differ only in
    form (a boolean stored as 2, `[]` for a null) are not equal here and are left to the domain comparison.
    """
    flagged = flags or (None, None, None)
    row = (run.id, run.playbook, run.version, run.status, run.started_by, run.started_at, run.ended_at, run.input,
           run.why, records(run.attachments), run.held or None, *flagged)
    tasks = [(*_TASK_PLAIN(t), list(t.pulled_in) or None) for t in run.tasks]
    return row, tasks, {(run.id, *_RECOMMENDATION(r)) for r in run.recommendations}


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
