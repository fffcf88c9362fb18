"""The reliability battery: kill -9, races, concurrent timers, the authorization matrix and hostile input.

Bounded in count and time; prints one JSON document of figures (docs/reliability.md quotes them):

    python bench/chaos.py                                   # the configuration the docs quote
    python bench/chaos.py --kills 3 --races 5 --timer-runs 4 --no-matrix   # the small one CI runs

- kill: a `ledgerflow run start --idempotency-key K` loop (with `clock advance` between) killed with SIGKILL
  at a random moment, or right after a start's commit and before its answer is printed; then `audit verify`
  (every chain recomputed, the state replayed and compared), every run has its key and every key its run
  (nothing partial, nothing twice), and the interrupted start retried with its key answers the first run.
- races: approve and reject of one decision released together by a barrier: exactly one wins.
- timers: every timer due at once, fired by several worker processes: each fired by exactly one.
- matrix: the authorization matrix tests (every command x every kind of actor).
- hostile: the hostile-input catalogue against a `ledgerflow serve` process: 4xx answers only, nothing
  written, and the server's memory through alias bombs and 10 MB bodies.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from common import ADMIN, ROOT, new_store, pg_schema, scratch_dir, sqlite_url
from sqlalchemy import select, update

from ledgerflow.domain.errors import LedgerflowError
from ledgerflow.engine import service, tokens
from ledgerflow.storage import schema
from ledgerflow.storage.store import Store
from ledgerflow.trust import audit

INPUT = '{"customer": "Acme", "deal_value": 12000, "discount_pct": 18}'
OUTPUT = {"deal_sheet_url": "https://docs.example.com/d/1", "justification": "Competitor offered 20% on renewal"}
CLI = [sys.executable, "-c", "from ledgerflow.cli.main import entry; entry()"]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}

# The child of a kill: starts runs with idempotency keys, advancing the clock between them. With a
# `die_at`, it kills itself right after that start's commit, before the answer is printed.
CHILD = """
import os, signal, sys
from ledgerflow.cli import main as cli
url, prefix, count, die_at, data = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
for i in range(count):
    key = f"{prefix}-{i}"
    print(f"begin {key}", file=sys.stderr, flush=True)
    if i == die_at:  # killed after this start's commit, before its answer is printed
        cli.emit = lambda value, human=None: os.kill(os.getpid(), signal.SIGKILL)
    cli.main(["run", "start", "pricing-exception", "--as", "bob", "--input", data, "--idempotency-key", key,
              "--json", "--db", url])
    if i % 4 == 3:
        cli.main(["clock", "advance", "3h", "--db", url])
"""


@contextmanager
def database(backend: str, *, simulated: bool = True) -> Iterator[Store]:
    """A fresh database with the example directory and playbook, removed afterwards."""
    if backend == "sqlite":
        store = new_store(sqlite_url(scratch_dir("lf-chaos-")), simulated=simulated)
        try:
            yield store
        finally:
            store.close()
        return
    with pg_schema() as url:
        store = new_store(url, simulated=simulated)
        try:
            yield store
        finally:
            store.close()


def _keys(store: Store) -> dict[str, Any]:
    with store.read() as tx:
        return {row.key: row for row in tx.conn.execute(select(schema.idempotency_keys))}


def _runs(store: Store) -> set[str]:
    with store.read() as tx:
        return {r.id for r in tx.runs()}


def kills(backend: str, count: int, rng: random.Random) -> dict[str, Any]:
    """SIGKILL a start loop `count` times (half at random moments, half right after a commit)."""
    figures = {"kills": 0, "at_random": 0, "after_commit": 0, "finished_first": 0, "verify_failed": 0,
               "partial": 0, "duplicated": 0, "retries": 0, "retry_answered_first_run": 0,
               "retry_started_it": 0, "retry_wrong": 0, "events": 0}
    with database(backend) as store:
        for index in range(count):
            after_commit = index % 2 == 1
            die_at = rng.randrange(2, 8) if after_commit else -1
            child = subprocess.Popen([*CLI[:2], CHILD, store.url, f"k{index}", "12", str(die_at), INPUT],
                                 env=ENV,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            first = ""
            if not after_commit and child.stderr is not None:
                first = child.stderr.readline()  # the loop has begun: kill it somewhere within its starts
                time.sleep(rng.uniform(0.0, 0.5))
                child.send_signal(signal.SIGKILL)
            _, rest = child.communicate(timeout=120)
            err = first + rest
            killed = child.returncode == -signal.SIGKILL
            figures["kills"] += killed
            figures["after_commit" if after_commit else "at_random"] += killed
            figures["finished_first"] += not killed
            begun = re.findall(r"^begin (\S+)$", err, re.MULTILINE)
            check = audit.verify(store, processes=1)
            figures["verify_failed"] += not check["ok"]
            keys = _keys(store)
            runs = _runs(store)
            kept = {row.response["run"] for row in keys.values() if row.response is not None}
            figures["partial"] += len(runs ^ kept) + sum(row.status is None for row in keys.values())
            figures["duplicated"] += len(runs) - len(set(runs)) + (len(keys) - len(kept))
            if killed and begun:
                key, held = begun[-1], keys.get(begun[-1])
                retry = subprocess.run([*CLI, "run", "start", "pricing-exception", "--as", "bob", "--input", INPUT,
                                        "--idempotency-key", key, "--json", "--db", store.url], env=ENV,
                                       capture_output=True, text=True, timeout=120, check=False)
                figures["retries"] += 1
                answer = json.loads(retry.stdout) if retry.returncode == 0 else {}
                after = _runs(store)
                if held is not None and answer.get("run") == held.response["run"] and after == runs:
                    figures["retry_answered_first_run"] += 1
                elif held is None and answer.get("run") in after - runs and len(after) == len(runs) + 1:
                    figures["retry_started_it"] += 1
                else:
                    figures["retry_wrong"] += 1
        final = audit.verify(store, processes=1)
        figures["verify_failed"] += not final["ok"]
        figures["events"] = final["events"]
        figures["runs"] = len(_runs(store))
    return figures


def races(backend: str, count: int) -> dict[str, Any]:
    """Approve and reject of the same decision, released together: exactly one may win."""
    outcomes = {"races": count, "one_winner": 0, "no_winner": 0, "two_winners": 0}
    with database(backend) as store:
        decisions = []
        for _ in range(count):
            run, _ = service.start_run(store, "pricing-exception", json.loads(INPUT), service.Caller(actor="bob"))
            prepare = next(t for t in run.tasks if t.is_open)
            done = service.task_command(store, "complete", prepare.id, service.Caller(actor=str(prepare.assignee)),
                                        output=OUTPUT)
            decisions.append(done["opened"][0])
        for task in decisions:
            barrier, won = threading.Barrier(2), list[str]()

            def decide(outcome: str, task: Any = task, barrier: threading.Barrier = barrier,
                       won: list[str] = won) -> None:
                barrier.wait()
                try:
                    service.task_command(store, "decide", task.id, service.Caller(actor=str(task.assignee)),
                                         outcome=outcome, rationale=f"{outcome} in a race", to=None)
                    won.append(outcome)
                except LedgerflowError:
                    pass

            threads = [threading.Thread(target=decide, args=(o,)) for o in ("approve", "reject")]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            outcomes[{0: "no_winner", 1: "one_winner"}.get(len(won), "two_winners")] += 1
        outcomes["audit_ok"] = audit.verify(store, processes=1)["ok"]
    return outcomes


def _fire(url: str, barrier: Any, results: Any) -> None:
    """One worker: wait for the others, then fire due timers a few per transaction until none is left."""
    store = Store(url)
    fired = 0
    try:
        barrier.wait()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            batch = service.fire_due_timers(store, limit=3)
            if not batch:
                break
            fired += len(batch)
    finally:
        store.close()
        results.put(fired)


def timers(backend: str, runs: int, workers: int) -> dict[str, Any]:
    """Every timer of `runs` open decisions due at once, fired by `workers` processes released together."""
    with database(backend, simulated=False) as store:
        for _ in range(runs):
            run, _ = service.start_run(store, "pricing-exception", json.loads(INPUT), service.Caller(actor="bob"))
            prepare = next(t for t in run.tasks if t.is_open)
            service.task_command(store, "complete", prepare.id, service.Caller(actor=str(prepare.assignee)),
                                 output=OUTPUT)
        with store.engine.begin() as conn:
            due = conn.execute(update(schema.timers).values(due_at="2000-01-01T00:00:00.000000Z")).rowcount
        context = multiprocessing.get_context("spawn")
        barrier, results = context.Barrier(workers), context.Queue()
        processes = [context.Process(target=_fire, args=(store.url, barrier, results)) for _ in range(workers)]
        for process in processes:
            process.start()
        reported = sorted((results.get(timeout=300) for _ in processes), reverse=True)
        for process in processes:
            process.join(timeout=60)
        with store.read() as tx:
            rows = tx.conn.execute(schema.timers.select()).all()
            nudges = [e for e in tx.events() if e["type"] in ("nudge.sent", "sla.breached")]
        per_task = [(e["type"], e["task"], e["data"].get("index")) for e in nudges]
        return {"workers": workers, "timers_due": due, "fired": sum(r.fired_at is not None for r in rows),
                "fire_reports": sum(reported), "per_worker": reported,
                "duplicate_nudges_or_breaches": len(per_task) - len(set(per_task)),
                "audit_ok": audit.verify(store, processes=1)["ok"]}


def matrix() -> dict[str, Any]:
    """The authorization matrix tests: every command by every kind of actor, on both databases."""
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",  # -q is in the addopts
                           "tests/engine/test_authorization_matrix.py", "tests/api/test_authorization_matrix.py"],
                          cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=1800, check=False)
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|error)", done.stdout)}
    return {"tests_passed": counts.get("passed", 0), "tests_failed": counts.get("failed", 0) + counts.get("error", 0)}


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextmanager
def serving(store: Store) -> Iterator[tuple[str, int]]:
    """`ledgerflow serve` in a process of its own; yields its base URL and pid."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen([*CLI, "serve", "--db", store.url, "--port", str(port), "--no-worker"], env=ENV,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 60
    try:
        while True:
            try:
                httpx.get(f"{base}/openapi.json", timeout=5)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.05)
        yield base, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def hostile(backend: str) -> dict[str, Any]:
    """The hostile catalogue over HTTP against a served database: statuses, rules, writes and memory."""
    sys.path.insert(0, str(ROOT))
    from tests.api.test_hostile_input import catalogue

    with database(backend) as store:
        token = tokens.create(store, "dave", ADMIN)["token"]
        with store.read() as tx:
            before = len(tx.events())
        statuses: dict[str, int] = {}
        rules: dict[str, int] = {}
        with serving(store) as (base, pid), httpx.Client(base_url=base, timeout=60) as client:
            rss_start, peak = _rss_mb(pid), 0.0
            for method, path, body, headers, _ in catalogue():
                answer = client.request(method, path, content=body,
                                        headers={"Authorization": f"Bearer {token}", **headers})
                statuses[f"{answer.status_code // 100}xx"] = statuses.get(f"{answer.status_code // 100}xx", 0) + 1
                rule = answer.json().get("rule", "") if answer.headers.get("content-type", "").endswith("json") else ""
                rules[rule] = rules.get(rule, 0) + 1
                peak = max(peak, _rss_mb(pid))
            rss_end = _rss_mb(pid)
        with store.read() as tx:
            written = len(tx.events()) - before
    return {"cases": sum(statuses.values()), "statuses": statuses, "rules": dict(sorted(rules.items())),
            "events_written": written, "rss_mb": {"start": round(rss_start, 1), "peak": round(peak, 1),
                                                  "end": round(rss_end, 1)}}


def timed(name: str, call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    started = time.monotonic()
    result = call()
    result["seconds"] = round(time.monotonic() - started, 1)
    print(f"{name}: {json.dumps(result)}", file=sys.stderr, flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgresql", help='"" for none (the matrix alone)')
    parser.add_argument("--kills", type=int, default=20, help="kill -9s per database (half right after a commit)")
    parser.add_argument("--races", type=int, default=50, help="approve/reject races per database")
    parser.add_argument("--timer-runs", type=int, default=20, help="runs whose timers fire all at once")
    parser.add_argument("--workers", type=int, default=4, help="processes firing timers")
    parser.add_argument("--no-matrix", action="store_true", help="skip the authorization matrix tests")
    parser.add_argument("--seed", type=int, default=18)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    figures: dict[str, Any] = {"seed": args.seed}
    for backend in filter(None, args.backends.split(",")):
        figures[backend] = {
            "kill": timed(f"{backend} kill", partial(kills, backend, args.kills, rng)),
            "races": timed(f"{backend} races", partial(races, backend, args.races)),
            "timers": timed(f"{backend} timers", partial(timers, backend, args.timer_runs, args.workers)),
            "hostile": timed(f"{backend} hostile", partial(hostile, backend)),
        }
    if not args.no_matrix:
        figures["matrix"] = timed("matrix", matrix)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
