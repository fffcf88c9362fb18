"""Commands racing in threads: one winner per task, no lost or duplicated events (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from ledgerflow.domain.errors import LedgerflowError, Refused
from ledgerflow.domain.events import Event
from ledgerflow.domain.times import format_time
from ledgerflow.engine import service
from ledgerflow.storage.store import Store
from ledgerflow.trust import audit
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
        before = tx.last_seq()
    results = _race([
        partial(service.task_command, store, "complete", t.id, service.Caller(actor=str(t.assignee)),
                output=GOOD_OUTPUT)
        for t in tasks
    ])
    assert all(isinstance(r, dict) for r in results), results
    with store.read() as tx:
        rows = tx.events(after_seq=before)
        heads = tx.chain_heads()
    assert len({r["seq"] for r in rows}) == len(rows)  # PostgreSQL's seqs may leave gaps, never repeat
    assert {r["run"] for r in rows} == {r.id for r in runs}
    for run in runs:  # each run's chain grew by its one command, linked to its head
        mine = [r for r in rows if r["chain"] == run.id]
        assert heads[run.id] == (mine[-1]["chain_seq"], mine[-1]["hash"])
    assert audit.verify(store)["ok"]


class _Abandon(Exception):
    """Rolls the held-open command back."""


def test_a_command_on_one_run_does_not_wait_for_an_open_command_on_another(store: Store) -> None:
    if store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer by design; PostgreSQL runs commands on different runs side by side")
    first, second = start(store), start(store)
    task = only_open(store, second.id)
    with pytest.raises(_Abandon), store.write() as tx:
        # a command on the first run holds its run and its chain head, appended but not committed ...
        tx.load_run(first.id)
        tx.append([Event(type="nudge.sent", at=format_time(tx.now()), actor="system", run=first.id)])
        # ... while a command on the second run goes through (with one global chain head it would queue here)
        outcome = _race([lambda: service.task_command(store, "complete", task.id,
                                                      service.Caller(actor=str(task.assignee)), output=GOOD_OUTPUT)])
        raise _Abandon
    assert isinstance(outcome[0], dict), outcome
    assert audit.verify(store)["ok"]
