"""Engine throughput on the shared pricing-exception playbook, driven through the Python API.

    python bench/engine.py --runs 300 [--db URL]

All runs are started first, then their open tasks are worked round-robin: 80% of decisions approve,
10% reject, 10% send back once. Prints one JSON object (runs/s, human steps/s, events/s, durability).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from ledgerflow import service
from ledgerflow.domain.times import parse_time
from ledgerflow.storage.database import initialize, make_engine, normalize_url
from ledgerflow.storage.store import Store

EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "ledgerflow" / "examples"
OUTPUT = {"deal_sheet_url": "https://docs.example.com/d/1", "justification": "Competitor offered 20%, renewal"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--db", default=None)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    url = normalize_url(args.db or f"sqlite:///{tempfile.mkdtemp(prefix='lf-bench-')}/bench.db")
    initialize(make_engine(url), url, parse_time("2026-03-02T08:00:00Z"))
    store = Store(url)
    admin = service.Caller()
    service.load_directory_file(store, str(EXAMPLES / "directory.yaml"), admin)
    service.publish(store, str(EXAMPLES / "pricing-exception.yaml"), admin)
    with store.read() as tx:
        first_seq = tx.chain_head().seq
    rng = random.Random(args.seed)
    sent_back: set[str] = set()
    started = time.perf_counter()
    for index in range(args.runs):
        service.start_run(store, "pricing-exception", {"customer": f"c{index}", "deal_value": 12000,
                                                       "discount_pct": 18}, service.Caller(actor="bob"))
    steps = 0
    while True:
        with store.read() as tx:
            work = tx.tasks(status="open")
        if not work:
            break
        for task in work:
            actor = service.Caller(actor=str(task.assignee))
            if task.type == "decision":
                roll = rng.random()
                outcome = "approve" if roll < 0.8 else "reject" if roll < 0.9 else "send_back"
                if outcome == "send_back" and task.run in sent_back:
                    outcome = "approve"
                if outcome == "send_back":
                    sent_back.add(str(task.run))
                service.task_command(store, "decide", task.id, actor, outcome=outcome, rationale="bench", to=None)
            else:
                output = OUTPUT if task.step == "prepare" else {"quote_id": "Q"}
                service.task_command(store, "complete", task.id, actor, output=output)
            steps += 1
    elapsed = time.perf_counter() - started
    with store.read() as tx:
        events = tx.chain_head().seq - first_seq
    backend = make_engine(url).dialect.name
    print(json.dumps({
        "benchmark": "engine", "backend": backend, "runs": args.runs, "human_steps": steps, "events": events,
        "seconds": round(elapsed, 3), "runs_per_s": round(args.runs / elapsed, 1),
        "human_steps_per_s": round(steps / elapsed, 1), "events_per_s": round(events / elapsed, 1),
        "durability": "sqlite WAL synchronous=FULL, one commit per command" if backend == "sqlite"
        else "postgresql default (synchronous_commit=on)",
    }))


if __name__ == "__main__":
    main()
