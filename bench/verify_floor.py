"""Where a full `audit verify` spends its CPU per event, and the floor if each event's canonical bytes were stored.

    python bench/verify_floor.py --db sqlite:///log.db [--rounds 5]     # a log built by bench/engine.py
    python bench/verify_floor.py --runs 3000                            # builds one first

Times, in CPU microseconds per event (`process_time`, so other people's load moves them less), each stage of a
verify on SQLite, one process: the driver's rows alone; `Tx.scan_chains` (rows, JSON parsed, every event hashed);
the chain checks given those hashes; the in-place fold of every run; reading the stored runs and comparing them
with the replayed ones; the week counts and latencies the replayed runs add up to; the whole `audit.verify`. Then
the prototype of a schema this code does not have: a scratch copy of the log with each event's canonical bytes
stored beside it (a BLOB), read back, hashed (SHA-256 over the bytes read) and parsed once by orjson for the replay.
The floor of that design is its read-and-hash stage plus the fold, the chain checks and the comparison, which it
would keep. Prints JSON; nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from common import machine, median, new_store, scratch_dir, spread, sqlite_url

from engine import work
from ledgerflow.domain.canonical import canonical_json
from ledgerflow.domain.replay import Unfolded, fold
from ledgerflow.storage.database import sqlite_path
from ledgerflow.storage.schema import SYSTEM_CHAIN
from ledgerflow.storage.store import Store
from ledgerflow.trust import audit


def cpu(action: Callable[[], Any]) -> float:
    started = time.process_time()
    action()
    return time.process_time() - started


def canonical_copy(source: str, target: Path) -> str:
    """A scratch database of (chain, chain_seq, canonical bytes, hash) per event: the stored bytes prototype."""
    with Store(source).read() as tx:
        rows = [(row["chain"], row["chain_seq"], canonical_json({k: v for k, v in row.items() if k != "hash"}),
                 row["hash"]) for row in tx.chain_events()]
    with sqlite3.connect(target) as db:
        db.execute("CREATE TABLE canon (chain TEXT, chain_seq INTEGER, body BLOB, hash TEXT, "
                   "PRIMARY KEY (chain, chain_seq))")
        db.executemany("INSERT INTO canon VALUES (?, ?, ?, ?)", rows)
    return str(target)


def stored_bytes_pass(path: str) -> int:
    """Read every event's stored canonical bytes in chain order, hash them, and parse them once for the replay."""
    sha256, loads, bad = hashlib.sha256, orjson.loads, 0
    with sqlite3.connect(path) as db:
        for _chain, _seq, body, digest in db.execute("SELECT * FROM canon ORDER BY chain, chain_seq"):
            loads(body)
            bad += sha256(body).hexdigest() != digest
    return bad


def driver_pass(path: str) -> int:
    with sqlite3.connect(path) as db:
        return sum(1 for _ in db.execute("SELECT * FROM events ORDER BY chain, chain_seq"))


def stages(url: str, canon: str) -> dict[str, float]:
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
                "stored_bytes_read_hash_parse": cpu(lambda: stored_bytes_pass(canon)),
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
    url = args.db
    if url is None:
        url = sqlite_url(folder)
        store = new_store(url)
        try:
            work(store, args.runs)
        finally:
            store.close()
    canon = canonical_copy(url, folder / "canon.db")
    rounds = [stages(url, canon) for _ in range(args.rounds)]
    us = {name: spread([r[name] for r in rounds]) for name in rounds[0]}
    keep = ("chain_checks", "fold", "stored_runs_compared")
    floor = median([r["stored_bytes_read_hash_parse"] + sum(r[k] for k in keep) for r in rounds])
    print(json.dumps({"benchmark": "verify_floor", "machine": machine(), "cpu_us_per_event": us,
                      "stored_bytes_floor_us_per_event": round(floor, 2),
                      "floor_over_verify": round(floor / median([r["audit_verify"] for r in rounds]), 3)}, indent=2))


if __name__ == "__main__":
    main()
