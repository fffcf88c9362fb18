"""Runs kept across transactions, each as of its chain head.

Every change to a run's state appends to the run's hash chain, so the chain head's hash names one state:
a run kept under the hash its head had is current exactly while the stored head still has that hash. A
command reads the run row with its head anyway (one indexed statement) and skips reading the run's tasks
and recommendations when the head matches. A kept run that never committed (its transaction rolled back)
is harmless: the stored head then has another hash, and the run is read afresh.

Used on SQLite only, where a write transaction sees every committed change (one writer at a time). On
PostgreSQL a row lock taken while another transaction commits may pair the locked row with an older
head, so there the run is always read.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from ledgerflow.domain.runs import RunState

RUNS_KEPT = 4096
"""Runs kept per store: the runs being worked on at once by a busy service (a few MB)."""


class RunCache:
    """The last runs read or written, by id, each with the head hash it is current for."""

    def __init__(self, size: int = RUNS_KEPT):
        self._size = size
        self._runs: OrderedDict[str, tuple[str, RunState]] = OrderedDict()
        self._task_runs: dict[str, str] = {}  # task id -> run id, for the kept runs' tasks
        self._lock = threading.Lock()  # a store is shared by a service's threads

    def get(self, run_id: str, head_hash: str) -> RunState | None:
        """The run if kept for this head hash."""
        with self._lock:
            kept = self._runs.get(run_id)
            if kept is None or kept[0] != head_hash:
                return None
            self._runs.move_to_end(run_id)
            return kept[1]

    def put(self, head_hash: str, run: RunState) -> None:
        with self._lock:
            self._runs[run.id] = (head_hash, run)
            self._runs.move_to_end(run.id)
            for task in run.tasks:
                self._task_runs[task.id] = run.id
            while len(self._runs) > self._size:
                _, (_, gone) = self._runs.popitem(last=False)
                self._forget_tasks(gone)

    def drop(self, run_id: str) -> None:
        with self._lock:
            gone = self._runs.pop(run_id, None)
            if gone is not None:
                self._forget_tasks(gone[1])

    def _forget_tasks(self, run: RunState) -> None:
        for task in run.tasks:
            self._task_runs.pop(task.id, None)

    def run_of_task(self, task_id: str) -> str | None:
        """The run of a task of a kept run (a task never moves to another run)."""
        return self._task_runs.get(task_id)
