"""Runs kept across transactions (SQLite) serve only while their chain head is the one they were kept for."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from ledgerflow.domain.runs import RunState, TaskState
from ledgerflow.domain.states import RunStatus, TaskStatus
from ledgerflow.engine import service
from ledgerflow.storage.run_cache import RunCache
from ledgerflow.storage.store import Store
from ledgerflow.trust import audit
from tests.conftest import ADMIN, DIRECTORY, PRICING, make_store
from tests.engine.helpers import GOOD_OUTPUT, act, only_open, run_state, start


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    """The shared directory and pricing-exception on SQLite (PostgreSQL reads every run: see run_cache.py)."""
    store = make_store(tmp_path)
    service.load_directory_file(store, str(DIRECTORY), ADMIN)
    service.publish(store, str(PRICING), ADMIN)
    yield store
    store.close()


def _fresh(store: Store, run_id: str) -> RunState:
    """The run as a store with nothing kept reads it from its rows."""
    other = Store(store.url)
    try:
        return run_state(other, run_id)
    finally:
        other.close()


def test_a_command_takes_the_run_the_last_one_left_without_reading_its_tasks(sqlite_store: Store) -> None:
    run = start(sqlite_store)
    task = only_open(sqlite_store, run.id)
    statements: list[str] = []
    with sqlite_store.write() as tx:
        driver = tx.conn.connection.driver_connection
        driver.set_trace_callback(statements.append)  # type: ignore[union-attr]
        kept = tx.load_task_run(task.id)
        driver.set_trace_callback(None)  # type: ignore[union-attr]
    assert kept == _fresh(sqlite_store, run.id)
    assert len(statements) == 1 and "FROM runs" in statements[0], statements  # the run row with its head only


def test_a_run_moved_on_by_another_process_is_read_afresh(sqlite_store: Store) -> None:
    run = start(sqlite_store)
    task = only_open(sqlite_store, run.id)
    run_state(sqlite_store, run.id)  # kept by this store
    other = Store(sqlite_store.url)
    try:
        act(other, "complete", task, output=GOOD_OUTPUT)
    finally:
        other.close()
    now = run_state(sqlite_store, run.id)
    assert now.task(task.id).status == TaskStatus.COMPLETED  # type: ignore[union-attr]
    assert now == _fresh(sqlite_store, run.id)
    decision = only_open(sqlite_store, run.id)  # and a command here goes on from there
    act(sqlite_store, "decide", decision, outcome="approve", rationale="ok", to=None)
    assert audit.verify(sqlite_store)["ok"]


def test_a_command_that_rolled_back_leaves_nothing_kept_that_a_later_one_uses(sqlite_store: Store) -> None:
    run = start(sqlite_store)
    task = only_open(sqlite_store, run.id)
    with pytest.raises(RuntimeError), sqlite_store.write():
        act(sqlite_store, "complete", task, output=GOOD_OUTPUT)  # joins the transaction that then fails
        raise RuntimeError("after the command, before the commit")
    assert run_state(sqlite_store, run.id) == _fresh(sqlite_store, run.id) == run
    act(sqlite_store, "complete", task, output=GOOD_OUTPUT)
    assert run_state(sqlite_store, run.id) == _fresh(sqlite_store, run.id)
    assert audit.verify(sqlite_store)["ok"]


def test_a_run_saved_without_an_event_is_not_kept(sqlite_store: Store) -> None:
    run = start(sqlite_store)
    with sqlite_store.write() as tx:
        loaded = tx.load_run(run.id)
        tx.save_run(loaded, replace(loaded, status=RunStatus.CANCELLED, ended_at=loaded.started_at))
    assert run_state(sqlite_store, run.id).status == RunStatus.CANCELLED  # read from the rows it wrote


def _run(run_id: str, *task_ids: str) -> RunState:
    tasks = tuple(TaskState(id=t, run=run_id, playbook="p", step="s", type="task", status=TaskStatus.READY,
                            assignee="a", ready_at="2026-01-01T00:00:00.000000Z") for t in task_ids)
    return RunState(id=run_id, playbook="p", version=1, status=RunStatus.RUNNING, started_by="a",
                    started_at="2026-01-01T00:00:00.000000Z", tasks=tasks)


def test_the_cache_holds_the_last_runs_each_for_one_head() -> None:
    cache = RunCache(size=2)
    first, second, third = _run("r1", "t1"), _run("r2", "t2"), _run("r3", "t3", "t4")
    cache.put("h1", first)
    cache.put("h2", second)
    assert cache.get("r1", "h1") is first and cache.get("r1", "other head") is None
    cache.put("h3", third)  # r2 was used longest ago
    assert cache.get("r2", "h2") is None and cache.run_of_task("t2") is None
    assert cache.run_of_task("t4") == "r3" and cache.get("r1", "h1") is first
    cache.drop("r3")
    assert cache.get("r3", "h3") is None and cache.run_of_task("t3") is None
