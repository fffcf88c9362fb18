"""Incremental verify: what checking a 10-event increment after a trusted checkpoint costs as the log grows.

    python bench/verify_since.py [--events 100000 1000000] [--per-chain 10] [--rounds 5] [--db postgresql://...]

For each log size it writes well-formed chains (hash-linked events, heads, as the engine writes them) straight
into a fresh database, signs a checkpoint, appends 10 events through the store (as commands do), then times
`verify_since` and its parts: the signed heads in place and the stored heads moved (an index probe per chain
each, inside the database), and the new events' own check. For the first size, the full verify's chain check
(every hash recomputed, without its replay of runs, which these synthetic chains have none of) is timed once
for comparison. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from itertools import groupby
from typing import Any

from common import machine, median, new_store, pg_schema, scratch_dir, spread, sqlite_url
from sqlalchemy import insert, text

from ledgerflow.domain.canonical import ZERO_HASH
from ledgerflow.domain.events import SCHEMA_VERSION, Event
from ledgerflow.storage import schema
from ledgerflow.storage.event_body import event_row
from ledgerflow.storage.store import Store
from ledgerflow.trust import audit, checkpoints, evidence


def fill(store: Store, events: int, per_chain: int) -> None:
    """`events` events in chains of `per_chain`, written in batches (not through commands: this measures
    verification, and a million commands would take most of an hour here)."""
    with store.read() as tx:
        seq = tx.last_seq()
    batch: list[dict[str, Any]] = []
    heads: list[dict[str, Any]] = []
    with store.engine.begin() as conn:
        for c in range(events // per_chain):
            chain, prev = f"r-{c:08d}", ZERO_HASH
            for position in range(1, per_chain + 1):
                seq += 1
                row = {"v": SCHEMA_VERSION, "seq": seq, "chain": chain, "chain_seq": position,
                       "at": "2026-03-02T08:00:00.000000Z", "type": "notification.delivered", "actor": "system",
                       "channel": "worker", "run": chain, "task": None, "step": None,
                       "authority": {"kind": "system", "detail": None},
                       "data": {"channel": "email", "to": "dave@example.com", "about_seq": seq - 1,
                                "attempts": 1}, "prev_hash": prev}
                stored = event_row(row)  # its columns, its canonical body and the body's hash
                prev = stored["hash"]
                batch.append(stored)
            heads.append({"id": chain, "length": per_chain, "hash": prev})
            if len(batch) >= 20_000:
                conn.execute(insert(schema.events), batch)
                conn.execute(insert(schema.chains), heads)
                batch, heads = [], []
        if batch:
            conn.execute(insert(schema.events), batch)
            conn.execute(insert(schema.chains), heads)
        if conn.dialect.name == "postgresql":  # the engine draws seqs from the sequence: move it past the fill
            conn.execute(text("SELECT setval('events_seq', :seq)"), {"seq": seq})


def append(store: Store, n: int) -> None:
    with store.write() as tx:
        tx.append([Event(type="notification.delivered", at="2026-03-02T09:00:00.000000Z", actor="system",
                         channel="worker", run=f"r-{i:08d}", data={"channel": "email", "attempts": 1})
                   for i in range(n)])


def measure(url: str, events: int, per_chain: int, rounds: int, full: bool) -> dict[str, Any]:
    store = new_store(url)
    try:
        started = time.perf_counter()
        fill(store, events, per_chain)
        filled = time.perf_counter() - started
        key, _ = evidence.new_key()
        cp = checkpoints.take(store, evidence.load_key(key))
        append(store, 10)
        totals, heads_only, moved = [], [], []
        for _ in range(rounds):
            t0 = time.perf_counter()
            result = checkpoints.verify_since(store, cp)
            totals.append(time.perf_counter() - t0)
            assert result["ok"] and result["events"] == 10, result
            t0 = time.perf_counter()
            assert checkpoints.against(store, [cp]) is None
            heads_only.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            with store.read() as tx:
                assert len(tx.heads_moved(cp.heads)) == 10
            moved.append(time.perf_counter() - t0)
        figures: dict[str, Any] = {
            "events": events, "chains": events // per_chain, "fill_s": round(filled, 1),
            "verify_since_s": round(median(totals), 4), "verify_since_spread": spread(totals),
            "heads_in_place_s": round(median(heads_only), 4),
            "heads_moved_s": round(median(moved), 4),
            "new_events_s": round(max(median(totals) - median(heads_only) - median(moved), 0.0), 4),
            "per_chain_us": round((median(heads_only) + median(moved)) / (events // per_chain) * 1e6, 2),
        }
        if full:  # what the full verify spends on the chains alone (it also replays every run)
            t0 = time.perf_counter()
            with store.read(snapshot=True) as tx:
                heads = tx.chain_heads()
                for chain, group in groupby(tx.chain_events(), key=lambda row: str(row["chain"])):
                    assert audit.chain_problem(chain, list(group), heads[chain]) is None
            figures["full_chain_check_s"] = round(time.perf_counter() - t0, 2)
        return figures
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--per-chain", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--db", default="sqlite", help="sqlite, or a PostgreSQL server URL")
    args = parser.parse_args()
    results = []
    for index, events in enumerate(args.events):
        if args.db == "sqlite":
            results.append(measure(sqlite_url(scratch_dir()), events, args.per_chain, args.rounds, index == 0))
        else:
            with pg_schema(args.db) as url:
                results.append(measure(url, events, args.per_chain, args.rounds, index == 0))
    print(json.dumps({"benchmark": "verify_since", "db": "sqlite" if args.db == "sqlite" else "postgresql",
                      "machine": machine(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
