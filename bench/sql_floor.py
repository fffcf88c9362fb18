"""The engine's own SQL without the engine: what its statements cost SQLite when replayed with no Python around them.

    python bench/sql_floor.py [--runs 300]
    python bench/sql_floor.py --timers 20000     # clock advance firing that many due nudges instead

Records every statement of the engine's write transactions (SQL, parameters, single or batched, exactly as
the hot path hands them to the driver) during an engine run (bench/engine.py's workload), then replays them
on a copy of the database as it was before the run, in the same transactions:

- durably (WAL, synchronous=FULL, one commit per command, as the engine): the most commands/s this schema's
  statements allow on this disk, the raw limit for *this* workload (raw_sqlite.py's is for the log alone);
- with synchronous=OFF: the CPU SQLite itself spends per command (statement execution, B-tree and index
  updates, foreign-key checks), the floor under the engine's CPU cost per command.

Prints one JSON object. Only the write transactions are replayed (the benchmark loop's reads are not part
of a command).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import new_store, scratch_dir, sqlite_url
from scale import build_timers, measure_timers

from engine import summarize, work
from ledgerflow.storage import hot
from ledgerflow.storage.store import Store

Statement = tuple[str, Any, bool]  # (sql, parameters, executemany)


def recorded(act: Callable[[], Any]) -> tuple[Any, list[list[Statement]]]:
    """What `act` returns, and the statements of the write transactions it ran, as the hot path handed
    them to the driver."""
    transactions: list[list[Statement]] = []
    original = hot.Hot._run

    def recording(conn: Any, sql: str, args: Any, *, many: bool, name: str | None = None) -> Any:
        if sql == "BEGIN IMMEDIATE":
            transactions.append([])
        elif conn.get_execution_options().get("ledgerflow_write") and transactions:
            transactions[-1].append((sql, args, many))
        return original(conn, sql, args, many=many, name=name)

    hot.Hot._run = staticmethod(recording)  # type: ignore[method-assign]
    try:
        return act(), transactions
    finally:
        hot.Hot._run = staticmethod(original)  # type: ignore[method-assign]


def record(runs: int, directory: Path) -> tuple[dict[str, Any], list[list[Statement]]]:
    """Run the engine workload on a new database in `directory`, keeping a copy of it from before the run
    (`start.db`); returns the run's summary and its write transactions' statements."""
    url = sqlite_url(directory)
    store = new_store(url)
    with store.read() as tx:
        tx.playbook("pricing-exception")
        tx.directory()
    store.close()
    shutil.copy(directory / "bench.db", directory / "start.db")
    store = Store(url)
    try:
        result, transactions = recorded(lambda: work(store, runs))
    finally:
        store.close()
    return summarize(result, "sqlite"), transactions


def replay(transactions: list[list[Statement]], path: Path, synchronous: str) -> dict[str, Any]:
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", f"synchronous={synchronous}", "foreign_keys=ON"):
        conn.execute(f"PRAGMA {pragma}")
    by_kind: defaultdict[str, float] = defaultdict(float)
    started = time.perf_counter()
    for statements in transactions:
        conn.execute("BEGIN IMMEDIATE")
        for sql, args, many in statements:
            at = time.perf_counter()
            if many:
                conn.executemany(sql, args)
            else:
                conn.execute(sql, args).fetchall()
            by_kind[" ".join(sql.split()[:3])] += time.perf_counter() - at
        conn.execute("COMMIT")
    seconds = time.perf_counter() - started
    conn.close()
    n = len(transactions)
    slowest = sorted(by_kind.items(), key=lambda kind_seconds: kind_seconds[1], reverse=True)[:8]
    return {"commands_per_s": round(n / seconds, 1), "ms_per_command": round(1000 * seconds / n, 4),
            "statement_us_per_command": {kind: round(1e6 * s / n, 1) for kind, s in slowest}}


def replays(transactions: list[list[Statement]], directory: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The transactions replayed durably and with synchronous=OFF, each on its own copy of `start.db`."""
    results = []
    for synchronous in ("FULL", "OFF"):
        copy = directory / f"replay-{synchronous.lower()}.db"
        shutil.copy(directory / "start.db", copy)
        results.append(replay(transactions, copy, synchronous))
    return results[0], results[1]


def run_sql_floor(runs: int) -> dict[str, Any]:
    directory = scratch_dir("lf-sql-floor-")
    try:
        engine, transactions = record(runs, directory)
        durable, cpu = replays(transactions, directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return {"benchmark": "sql_floor", "runs": runs, "commands": len(transactions),
            "statements_per_command": round(sum(len(t) for t in transactions) / len(transactions), 2),
            "engine_commands_per_s": engine["commands_per_s"],
            "replay_durable_commands_per_s": durable["commands_per_s"],
            "replay_durable_ms_per_command": durable["ms_per_command"],
            "replay_cpu_ms_per_command": cpu["ms_per_command"],
            "replay_cpu_statement_us_per_command": cpu["statement_us_per_command"],
            "durability": "replay: sqlite WAL, synchronous=FULL, one commit per command (and OFF for SQLite's CPU)"}


def run_timer_floor(decisions: int) -> dict[str, Any]:
    """The same for `clock advance` firing one due nudge on each of `decisions` open decisions
    (bench/scale.py's timers workload): the engine's time, and its statements replayed."""
    directory = scratch_dir("lf-timer-floor-")
    try:
        store, _ = build_timers(directory, decisions)
        store.close()
        shutil.copy(directory / "timers.db", directory / "start.db")
        store = Store(sqlite_url(directory, "timers.db"))
        try:
            engine, transactions = recorded(lambda: measure_timers(store))
        finally:
            store.close()
        durable, cpu = replays(transactions, directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    fired, n = engine["fired"], len(transactions)

    def per_timer(result: dict[str, Any]) -> float:
        ms: float = result["ms_per_command"] * n / fired
        return round(ms, 4)

    return {"benchmark": "timer_floor", "fired": fired, "transactions": n,
            "engine_seconds": engine["seconds"], "engine_ms_per_timer": engine["ms_per_timer"],
            "replay_durable_seconds": round(durable["ms_per_command"] * n / 1000, 3),
            "replay_durable_ms_per_timer": per_timer(durable),
            "replay_cpu_ms_per_timer": per_timer(cpu),
            "durability": "replay: sqlite WAL, synchronous=FULL, the engine's transactions (and OFF for SQLite's CPU)"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--timers", type=int, default=0, help="instead: clock advance firing this many due nudges")
    args = parser.parse_args()
    print(json.dumps(run_timer_floor(args.timers) if args.timers else run_sql_floor(args.runs)))


if __name__ == "__main__":
    main()
