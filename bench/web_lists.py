"""The web UI's team lists at scale (issue #21): the operations board and the runs list over N open runs.

    python bench/web_lists.py [--runs 100000] [--db URL] [--repeats 10]

Runs and their open `prepare` tasks are bulk-loaded straight into `runs` and `tasks` (the lists read those
two tables only; the engine writes ~100-200 commands/s): N running runs of pricing-exception (with a summary
template), started over four weeks by four people, each waiting on alice or bob; the clock stands a day after
the last start, so all but the newest day's are overdue. Measured through ledgerflow's own code:
`worklists.board` / `worklists.runs` in a read transaction (what a page asks the database), and the whole
pages `/waiting` and `/runs` over HTTP (TestClient: query, summaries, Jinja). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from datetime import timedelta
from pathlib import Path
from typing import Any

from common import PRICING, is_postgres, new_store, percentile, pg_schema, scratch_dir, source_state, sqlite_url
from fastapi.testclient import TestClient
from sqlalchemy import insert

from ledgerflow.domain.times import format_time, parse_time
from ledgerflow.reporting import worklists
from ledgerflow.storage import schema
from ledgerflow.storage.store import Store
from ledgerflow.web.app import Identity, create_web_app

STARTERS = ("alice", "bob", "maria", "sam")
CUSTOMERS = ("Stark Industries", "Acme", "Globex", "Initech", "Umbrella", "Wayne Enterprises", "Hooli")
BATCH = 5_000


def summary_playbook(directory: Path) -> Path:
    """pricing-exception with the SPEC §12 summary template, so every row renders one."""
    text = PRICING.read_text(encoding="utf-8").replace(
        "title: Pricing exception approval\n",
        'title: Pricing exception approval\nsummary: "{customer}: {deal_value} at {discount_pct}%"\n')
    path = directory / "pricing-summary.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def load(store: Store, count: int) -> None:
    """`count` running runs, each with one open prepare task (alice or bob), started over four weeks."""
    start = parse_time("2026-03-02T08:00:00Z")
    step = timedelta(weeks=4) / count

    def batches() -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
        runs, tasks = [], []
        for index in range(count):
            at = start + step * index
            ready = format_time(at)
            run_id, task_id = f"r-w{index:09d}", f"t-w{index:09d}"
            runs.append({"id": run_id, "playbook": "pricing-exception", "version": 1, "status": "running",
                         "started_by": STARTERS[index % len(STARTERS)], "started_at": ready, "ended_at": None,
                         "input": {"customer": f"{CUSTOMERS[index % len(CUSTOMERS)]} {index}",
                                   "deal_value": 1000 + index % 90_000, "discount_pct": 5 + index % 30},
                         "why": None, "exception": None, "reworked": None, "failed_check": None})
            tasks.append({"id": task_id, "ord": 0, "run": run_id, "playbook": "pricing-exception", "step": "prepare",
                          "type": "task", "status": "ready", "assignee": ("alice", "bob")[index % 2], "attempt": 1,
                          "seat": 0, "ready_at": ready, "due_at": format_time(at + timedelta(days=1)),
                          "sla_due_at": None, "started_at": None, "ended_at": None, "outcome": None,
                          "rationale": None, "output": None, "data_hash": None, "approver": None,
                          "authority_row": None, "on_behalf_of": None, "escalated": False, "blocked": False,
                          "error": None, "note": None, "pulled_in": None})
            if len(runs) == BATCH:
                yield runs, tasks
                runs, tasks = [], []
        if runs:
            yield runs, tasks

    for runs, tasks in batches():
        with store.write() as tx:
            tx.conn.execute(insert(schema.runs), runs)
            tx.conn.execute(insert(schema.tasks), tasks)
    with store.write() as tx:  # the lists' clock: a day after the last start, so most prepare tasks are overdue
        tx.set_clock(start + timedelta(weeks=4, days=1))
        if tx.conn.dialect.name == "postgresql":  # the planner's statistics, as autovacuum keeps them in service
            tx.conn.exec_driver_sql("ANALYZE runs")
            tx.conn.exec_driver_sql("ANALYZE tasks")


def timed(call: Callable[[], Any], repeats: int, warmup: int = 2) -> dict[str, Any]:
    latencies, result = [], None
    for index in range(warmup + repeats):
        started = time.perf_counter()
        result = call()
        if index >= warmup:
            latencies.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": round(percentile(latencies, 50), 2), "p90_ms": round(percentile(latencies, 90), 2),
            "max_ms": round(max(latencies), 2), "repeats": repeats, "result": result}


def measure(store: Store, repeats: int) -> dict[str, Any]:
    def board(actor: str, **where: str) -> Callable[[], Any]:
        def call() -> Any:
            with store.read() as tx:
                found = worklists.board(tx, actor, worklists.BoardFilter(**where))
            return {"rows": len(found.rows), "total": found.total, "people": len(found.per_person)}
        return call

    def runs(actor: str, after_pages: int = 0, **where: str) -> Callable[[], Any]:
        def call() -> Any:
            after = None
            with store.read() as tx:
                for _ in range(after_pages + 1):
                    rows, after = worklists.runs(tx, actor, worklists.RunFilter(**where), after=after)
            return {"rows": len(rows)}
        return call

    figures: dict[str, Any] = {
        "board_owner_first_page": timed(board("sam"), repeats),
        "board_owner_one_person": timed(board("sam", person="alice"), repeats),
        "board_owner_one_step": timed(board("sam", playbook="pricing-exception", step="prepare"), repeats),
        "board_outsider": timed(board("lena"), repeats),
        "runs_owner_first_page": timed(runs("sam"), repeats),
        "runs_owner_fifth_page": timed(runs("sam", after_pages=4), repeats),
        "runs_search_customer": timed(runs("sam", search="Stark 4200"), repeats),
        "runs_started_by": timed(runs("sam", started_by="bob"), repeats),
        "runs_period_week": timed(runs("sam", period="2026-W12"), repeats),
        "runs_outsider": timed(runs("lena"), repeats),
    }
    app = create_web_app(store, lambda token: Identity(actor=token) if token in ("sam",) else None, secret="bench")
    with TestClient(app) as client:
        signin = client.get("/signin").text
        csrf = signin.split('name="csrf_token" value="')[1].split('"')[0]
        client.post("/signin", data={"token": "sam", "csrf_token": csrf}, follow_redirects=False)
        figures["http_board_page"] = timed(lambda: len(client.get("/waiting").text), repeats)
        figures["http_runs_page"] = timed(lambda: len(client.get("/runs").text), repeats)
        figures["http_runs_search"] = timed(lambda: len(client.get("/runs", params={"q": "Stark"}).text), repeats)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--db", help="a postgresql:// server URL (a schema of its own, dropped after); "
                                     "SQLite in a temporary folder by default")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    work = scratch_dir("lf-web-lists-")
    context = pg_schema(args.db) if args.db and is_postgres(args.db) else nullcontext(sqlite_url(work, "web.db"))
    with context as url:
        store = new_store(url, playbook=summary_playbook(work))
        started = time.perf_counter()
        load(store, args.runs)
        loaded = time.perf_counter() - started
        print(f"loaded {args.runs} open runs in {loaded:.1f} s", file=sys.stderr)
        figures = measure(store, args.repeats)
        store.close()
    print(json.dumps({"benchmark": "web_lists", "open_runs": args.runs,
                      "database": "postgresql" if args.db and is_postgres(args.db) else "sqlite",
                      "load_seconds": round(loaded, 1), "figures": figures, "source": source_state()}))


if __name__ == "__main__":
    main()
