"""What hashing an event costs: the canonical JSON fast path against the exact path, on real events.

    python bench/hashing.py [--runs 200] [--rounds 5]

Works a pricing-exception workload (bench/engine.py's mix) on a fresh SQLite database, reads back every event
as `audit verify` does, and times SHA-256 over each event's canonical JSON by the fast path (orjson plus
byte scans) and by the exact path (the standard encoder or `rfc8785`), after checking that both give the same
bytes for every event. Prints JSON: microseconds per event, medians over rounds, and their ratio.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

from common import machine, median, new_store, scratch_dir, spread, sqlite_url

from engine import work
from ledgerflow.domain.canonical import canonical_json, exact_json


def per_event(bodies: list[dict[str, Any]], encode: Callable[[Any], bytes]) -> float:
    started = time.perf_counter()
    for body in bodies:
        hashlib.sha256(encode(body)).hexdigest()
    return (time.perf_counter() - started) / len(bodies) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    store = new_store(sqlite_url(scratch_dir()))
    try:
        work(store, args.runs)
        with store.read() as tx:
            events = tx.events()
    finally:
        store.close()
    bodies = [{k: v for k, v in event.items() if k != "hash"} for event in events]
    assert all(canonical_json(b) == exact_json(b) for b in bodies)
    fast = [per_event(bodies, canonical_json) for _ in range(args.rounds)]
    exact = [per_event(bodies, exact_json) for _ in range(args.rounds)]
    print(json.dumps({"benchmark": "hashing", "events": len(bodies), "machine": machine(),
                      "fast_us_per_event": spread(fast), "exact_us_per_event": spread(exact),
                      "exact_over_fast": round(median(exact) / median(fast), 2)}, indent=2))


if __name__ == "__main__":
    main()
