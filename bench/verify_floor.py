"""Where a full `audit verify` spends its CPU per event, stage by stage.

    python bench/verify_floor.py --db sqlite:///log.db [--rounds 5]     # a log built by bench/engine.py
    python bench/verify_floor.py --runs 3000                            # builds one first

Times, in CPU microseconds per event (`process_time`, so other people's load moves them less), each stage of a
verify on SQLite, one process: the driver's rows alone; `Tx.scan_chains` (rows as events, every stored body
hashed and parsed, its columns held equal to it); the chain checks given those hashes; the in-place fold of
every run; reading the stored runs and comparing them with the replayed ones; the week counts and latencies
the replayed runs add up to; the whole `audit.verify`. Prints JSON; nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from common import machine, new_store, scratch_dir, spread, sqlite_url

from engine import work
from ledgerflow.domain.replay import Unfolded, fold
from ledgerflow.storage.database import sqlite_path
from ledgerflow.storage.schema import SYSTEM_CHAIN
from ledgerflow.storage.store import Store
from ledgerflow.trust import audit


def cpu(action: Callable[[], Any]) -> float:
    """CPU seconds of one stage, with the cyclic collector paused as `audit.verify` pauses it (with it running,
    its passes over every event the stage keeps would be counted as the stage's)."""
    gc.disable()
    try:
        started = time.process_time()
        action()
        return time.process_time() - started
    finally:
        gc.enable()


def driver_pass(path: str) -> int:
    with sqlite3.connect(path) as db:
        return sum(1 for _ in db.execute("SELECT * FROM events ORDER BY chain, chain_seq"))


def stages(url: str) -> dict[str, float]:
    store = Store(url)
    try:
        with store.read(snapshot=True) as tx:
            events = tx.event_total()
            heads = tx.chain_heads()
            chains = list(tx.scan_chains())
            runs = [(chain, rows) for chain, rows, _ in chains if chain != SYSTEM_CHAIN]
            replayed: list[audit.Replayed] = []
            rebuilt = [audit._replayed(chain, rows) for chain, rows in runs]  # with their scorecard flags

            def figures() -> None:
                weeks: Counter[tuple[str, str, str]] = Counter()
                latencies: dict[tuple[str, str], list[float]] = {}
                for run, (_, rows) in zip(rebuilt, runs, strict=True):
                    audit._add_figures(run, rows, weeks, latencies)

            def folded() -> None:
                for chain, rows in runs:
                    try:
                        state = fold(rows)
                    except Unfolded:
                        state = audit.replay_run(rows)
                    replayed.append((chain, state, None, rows[-1]["seq"]))

            seconds = {
                "driver_rows": cpu(lambda: driver_pass(str(sqlite_path(url)))),
                "scan_chains": cpu(lambda: list(tx.scan_chains())),
                "chain_checks": cpu(lambda: [audit.chain_problem(c, r, heads.get(c), hashes=h) for c, r, h in chains]),
                "fold": cpu(folded),
                "stored_runs_compared": cpu(lambda: [list(audit._compare_runs(tx, rebuilt[k:k + 500]))
                                                     for k in range(0, len(rebuilt), 500)]),
                "week_counts": cpu(figures),
            }
        seconds["audit_verify"] = cpu(lambda: audit.verify(store, processes=1))
    finally:
        store.close()
    return {name: value / events * 1e6 for name, value in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--db", help="an SQLite log to measure (default: build one of --runs runs)")
    parser.add_argument("--runs", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    folder = scratch_dir("lf-verify-floor-")
    try:
        url = args.db
        if url is None:
            url = sqlite_url(folder)
            store = new_store(url)
            try:
                work(store, args.runs)
            finally:
                store.close()
        rounds = [stages(url) for _ in range(args.rounds)]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    us = {name: spread([r[name] for r in rounds]) for name in rounds[0]}
    print(json.dumps({"benchmark": "verify_floor", "machine": machine(), "cpu_us_per_event": us}, indent=2))


if __name__ == "__main__":
    main()
