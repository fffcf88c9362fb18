"""Engine throughput on the shared pricing-exception playbook, driven through the Python API.

    python bench/engine.py --runs 300 [--db URL] [--seed 7] [--callers N]

All runs are started first, then their open tasks are worked round-robin: 80% of decisions approve,
10% reject, 10% send back once. Prints one JSON object (runs/s, human steps/s, events/s, durability).

Without `--db` the database is a new SQLite file (WAL, synchronous=FULL, one commit per command). With
`--callers N`, N threads share each round of the work, as a service's request handlers would; on SQLite the
commands that queue up then share a commit (each returns once its commit is durable). A
`postgresql://` URL names a server: the benchmark creates a schema of its own there and drops it after.
Governance reviews that risk triggers open (tasks without a run) are left alone: they are not part of the
process being measured.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from common import PRICING, is_postgres, new_store, pg_schema, playbook_without_triggers, scratch_dir, sqlite_url

from ledgerflow.engine import service
from ledgerflow.storage.database import normalize_url
from ledgerflow.storage.store import Store

OUTPUT = {"deal_sheet_url": "https://docs.example.com/d/1", "justification": "Competitor offered 20%, renewal"}
INPUT = {"deal_value": 12000, "discount_pct": 18}


def outcomes(seed: int) -> Iterator[str]:
    """The decision mix shared with the SpiffWorkflow peer: 80% approve, 10% reject, 10% send back."""
    rng = random.Random(seed)
    while True:
        roll = rng.random()
        yield "approve" if roll < 0.8 else "reject" if roll < 0.9 else "send_back"


def _in_threads(items: list[Any], callers: int, act: Callable[[Any], object]) -> None:
    """Act on every item: in this thread, or split among `callers` threads that call the engine at once."""
    if callers == 1:
        for item in items:
            act(item)
        return
    def act_on(share: list[Any]) -> None:
        for item in share:
            act(item)

    with ThreadPoolExecutor(callers) as pool:
        for done in [pool.submit(act_on, items[k::callers]) for k in range(callers)]:
            done.result()


def work(store: Store, runs: int, seed: int = 7, callers: int = 1) -> dict[str, Any]:
    """Start `runs` runs, then work every open task until none is left; returns counts and timings.

    With `callers` > 1 that many threads share each round of the work, as a service's request handlers do.
    """
    with store.read() as tx:
        first_count = tx.event_count()
        tx.playbook("pricing-exception")  # parsed and compiled once per process, as in a long-running service
        tx.directory()
    mix = outcomes(seed)
    sent_back: set[str] = set()
    outcome_counts = {"approve": 0, "reject": 0, "send_back": 0}
    started = time.perf_counter()
    _in_threads(list(range(runs)), callers, lambda index: service.start_run(
        store, "pricing-exception", {"customer": f"c{index}", **INPUT}, service.Caller(actor="bob")))
    start_seconds = time.perf_counter() - started
    steps = 0
    while True:
        with store.read() as tx:
            work = [t for t in tx.tasks(status="open") if t.run is not None]
        if not work:
            break
        planned: list[tuple[str, str, service.Caller, dict[str, Any]]] = []
        for task in work:  # the decision mix is drawn here, in order, whatever the number of callers
            actor = service.Caller(actor=str(task.assignee))
            if task.type == "decision":
                outcome = next(mix)
                if outcome == "send_back" and task.run in sent_back:
                    outcome = "approve"
                if outcome == "send_back":
                    sent_back.add(str(task.run))
                outcome_counts[outcome] += 1
                planned.append(("decide", task.id, actor, {"outcome": outcome, "rationale": "bench", "to": None}))
            else:
                output = OUTPUT if task.step == "prepare" else {"quote_id": "Q"}
                planned.append(("complete", task.id, actor, {"output": output}))
        _in_threads(planned, callers, lambda p: service.task_command(store, p[0], p[1], p[2], **p[3]))
        steps += len(planned)
    elapsed = time.perf_counter() - started
    with store.read() as tx:
        events = tx.event_count() - first_count
    return {"runs": runs, "human_steps": steps, "events": events, "seconds": elapsed,
            "start_seconds": start_seconds, "step_seconds": elapsed - start_seconds, "outcomes": outcome_counts,
            "callers": callers}


def summarize(result: dict[str, Any], backend: str) -> dict[str, Any]:
    elapsed = result["seconds"]
    commands = result["runs"] + result["human_steps"]
    return {
        "benchmark": "engine", "backend": backend, "runs": result["runs"], "human_steps": result["human_steps"],
        "events": result["events"], "seconds": round(elapsed, 3),
        "runs_per_s": round(result["runs"] / elapsed, 1),
        "human_steps_per_s": round(result["human_steps"] / elapsed, 1),
        "events_per_s": round(result["events"] / elapsed, 1),
        "commands_per_s": round(commands / elapsed, 1),
        "events_per_command": round(result["events"] / commands, 2),
        "ms_per_start": round(1000 * result["start_seconds"] / result["runs"], 3),
        "ms_per_human_step": round(1000 * result["step_seconds"] / max(result["human_steps"], 1), 3),
        "outcomes": result["outcomes"], "callers": result["callers"],
        "durability": _durability(backend, result["callers"]),
    }


def _durability(backend: str, callers: int) -> str:
    if backend == "sqlite":
        commits = "one commit per command" if callers == 1 else "commands that queue up share a commit"
        return f"sqlite WAL synchronous=FULL, {commits}, each acknowledged once fsynced"
    return "postgresql default (synchronous_commit=on), one commit per command"


@contextlib.contextmanager
def bench_database(db: str | None) -> Iterator[str]:
    """The URL to benchmark: a new SQLite file (removed after), the given SQLite file, or a new schema on a
    PostgreSQL server (dropped after)."""
    if db is not None and is_postgres(db):
        with pg_schema(db) as url:
            yield url
    elif db is not None:
        yield normalize_url(db)
    else:
        directory = scratch_dir()
        try:
            yield sqlite_url(directory)
        finally:
            shutil.rmtree(directory, ignore_errors=True)


def run_engine(db: str | None, runs: int, seed: int = 7, *, triggers: bool = True,
               callers: int = 1) -> dict[str, Any]:
    """One engine measurement on a fresh database; the summary `main` prints.

    `triggers=False` publishes the playbook without its governance risk triggers (see `common`).
    """
    with bench_database(db) as url:
        playbook_dir = scratch_dir("lf-playbook-")
        try:
            playbook = PRICING if triggers else playbook_without_triggers(playbook_dir)
            store = new_store(url, playbook=playbook)
        finally:
            shutil.rmtree(playbook_dir, ignore_errors=True)
        try:
            backend = store.engine.dialect.name
            return {**summarize(work(store, runs, seed, callers), backend), "risk_triggers": triggers}
        finally:
            store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--db", default=None, help="sqlite path/URL (new file) or postgresql:// server URL")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-triggers", action="store_true",
                        help="publish the playbook without its governance risk triggers")
    parser.add_argument("--callers", type=int, default=1,
                        help="threads calling the engine at once (each round of tasks split among them)")
    args = parser.parse_args()
    print(json.dumps(run_engine(args.db, args.runs, args.seed, triggers=not args.no_triggers,
                                callers=args.callers)))


if __name__ == "__main__":
    main()
