"""Run and task statuses and the moves allowed between them (one mapping each)."""

from __future__ import annotations

from enum import StrEnum

from ledgerflow.domain.errors import InvalidTransition


class RunStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class TaskStatus(StrEnum):
    READY = "ready"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    DECIDED = "decided"
    SENT_BACK = "sent_back"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    FAILED = "failed"


OPEN_TASK = frozenset({TaskStatus.READY, TaskStatus.IN_PROGRESS})

RUN_MOVES: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.RUNNING: frozenset({RunStatus.COMPLETED, RunStatus.REJECTED, RunStatus.CANCELLED}),
    RunStatus.COMPLETED: frozenset(),
    RunStatus.REJECTED: frozenset(),
    RunStatus.CANCELLED: frozenset(),
}

TASK_MOVES: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.READY: frozenset({TaskStatus.IN_PROGRESS, TaskStatus.COMPLETED, TaskStatus.DECIDED,
                                 TaskStatus.SENT_BACK, TaskStatus.CANCELLED, TaskStatus.FAILED}),
    TaskStatus.IN_PROGRESS: frozenset({TaskStatus.COMPLETED, TaskStatus.DECIDED, TaskStatus.SENT_BACK,
                                       TaskStatus.CANCELLED, TaskStatus.FAILED, TaskStatus.READY}),
    # Done work is superseded by rework; a failed check or action stays as history.
    TaskStatus.COMPLETED: frozenset({TaskStatus.SENT_BACK}),
    TaskStatus.DECIDED: frozenset({TaskStatus.SENT_BACK}),
    TaskStatus.SKIPPED: frozenset({TaskStatus.SENT_BACK}),
    TaskStatus.FAILED: frozenset({TaskStatus.SENT_BACK, TaskStatus.READY}),
    TaskStatus.SENT_BACK: frozenset(),
    TaskStatus.CANCELLED: frozenset(),
}


def check_run_move(current: RunStatus, target: RunStatus, run_id: str) -> None:
    """Raises InvalidTransition when a run may not go from `current` to `target`."""
    if target not in RUN_MOVES[current]:
        raise InvalidTransition(f"run {run_id} is {current}; it cannot become {target}",
                                rule="run-state", details={"run": run_id, "from": current, "to": target})


def check_task_move(current: TaskStatus, target: TaskStatus, task_id: str) -> None:
    """Raises InvalidTransition when a task may not go from `current` to `target`."""
    if target not in TASK_MOVES[current]:
        raise InvalidTransition(f"task {task_id} is {current}; it cannot become {target}",
                                rule="task-state", details={"task": task_id, "from": current, "to": target})
