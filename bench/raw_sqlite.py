"""Raw limit: hash-chained event appends straight into SQLite, with ledgerflow's durability settings.

    python bench/raw_sqlite.py [--appends 2000] [--events-per-append 3]

What the disk and SQLite allow for the audit log alone, so that ledgerflow's events/s can be quoted as a
share of it. Same settings as ledgerflow: WAL, synchronous=FULL, `BEGIN IMMEDIATE`, one commit per append;
the same `events` table (columns and indexes); each append goes to one run's chain (runs taken in turn),
whose head is read and moved in the transaction; each event stored as its RFC 8785 canonical JSON body and
hashed with SHA-256 over those bytes (ledgerflow's own `event_hash`), `prev_hash` chained. No ORM, no state
rows, no domain logic: only the log.

The event bodies are real ones, sampled from a small ledgerflow run of the pricing-exception playbook, so
their size and shape match what the engine writes.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import shutil
import sqlite3
import time
from typing import Any

from common import new_store, scratch_dir, sqlite_url

from engine import work
from ledgerflow.domain.canonical import ZERO_HASH, canonical_json
from ledgerflow.storage.store import event_hash

SCHEMA = """
CREATE TABLE events (
    seq INTEGER NOT NULL PRIMARY KEY,
    chain VARCHAR(64) NOT NULL,
    chain_seq INTEGER NOT NULL,
    at VARCHAR(32) NOT NULL,
    type VARCHAR(64) NOT NULL,
    actor VARCHAR(200) NOT NULL,
    channel VARCHAR(16) NOT NULL,
    run VARCHAR(64),
    task VARCHAR(64),
    step VARCHAR(200),
    hash VARCHAR(64) NOT NULL,
    body TEXT NOT NULL
);
CREATE UNIQUE INDEX ix_events_chain ON events (chain, chain_seq);
CREATE INDEX ix_events_type_at ON events (type, at);
CREATE TABLE chains (id VARCHAR(64) NOT NULL PRIMARY KEY, length INTEGER NOT NULL, hash VARCHAR(64) NOT NULL);
"""
_FIELDS = ("at", "type", "actor", "channel", "run", "task", "step", "authority", "data", "v")


def sample_events(runs: int = 30) -> list[dict[str, Any]]:
    """Event bodies (without seq and hashes) from a small ledgerflow run of the pricing-exception playbook."""
    directory = scratch_dir()
    try:
        store = new_store(sqlite_url(directory))
        try:
            work(store, runs)
            with store.read() as tx:
                rows = tx.events()
        finally:
            store.close()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return [{k: row[k] for k in _FIELDS} for row in rows if row["run"] is not None]


def run_raw(samples: list[dict[str, Any]], appends: int, events_per_append: int = 3, runs: int = 100) -> dict[str, Any]:
    """Append `appends` batches of events, one durable commit each, on a fresh SQLite file."""
    directory = scratch_dir("raw-bench-")
    db = sqlite3.connect(directory / "raw.db", isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA busy_timeout=10000")
        db.executescript(SCHEMA)
        first = {**samples[0], "seq": 1, "chain": "r-0", "chain_seq": 1, "prev_hash": ZERO_HASH}
        if hashlib.sha256(canonical_json(first)).hexdigest() != event_hash(first):
            raise RuntimeError("the hash computed here differs from ledgerflow's event_hash")
        source = itertools.cycle(samples)
        insert = ("INSERT INTO events (seq, chain, chain_seq, at, type, actor, channel, run, task, step, hash, body) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        move = ("INSERT INTO chains (id, length, hash) VALUES (?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET length = excluded.length, hash = excluded.hash")
        payload_bytes = 0
        started = time.perf_counter()
        for index in range(appends):
            chain = f"r-{index % runs}"
            db.execute("BEGIN IMMEDIATE")
            length, prev = db.execute("SELECT length, hash FROM chains WHERE id = ?", (chain,)).fetchone() or (
                0, ZERO_HASH)
            seq = db.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
            rows = []
            for body in itertools.islice(source, events_per_append):
                seq += 1
                length += 1
                stored = {"v": body["v"], "seq": seq, "chain": chain, "chain_seq": length, "at": body["at"],
                          "type": body["type"], "actor": body["actor"], "channel": body["channel"], "run": chain,
                          "task": body["task"], "step": body["step"], "authority": body["authority"],
                          "data": body["data"], "prev_hash": prev}
                canonical = canonical_json(stored)  # exactly what ledgerflow's event_hash hashes
                digest = hashlib.sha256(canonical).hexdigest()
                payload_bytes += len(canonical)
                rows.append((seq, chain, length, body["at"], body["type"], body["actor"], body["channel"], chain,
                             body["task"], body["step"], digest, canonical.decode()))
                prev = digest
            db.executemany(insert, rows)
            db.execute(move, (chain, length, prev))
            db.execute("COMMIT")
        elapsed = time.perf_counter() - started
    finally:
        with contextlib.suppress(sqlite3.Error):
            db.close()
        shutil.rmtree(directory, ignore_errors=True)
    events = appends * events_per_append
    return {
        "benchmark": "raw_sqlite_append", "appends": appends, "events_per_append": events_per_append,
        "events": events, "seconds": round(elapsed, 3), "appends_per_s": round(appends / elapsed, 1),
        "events_per_s": round(events / elapsed, 1), "ms_per_append": round(1000 * elapsed / appends, 3),
        "avg_canonical_bytes_per_event": round(payload_bytes / events),
        "durability": "sqlite WAL synchronous=FULL, BEGIN IMMEDIATE, one commit per append",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--events-per-append", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(run_raw(sample_events(), args.appends, args.events_per_append)))


if __name__ == "__main__":
    main()
