"""Several worker processes on one database: runs/s and events/s with 1, 2 and 4 processes.

    python bench/workers.py [--runs 400] [--workers 1 2 4] [--pg URL] [--no-postgres]

Each measurement starts from a fresh database (SQLite file, or a schema of its own on the PostgreSQL
server), with the shared directory and pricing-exception playbook. N processes (spawned, each with its own
`Store` and connection pool) share the work: each starts `runs / N` runs and works their tasks to the end
through `service.task_command` (80% approve, 10% reject, 10% send back once, as bench/engine.py), all at
once behind a barrier. The figure is the wall time from the barrier to the last process done, so it
includes contention: on SQLite every write transaction takes the database's one write lock in turn; on
PostgreSQL commands on different runs lock only their own run and its chain head and go side by side.
Every process's commands are durable (SQLite: WAL, synchronous=FULL; PostgreSQL: synchronous_commit=on).
Prints one JSON object per (backend, workers) and, at the end, the speed-ups over one process.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import sys
import time
from typing import Any

from common import PG_DEFAULT, new_store, pg_schema, scratch_dir, sqlite_url

from engine import INPUT, OUTPUT, outcomes
from ledgerflow.domain.errors import Conflict
from ledgerflow.engine import service
from ledgerflow.storage.store import Store


def _worker(url: str, index: int, runs: int, barrier: Any, results: Any) -> None:
    """One process: start its share of runs, then work their open tasks until every run has ended."""
    store = Store(url)
    with store.read() as tx:  # parse and compile once, as a long-running worker would
        tx.playbook("pricing-exception")
        tx.directory()
    mix, sent_back = outcomes(100 + index), set[str]()
    steps = retries = 0
    barrier.wait()
    mine = [service.start_run(store, "pricing-exception", {"customer": f"w{index}-{n}", **INPUT},
                              service.Caller(actor="bob"))[0].id for n in range(runs)]
    while mine:
        still = []
        for run_id in mine:
            with store.read() as tx:
                open_tasks = tx.tasks(run=run_id, status="open")
            if not open_tasks:
                continue
            still.append(run_id)
            for task in open_tasks:
                actor = service.Caller(actor=str(task.assignee))
                try:
                    if task.type == "decision":
                        outcome = next(mix)
                        if outcome == "send_back" and run_id in sent_back:
                            outcome = "approve"
                        if outcome == "send_back":
                            sent_back.add(run_id)
                        service.task_command(store, "decide", task.id, actor, outcome=outcome, rationale="bench",
                                             to=None)
                    else:
                        service.task_command(store, "complete", task.id, actor,
                                             output=OUTPUT if task.step == "prepare" else {"quote_id": "Q"})
                    steps += 1
                except Conflict:
                    retries += 1  # a lock lost to another process; the task is read again next round
        mine = still
    store.close()
    results.put({"worker": index, "runs": runs, "human_steps": steps, "retries": retries})


def measure(url: str, backend: str, workers: int, runs: int) -> dict[str, Any]:
    store = new_store(url)
    with store.read() as tx:
        events_before = tx.event_count()
    store.close()
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(workers + 1), context.Queue()
    share = [runs // workers + (1 if n < runs % workers else 0) for n in range(workers)]
    processes = [context.Process(target=_worker, args=(url, n, share[n], barrier, results)) for n in range(workers)]
    for process in processes:
        process.start()
    barrier.wait()
    started = time.perf_counter()
    done = [results.get(timeout=1800) for _ in processes]
    elapsed = time.perf_counter() - started
    for process in processes:
        process.join()
    store = Store(url)
    with store.read() as tx:
        events = tx.event_count() - events_before
    store.close()
    steps = sum(d["human_steps"] for d in done)
    return {"benchmark": "workers", "backend": backend, "workers": workers, "runs": runs, "human_steps": steps,
            "events": events, "seconds": round(elapsed, 3), "runs_per_s": round(runs / elapsed, 1),
            "human_steps_per_s": round(steps / elapsed, 1), "events_per_s": round(events / elapsed, 1),
            "retries": sum(d["retries"] for d in done)}


def run_workers(runs: int, counts: list[int], pg: str | None) -> list[dict[str, Any]]:
    """Every (backend, workers) measurement, SQLite and PostgreSQL alternating for each count."""
    rows = []
    for workers in counts:
        directory = scratch_dir()
        try:
            rows.append(measure(sqlite_url(directory), "sqlite", workers, runs))
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        print(json.dumps(rows[-1]), file=sys.stderr)
        if pg is not None:
            with pg_schema(pg) as url:
                rows.append(measure(url, "postgresql", workers, runs))
            print(json.dumps(rows[-1]), file=sys.stderr)
    for row in rows:
        one = next(r for r in rows if r["backend"] == row["backend"] and r["workers"] == counts[0])
        row["speedup_vs_first"] = round(row["events_per_s"] / one["events_per_s"], 2)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--pg", default=PG_DEFAULT)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    for row in run_workers(args.runs, args.workers, None if args.no_postgres else args.pg):
        print(json.dumps(row))


if __name__ == "__main__":
    main()
