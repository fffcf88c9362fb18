"""What documents cost (SPEC §14): checking and storing one, a run start with one, and `audit verify` reading them.

Per database (SQLite files, PostgreSQL's blobs table): the seconds to check (size, media type from content) and
store a new document of each size, a run start with a 1 MiB document against one without, and `audit verify`
over runs with and without documents. Each figure is the median (min, max) of the repeats.

    python bench/attachments.py [--repeat 5] [--runs 50] [--sqlite-only]     # prints one JSON document
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from typing import Any

from common import machine, new_store, pg_schema, spread, sqlite_url

from ledgerflow.engine import documents, service
from ledgerflow.storage.store import Store
from ledgerflow.trust import audit

INPUT = {"customer": "Acme", "deal_value": 12000, "discount_pct": 18}
BOB = service.Caller(actor="bob")
SIZES = {"100KiB": 100 << 10, "1MiB": 1 << 20, "25MiB": 25 << 20}


def pdf(size: int) -> bytes:
    """Bytes that detect as a PDF, unique per call (so each one is stored, not deduplicated)."""
    return b"%PDF-1.7\n" + os.urandom(size - 9)


def timed(call: Callable[[], object], repeat: int) -> dict[str, float]:
    seconds = []
    for _ in range(repeat):
        began = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - began)
    return spread(seconds)


def measure(store: Store, repeat: int, runs: int) -> dict[str, Any]:
    def keep(size: int) -> Callable[[], object]:
        return lambda: documents.keep(store, [("d.pdf", pdf(size))])

    figures: dict[str, Any] = {"store": {name: timed(keep(size), repeat) for name, size in SIZES.items()}}
    figures["run_start"] = {
        "without": timed(lambda: service.start_run(store, "pricing-exception", INPUT, BOB),
                         repeat),
        "with_1MiB": timed(lambda: service.start_run(store, "pricing-exception", INPUT,
                                                     BOB,
                                                     attachments=documents.keep(store, [("d.pdf", pdf(1 << 20))])),
                           repeat)}
    for _ in range(runs):
        service.start_run(store, "pricing-exception", INPUT, BOB,
                          attachments=documents.keep(store, [("d.pdf", pdf(100 << 10))]))
    began = time.perf_counter()
    result = audit.verify(store)
    figures["audit_verify"] = {"ok": result["ok"], "events": result["events"],
                               "documents": sum(1 for _ in store.blobs.stored()),
                               "seconds": round(time.perf_counter() - began, 3)}
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--runs", type=int, default=50, help="runs with a 100 KiB document before audit verify")
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    result: dict[str, Any] = {"machine": machine()}
    store = new_store(sqlite_url())
    try:
        result["sqlite"] = measure(store, args.repeat, args.runs)
    finally:
        store.close()
    if not args.sqlite_only:
        with pg_schema() as url:
            store = new_store(url)
            try:
                result["postgresql"] = measure(store, args.repeat, args.runs)
            finally:
                store.close()
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
