"""Commands racing in threads: one winner per task, no lost or duplicated events (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ledgerflow import audit, service
from ledgerflow.domain.errors import LedgerflowError, Refused
from ledgerflow.storage.store import Store
from tests.engine.helpers import GOOD_OUTPUT, act, only_open, start


def _race(workers: list[Callable[[], Any]]) -> list[Any]:
    barrier = threading.Barrier(len(workers))
    results: list[Any] = [None] * len(workers)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = workers[index]()
        except LedgerflowError as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_two_deciders_racing_on_one_task_have_exactly_one_winner(store: Store) -> None:
    run = start(store)
    decision = act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)["opened"][0]
    who = service.Caller(actor=str(decision.assignee))
    results = _race([
        lambda: service.task_command(store, "decide", decision.id, who, outcome="approve", rationale="a", to=None),
        lambda: service.task_command(store, "decide", decision.id, who, outcome="reject", rationale="b", to=None),
    ])
    wins = [r for r in results if isinstance(r, dict)]
    losses = [r for r in results if isinstance(r, Refused)]
    assert len(wins) == 1 and len(losses) == 1, results
    with store.read() as tx:
        decided = [e for e in tx.events(run=run.id) if e["type"] == "task.decided"]
    assert len(decided) == 1
    assert audit.verify(store)["ok"]


def test_commands_on_different_runs_in_parallel_lose_no_events(store: Store) -> None:
    runs = [start(store) for _ in range(6)]
    tasks = [only_open(store, r.id) for r in runs]
    with store.read() as tx:
        before = tx.chain_head().seq
    results = _race([
        (lambda t=t: service.task_command(store, "complete", t.id, service.Caller(actor=str(t.assignee)),
                                          output=GOOD_OUTPUT))
        for t in tasks
    ])
    assert all(isinstance(r, dict) for r in results), results
    with store.read() as tx:
        rows = tx.events(after_seq=before)
        head = tx.chain_head().seq
    assert [r["seq"] for r in rows] == list(range(before + 1, head + 1))
    assert {r["run"] for r in rows if r["run"]} == {r.id for r in runs}
    assert audit.verify(store)["ok"]
