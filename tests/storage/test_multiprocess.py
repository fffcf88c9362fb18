"""Four processes hammer decisions and timers on shared runs: nothing lost, nothing twice, the chain holds."""

from __future__ import annotations

import multiprocessing
import random
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import update

from ledgerflow.domain.errors import LedgerflowError
from ledgerflow.domain.times import format_time
from ledgerflow.engine import service
from ledgerflow.storage import schema
from ledgerflow.storage.store import Store
from ledgerflow.trust import audit
from tests.conftest import ADMIN, BACKENDS, DIRECTORY, PRICING, drop_schema, make_store
from tests.engine.helpers import GOOD_OUTPUT, act, only_open, start

RUNS = 12


def _hammer(url: str, seed: int, deadline: float) -> int:
    """One process: fire due timers and decide whatever decision is open, until nothing is left."""
    store = Store(url)
    rng = random.Random(seed)
    done = 0
    try:
        while time.monotonic() < deadline:
            service.fire_due_timers(store)
            with store.read() as tx:
                open_decisions = [t for t in tx.tasks(status="open") if t.type == "decision"]
                pending_timers = bool(tx.due_timers(format_time(tx.now()), 1))
            if not open_decisions and not pending_timers:
                return done
            rng.shuffle(open_decisions)
            for task in open_decisions[:3]:
                try:
                    service.task_command(store, "decide", task.id, service.Caller(actor=str(task.assignee)),
                                         outcome="approve", rationale=f"process {seed}", to=None)
                    done += 1
                except LedgerflowError:
                    pass  # lost a race, or the task was escalated to someone else meanwhile
        return done
    finally:
        store.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_four_processes_decide_and_fire_timers_exactly_once(backend: str, tmp_path: Path) -> None:
    store = make_store(tmp_path, simulated=False, backend=backend)
    try:
        service.load_directory_file(store, str(DIRECTORY), ADMIN)
        service.publish(store, str(PRICING), ADMIN)
        decisions = []
        for _ in range(RUNS):
            run = start(store)
            decisions.append(act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)["opened"][0])
        with store.engine.begin() as conn:  # every nudge, breach and escalation is due at once
            conn.execute(update(schema.timers).values(due_at="2000-01-01T00:00:00.000000Z"))
        with store.read() as tx:
            timers = len(tx.conn.execute(schema.timers.select()).all())  # the review cadence schedules one more
        context = multiprocessing.get_context("spawn")
        deadline = time.monotonic() + 90
        with context.Pool(4) as pool:
            decided = sum(pool.starmap(_hammer, [(store.url, seed, deadline) for seed in range(4)]))
        assert decided == RUNS
        with store.read() as tx:
            events = tx.events()
            fired = [r for r in tx.conn.execute(schema.timers.select()) if r.fired_at is not None]
        per_task = Counter((e["type"], e["task"]) for e in events)
        assert all(per_task[("task.decided", d.id)] == 1 for d in decisions)
        assert all(per_task[("nudge.sent", d.id)] <= 2 and per_task[("sla.breached", d.id)] <= 1 for d in decisions)
        assert len(fired) == timers and all(r.fired_at for r in fired)
        seqs = [e["seq"] for e in events]
        assert len(set(seqs)) == len(seqs)  # no event twice (PostgreSQL's seqs may leave gaps; chains may not)
        assert audit.verify(store)["ok"]
    finally:
        store.close()
        drop_schema(store.url)
