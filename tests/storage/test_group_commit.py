"""SQLite writers in one process queue up and share a commit; each stays atomic and durable when it returns."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from ledgerflow.domain.errors import Conflict, EnvironmentProblem, LedgerflowError
from ledgerflow.domain.events import Event
from ledgerflow.domain.runs import TaskState
from ledgerflow.domain.times import format_time
from ledgerflow.engine import service
from ledgerflow.storage.store import Store
from ledgerflow.trust import audit
from tests.conftest import ADMIN, DIRECTORY, PRICING, make_store
from tests.engine.helpers import GOOD_OUTPUT, caller, only_open, snapshot, start


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = make_store(tmp_path, backend="sqlite")
    service.load_directory_file(store, str(DIRECTORY), ADMIN)
    service.publish(store, str(PRICING), ADMIN)
    yield store
    store.close()


def _commits(store: Store) -> list[int]:
    seen: list[int] = []
    event.listen(store.engine, "commit", lambda _conn: seen.append(1))
    return seen


def _complete(store: Store, task: TaskState) -> Callable[[], Any]:
    return lambda: service.task_command(store, "complete", task.id, caller(task.assignee), output=GOOD_OUTPUT)


def _queued(store: Store, writers: int) -> None:
    """Wait until `writers` threads wait for the write turn."""
    deadline = time.monotonic() + 10
    while store._writers._waiting < writers:  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "writers never queued"
        time.sleep(0.001)


def _group(store: Store, first: Callable[[], Any], behind: list[Callable[[], Any]],
           after: Callable[[int, Any], None] | None = None) -> list[Any]:
    """Run `first` in a write that holds the turn until every command of `behind` queues behind it."""
    results: list[Any] = [None] * (1 + len(behind))

    def run(index: int, command: Callable[[], Any]) -> None:
        try:
            results[index] = command()
        except LedgerflowError as exc:
            results[index] = exc
            return
        if after is not None:
            after(index, results[index])

    holding = threading.Event()

    def leader() -> Any:
        with store.write():
            holding.set()
            answer = first()
            _queued(store, len(behind))
        return answer

    threads = [threading.Thread(target=run, args=(0, leader))]
    threads[0].start()
    assert holding.wait(timeout=60), "the leader never took the write turn"  # it takes the turn first
    for index, command in enumerate(behind, start=1):
        threads.append(threading.Thread(target=run, args=(index, command)))
        threads[-1].start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def _status(store: Store, task: TaskState) -> str:
    with store.read() as tx:
        (now,) = [t for t in tx.tasks(run=task.run) if t.id == task.id]
    return str(now.status)


def _open_tasks(store: Store, runs: int) -> list[TaskState]:
    return [only_open(store, start(store).id) for _ in range(runs)]


def test_writers_that_queue_share_one_commit_and_each_is_durable_when_it_returns(sqlite_store: Store) -> None:
    tasks = _open_tasks(sqlite_store, 4)
    path = make_url(sqlite_store.url).database
    seen_by_others: dict[int, str] = {}

    def check_from_another_connection(index: int, _answer: Any) -> None:
        with sqlite3.connect(str(path)) as other:
            (status,) = other.execute("SELECT status FROM tasks WHERE id = ?", (tasks[index].id,)).fetchone()
        seen_by_others[index] = status

    commits = _commits(sqlite_store)
    results = _group(sqlite_store, _complete(sqlite_store, tasks[0]), [_complete(sqlite_store, t) for t in tasks[1:]],
                     after=check_from_another_connection)
    assert all(isinstance(r, dict) for r in results), results
    assert len(commits) == 1  # four commands, one commit (one fsync)
    assert seen_by_others == {0: "completed", 1: "completed", 2: "completed", 3: "completed"}
    assert audit.verify(sqlite_store)["ok"]


def test_a_command_that_fails_in_a_group_takes_back_only_its_own_changes(sqlite_store: Store) -> None:
    tasks = _open_tasks(sqlite_store, 3)

    def fails_after_writing() -> None:
        with sqlite_store.write() as tx:
            tx.load_run(str(tasks[1].run))
            tx.append([Event(type="nudge.sent", at=format_time(tx.now()), actor="system", run=tasks[1].run)])
            raise Conflict("refused after it had written", rule="test")

    commits = _commits(sqlite_store)
    results = _group(sqlite_store, _complete(sqlite_store, tasks[0]),
                     [fails_after_writing, _complete(sqlite_store, tasks[2])])
    assert isinstance(results[0], dict) and isinstance(results[2], dict), results
    assert isinstance(results[1], Conflict), results
    assert len(commits) == 1
    assert [_status(sqlite_store, t) for t in tasks] == ["completed", "ready", "completed"]
    with sqlite_store.read() as tx:
        assert "nudge.sent" not in {e["type"] for e in tx.events(run=tasks[1].run)}
    assert audit.verify(sqlite_store)["ok"]


def test_a_failed_group_commit_fails_every_command_in_it_and_loses_nothing_recorded(sqlite_store: Store) -> None:
    tasks = _open_tasks(sqlite_store, 3)
    before = snapshot(sqlite_store)

    def disk_full(_conn: Any) -> None:
        event.remove(sqlite_store.engine, "commit", disk_full)  # fail this one commit only
        raise OperationalError("COMMIT", {}, Exception("database or disk is full"))

    event.listen(sqlite_store.engine, "commit", disk_full)
    results = _group(sqlite_store, _complete(sqlite_store, tasks[0]), [_complete(sqlite_store, tasks[1])])
    assert all(isinstance(r, EnvironmentProblem) for r in results), results
    assert snapshot(sqlite_store) == before  # neither command was acknowledged, neither is kept
    assert isinstance(_complete(sqlite_store, tasks[2])(), dict)  # the next command starts afresh
    assert audit.verify(sqlite_store)["ok"]


def test_many_threads_writing_at_once_all_land_and_the_log_verifies(sqlite_store: Store) -> None:
    tasks = _open_tasks(sqlite_store, 24)
    commits = _commits(sqlite_store)
    barrier = threading.Barrier(len(tasks))
    results: list[Any] = [None] * len(tasks)

    def work(index: int) -> None:
        barrier.wait()
        results[index] = _complete(sqlite_store, tasks[index])()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(tasks))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(isinstance(r, dict) for r in results), results
    assert 1 <= len(commits) <= len(tasks)
    assert {_status(sqlite_store, t) for t in tasks} == {"completed"}
    assert audit.verify(sqlite_store)["ok"]


def test_a_group_left_without_its_committer_is_committed_by_a_writer_in_it(sqlite_store: Store) -> None:
    task = _open_tasks(sqlite_store, 1)[0]
    writers = sqlite_store._writers
    assert writers is not None
    result: list[Any] = []

    def leader() -> None:
        with sqlite_store.write():
            answer = _complete(sqlite_store, task)()
            with writers._counter:  # a writer queues behind ...
                writers._waiting += 1
        result.append(answer)

    thread = threading.Thread(target=leader)
    thread.start()
    deadline = time.monotonic() + 10
    while writers._group is None or writers._turn.locked():  # ... the turn is handed to it ...
        assert time.monotonic() < deadline
        time.sleep(0.001)
    with writers._counter:  # ... and it gives up (its busy timeout) without taking the turn
        writers._waiting -= 1
    thread.join(timeout=10)
    assert result and isinstance(result[0], dict)
    assert _status(sqlite_store, task) == "completed"
    assert audit.verify(sqlite_store)["ok"]
