"""REST API load: decision latency at fixed request rates, and the highest rate held with p99 under 50 ms.

    python bench/api_load.py [--quick] [--db postgresql://...] [--seconds S] [--rates 10,25,50] [--servers N]

1. A fresh database (durable defaults, real clock) with the pricing-exception playbook and the example
   directory plus a finance team (`--deciders`, default 50), a deal desk and account executives; many runs
   whose approval decision is open (prepare completed), and one bearer token per decider. On SQLite a
   template of 100 runs is made through the engine and copied (new ids, re-hashed into their runs' chains,
   as `bench/scale.py` does); on PostgreSQL every run is made through the engine.
2. `ledgerflow serve` (the REST API, the web UI and the worker, as deployed) in a process of its own on a
   loopback port; with `--servers N`, N such processes on ports of their own against the one database, each
   with its worker (as `serve` runs by default; several workers are safe, docs/deployment.md).
3. `bench/loadgen.py`, a process of its own, POSTs `/api/v1/tasks/{id}/decide`, each to a different open task
   (round-robin over the servers' ports),
   with the decider's token and an Idempotency-Key (`--no-idempotency-key` leaves it out), at a fixed
   arrival rate (open loop); latency is measured from each request's scheduled time. Outcomes follow the
   engine benchmark's mix (80% approve, 10% reject, 10% send back).
4. A ladder of rates, then a step search: up by x1.5 while p99 < 50 ms and no errors, then bisection
   between the highest passing and the lowest failing rate.

Prints one JSON object. The server and the generator (and PostgreSQL) share the machine's cores: the figures
are for this machine with all of them on it, not for the server alone. Server CPU is summed over the N
processes; each step also records PostgreSQL's CPU (every `postgres` process on the machine) and the whole
machine's busy cores. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from common import ADMIN, DIRECTORY, PRICING, is_postgres, percentile, pg_schema, scratch_dir, sqlite_url
from ruamel.yaml import YAML
from scale import Copier, _checkpoint, recount

from engine import INPUT, OUTPUT, outcomes
from ledgerflow.engine import service, tokens
from ledgerflow.storage.database import initialize, make_engine
from ledgerflow.storage.store import Store

LOADGEN = Path(__file__).resolve().parent / "loadgen.py"
P99_LIMIT_MS = 50.0
TEMPLATE_RUNS = 100
MODES: dict[str, dict[str, Any]] = {
    # rates: the fixed ladder (comparable between runs); then up to `search_steps` more steps of the search
    "quick": {"rates": [10, 50, 100], "seconds": 3.0, "search_steps": 4, "resolution": 0.15},
    "full": {"rates": [10, 20, 40, 60, 80, 120], "seconds": 10.0, "search_steps": 5, "resolution": 0.1},
}
RATE_CAP_OVER_LADDER = 2.5
"""The search goes no higher than this times the ladder's top rate (the open decisions are made up front)."""
WARMUP = {"rate": 20.0, "seconds": 2.0}
SQLITE_ONE_SERVER = (
    "--servers above 1 needs --db postgresql://...: on one SQLite file the server processes take turns at its "
    "single write lock and wait in its busy handler (docs/deployment.md), outside the in-process queue and group "
    "commit that one server's writers share, so the figures would measure the lock, not the servers")


def log(message: str) -> None:
    print(f"[api_load {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------- the database


def team_directory(directory: Path, deciders: int) -> tuple[Path, list[str]]:
    """The example directory plus `deciders` finance people (and a deal desk and account executives to
    match): routing spreads the decisions over a team, as in an organisation of that size."""
    yaml = YAML()
    data = yaml.load(DIRECTORY.read_text(encoding="utf-8"))
    finance = [f"fin{n:03d}" for n in range(1, deciders + 1)]
    helpers = max(deciders // 5, 2)
    for ids, role in ((finance, "finance"), ([f"dd{n:03d}" for n in range(1, helpers + 1)], "deal-desk"),
                      ([f"ae{n:03d}" for n in range(1, helpers + 1)], "account-exec")):
        for actor in ids:
            data["people"].append({"id": actor, "name": actor.upper(), "email": f"{actor}@example.com",
                                   "roles": [role]})
    path = directory / "directory.yaml"
    with path.open("w", encoding="utf-8") as handle:
        yaml.dump(data, handle)
    return path, ["dave", "erin", *finance]


def fresh_store(url: str, directory_file: Path) -> Store:
    engine = make_engine(url)
    initialize(engine, url, None)  # the real clock, as a deployed server runs
    engine.dispose()
    store = Store(url)
    service.load_directory_file(store, str(directory_file), ADMIN)
    service.publish(store, str(PRICING), ADMIN)
    return store


def open_decisions_by_engine(store: Store, runs: int) -> None:
    """`runs` runs started (by bob) and their prepare task completed, through the service."""
    for index in range(runs):
        _, (task,) = service.start_run(store, "pricing-exception", {"customer": f"c{index}", **INPUT},
                                       service.Caller(actor="bob"))
        service.task_command(store, "complete", task.id, service.Caller(actor=str(task.assignee)), output=OUTPUT)


def prepare(url: str, work: Path, decisions: int, deciders: int) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """Fill the (new) database at `url`; returns the open decisions (task, assignee) and a token per decider."""
    directory_file, finance = team_directory(work, deciders)
    if is_postgres(url):
        store = fresh_store(url, directory_file)
        open_decisions_by_engine(store, decisions)
    else:
        template = work / "template.db"
        store = fresh_store(sqlite_url(work, template.name), directory_file)
        open_decisions_by_engine(store, min(TEMPLATE_RUNS, decisions))
        store.close()
        _checkpoint(template)
        target = Path(url.removeprefix("sqlite:///"))
        shutil.copyfile(template, target)
        copies = max(-(-decisions // TEMPLATE_RUNS) - 1, 0)
        Copier(template).copy_into(target, copies, timedelta(0))
        template.unlink()
        store = Store(url)
        recount(store)
    try:
        with store.read() as tx:
            open_tasks = [(t.id, str(t.assignee)) for t in tx.tasks(status="open") if t.type == "decision"]
        made = {actor: tokens.create(store, actor, ADMIN)["token"] for actor in finance}
    finally:
        store.close()
    random.Random(3).shuffle(open_tasks)  # copies of one template run must not arrive back to back
    return open_tasks, made


# ------------------------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def servers(url: str, work: Path, count: int) -> Iterator[list[tuple[int, int]]]:
    """`count` `ledgerflow serve` processes on free loopback ports against `url`; yields [(port, pid)]."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(server(url, work / f"server-{index}.log")) for index in range(count)]


@contextlib.contextmanager
def server(url: str, log_file: Path) -> Iterator[tuple[int, int]]:
    """`ledgerflow serve` on a free loopback port, in a process of its own; yields (port, pid)."""
    port = free_port()
    command = [sys.executable, "-c", "from ledgerflow.cli.main import entry; entry()", "--db", url, "serve",
               "--host", "127.0.0.1", "--port", str(port)]
    with log_file.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=os.environ.copy())
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"ledgerflow serve exited with {process.returncode}: "
                                       f"{log_file.read_text(errors='replace')[-2000:]}")
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/openapi.json", timeout=2):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("ledgerflow serve did not answer within 60 s") from None
                    time.sleep(0.1)
            yield port, process.pid
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def cpu_seconds(*pids: int) -> float:
    """User + system CPU time of processes so far, summed (Linux /proc)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """User + system CPU of every `postgres` process on the machine so far, with the CPU of those that ended
    (the postmaster's reaped children): the database server's share. Other clients of it are counted too."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            head, tail = (entry / "stat").read_text().rsplit(")", 1)
        except OSError:  # gone, or not readable
            continue
        if head.split("(", 1)[1] != "postgres":
            continue
        fields = tail.split()
        total += sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime, stime, cutime, cstime
    return total / os.sysconf("SC_CLK_TCK")


def machine_busy_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all cores so far (/proc/stat; idle and iowait are not busy)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    total = sum(values[:8])  # guest time is already in user
    return total - values[3] - values[4], total


# ---------------------------------------------------------------------------------------------- the load


class OutOfDecisions(Exception):
    """The prepared open decisions would not last a step at this rate."""


class Load:
    """Hands out open decisions, one per request, and runs the generator for one rate."""

    def __init__(self, ports: list[int], server_pids: list[int], decisions: list[tuple[str, str]],
                 tokens_: dict[str, str], *, idempotency: bool, postgres: bool = False, seed: int = 7) -> None:
        self.ports, self.server_pids = ports, server_pids
        self.postgres = postgres
        self.decisions, self.tokens = decisions, tokens_
        self.next = 0
        self.idempotency = idempotency
        self.mix = outcomes(seed)
        self.idle_cpu_per_s = 0.0

    def measure_idle(self, seconds: float = 3.0) -> float:
        """The servers' CPU share with no request (the workers' polling, uvicorn's loops), per second, summed."""
        before, started = cpu_seconds(*self.server_pids), time.perf_counter()
        time.sleep(seconds)
        self.idle_cpu_per_s = (cpu_seconds(*self.server_pids) - before) / (time.perf_counter() - started)
        return self.idle_cpu_per_s

    def remaining(self) -> int:
        return len(self.decisions) - self.next

    def step(self, rate: float, seconds: float) -> dict[str, Any]:
        count = max(int(rate * seconds), 1)
        if count > self.remaining():
            raise RuntimeError(f"only {self.remaining()} open decisions left for {count} requests")
        chosen = self.decisions[self.next:self.next + count]
        self.next += count
        picked = [next(self.mix) for _ in chosen]
        requests = [{"path": f"/api/v1/tasks/{task}/decide", "token": self.tokens[assignee],
                     "body": {"outcome": outcome, "rationale": "bench: within policy"},
                     "key": uuid.uuid4().hex if self.idempotency else None}
                    for (task, assignee), outcome in zip(chosen, picked, strict=True)]
        plan = {"host": "127.0.0.1", "ports": self.ports, "rate": rate, "requests": requests}
        pg_before = postgres_cpu_seconds() if self.postgres else 0.0
        busy_before, ticks_before = machine_busy_ticks()
        cpu_before, started = cpu_seconds(*self.server_pids), time.perf_counter()
        finished = subprocess.run([sys.executable, str(LOADGEN)], input=json.dumps(plan), capture_output=True,
                                  text=True, check=True)
        server_cpu = cpu_seconds(*self.server_pids) - cpu_before
        elapsed = time.perf_counter() - started
        busy_after, ticks_after = machine_busy_ticks()
        pg_cpu = postgres_cpu_seconds() - pg_before if self.postgres else None
        idle = self.idle_cpu_per_s * elapsed  # the generator's start-up included
        raw = json.loads(finished.stdout)
        row = summarize(raw, picked, server_cpu, max(server_cpu - idle, 0.0))
        ok = max(row["ok"], 1)
        cores = (ticks_after - ticks_before) / max(os.cpu_count() or 1, 1)  # ticks per core over the step
        row["postgres_cpu_ms_per_request"] = round(1000 * pg_cpu / ok, 2) if pg_cpu is not None else None
        row["machine_busy_cores"] = round((busy_after - busy_before) / cores, 2) if cores else None
        row["step_seconds"] = round(elapsed, 2)
        return row


def _ms(values: list[float], pct: float) -> float | None:
    return round(percentile(values, pct) * 1000, 2) if values else None


def summarize(raw: dict[str, Any], picked: list[str], server_cpu: float, net_cpu: float) -> dict[str, Any]:
    """Percentiles over the answered requests; `net` CPU is the server's CPU minus its idle rate."""
    answered = [(lat, outcome) for lat, status, outcome in zip(raw["latency_seconds"], raw["status"], picked,
                                                                strict=True) if lat is not None and status == 200]
    latencies = [lat for lat, _ in answered]
    errors = sum(raw["errors"].values())
    ok = len(latencies)
    span = raw["last_completed"] or raw["schedule_seconds"]
    p99 = _ms(latencies, 99)
    by_outcome = {}
    for outcome in ("approve", "reject", "send_back"):
        these = [lat for lat, o in answered if o == outcome]
        by_outcome[outcome] = {"n": len(these), "p50_ms": _ms(these, 50), "p99_ms": _ms(these, 99)}
    return {
        "rate": raw["rate"], "requests": raw["requests"], "ok": ok, "errors": errors, "error_kinds": raw["errors"],
        "p50_ms": _ms(latencies, 50), "p90_ms": _ms(latencies, 90), "p99_ms": p99,
        "max_ms": round(max(latencies) * 1000, 2) if latencies else None,
        "achieved_per_s": round(ok / span, 1) if span else None,
        "passed": errors == 0 and p99 is not None and p99 < P99_LIMIT_MS,
        "server_cpu_ms_per_request": round(1000 * server_cpu / max(ok, 1), 2),
        "server_net_cpu_ms_per_request": round(1000 * net_cpu / max(ok, 1), 2),
        "server_cpu_share_of_one_core": round(server_cpu / span, 3) if span else None,
        "generator_cpu_ms_per_request": round(1000 * raw["cpu_seconds"] / max(raw["requests"], 1), 3),
        "send_lag_max_ms": round(raw["send_lag_max_seconds"] * 1000, 2),
        "connections_peak": raw["connections_peak"], "by_outcome": by_outcome,
    }


def search(measure: Callable[[float], dict[str, Any]], ladder: list[float], *, steps: int, resolution: float,
           cap: float) -> tuple[list[dict[str, Any]], float | None]:
    """The ladder, then x1.5 while passing, then bisection between the highest passing rate and the lowest
    failing rate above it; returns every step and the highest passing rate.

    On a noisy machine a lower rate can fail where a higher one passed (p99 over a few hundred requests is
    a handful of the slowest): the figure is the highest rate that held, and `lower_rates_failed` (see
    `run_api_load`) says when it was not monotone.
    """
    rows: list[dict[str, Any]] = []

    def bounds() -> tuple[float | None, float | None]:
        passing = [r["rate"] for r in rows if r["passed"]]
        best = max(passing) if passing else None
        failing = [r["rate"] for r in rows if not r["passed"] and (best is None or r["rate"] > best)]
        return best, (min(failing) if failing else None)

    for rate in ladder:
        rows.append({**measure(rate), "phase": "ladder"})
    for _ in range(steps):
        best, worst = bounds()
        if best is None:
            rate = max(round((worst or ladder[0]) / 2), 1)
            if worst is not None and rate >= worst:
                break
        elif worst is None:
            rate = min(round(best * 1.5), cap)
            if rate <= best:
                break
        else:
            if worst - best <= max(resolution * best, 1):
                break
            rate = round((best + worst) / 2)
        try:
            row = measure(rate)
        except OutOfDecisions:
            break
        rows.append({**row, "phase": "search"})
    return rows, bounds()[0]


def meaning(max_rate: float | None, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """What the figures mean for a team: 500 approvers deciding 50,000 requests a day."""
    per_day, hours = 50_000, 8
    average = per_day / (hours * 3600)
    peak = 3 * average  # a busy hour at three times the day's average
    cpu = [r["server_net_cpu_ms_per_request"] for r in rows if r["ok"]]
    cpu_ms = sorted(cpu)[len(cpu) // 2] if cpu else None
    out: dict[str, Any] = {
        "scenario": f"500 approvers, {per_day} decisions a day within {hours} working hours",
        "average_decisions_per_s": round(average, 2), "busy_hour_decisions_per_s": round(peak, 2),
        "server_cpu_ms_per_decision": cpu_ms,
        "note": "CPU: the server's own CPU per decision above its idle rate (median over the rates); capacity: "
                "the highest rate with p99 under 50 ms on this machine, generator included",
    }
    if cpu_ms is not None:
        out["share_of_one_core_average"] = round(average * cpu_ms / 1000, 4)
        out["share_of_one_core_busy_hour"] = round(peak * cpu_ms / 1000, 4)
    if max_rate:
        out["share_of_capacity_average"] = round(average / max_rate, 4)
        out["share_of_capacity_busy_hour"] = round(peak / max_rate, 4)
        out["decisions_per_day_at_capacity_8h"] = int(max_rate * hours * 3600)
    return out


# ------------------------------------------------------------------------------------------------- main


@contextlib.contextmanager
def database(db: str | None, work: Path) -> Iterator[str]:
    if db is not None and is_postgres(db):
        with pg_schema(db) as url:
            yield url
    else:
        yield sqlite_url(work, "api.db")


def run_api_load(*, mode: str = "quick", db: str | None = None, rates: list[float] | None = None,
                 seconds: float | None = None, deciders: int = 50, idempotency: bool = True,
                 search_steps: int | None = None, server_count: int = 1,
                 progress: Callable[[str], None] = log) -> dict[str, Any]:
    if server_count < 1:
        raise ValueError("server_count must be at least 1")
    if server_count > 1 and not (db is not None and is_postgres(db)):
        raise ValueError(SQLITE_ONE_SERVER)
    config = dict(MODES[mode])
    ladder = rates or config["rates"]
    seconds = seconds or config["seconds"]
    steps = config["search_steps"] if search_steps is None else search_steps
    cap = RATE_CAP_OVER_LADDER * max(ladder)
    need = int(WARMUP["rate"] * WARMUP["seconds"] + sum(r * seconds for r in ladder) + steps * cap * seconds) + 10
    work = scratch_dir("lf-api-bench-")
    try:
        with database(db, work) as url:
            started = time.perf_counter()
            if is_postgres(url):  # the ladder only (no search steps, below), with a margin
                need = min(need, int(WARMUP["rate"] * WARMUP["seconds"] + sum(r * seconds for r in ladder)) + 50)
            progress(f"preparing {need} open decisions ({'postgresql' if is_postgres(url) else 'sqlite'})")
            decisions, made = prepare(url, work, need, deciders)
            setup = time.perf_counter() - started
            progress(f"{len(decisions)} open decisions, {len(made)} tokens in {setup:.1f}s; "
                     f"starting {server_count} server process(es)")
            with servers(url, work, server_count) as started_servers:
                load = Load([port for port, _ in started_servers], [pid for _, pid in started_servers],
                            decisions, made, idempotency=idempotency, postgres=is_postgres(url))
                warmup = load.step(WARMUP["rate"], WARMUP["seconds"])
                progress(f"warm-up at {WARMUP['rate']}/s: p50 {warmup['p50_ms']} ms")
                time.sleep(1.0)
                idle = load.measure_idle()
                progress(f"server idle: {idle:.1%} of one core ({server_count} process(es))")

                def measure(rate: float) -> dict[str, Any]:
                    rate = float(rate)
                    if int(rate * seconds) > load.remaining():
                        raise OutOfDecisions(f"{load.remaining()} open decisions left for {rate:g}/s")
                    time.sleep(1.0)  # let the previous step drain
                    row = load.step(rate, seconds)
                    progress(f"{rate:g}/s: p50 {row['p50_ms']} p99 {row['p99_ms']} max {row['max_ms']} ms, "
                             f"{row['achieved_per_s']}/s achieved, {row['errors']} errors, server CPU "
                             f"{row['server_net_cpu_ms_per_request']} ms/request (above idle), PostgreSQL "
                             f"{row['postgres_cpu_ms_per_request']} ms/request, machine {row['machine_busy_cores']} "
                             f"cores busy")
                    return row

                # on PostgreSQL every open decision is made through the engine (slow): the ladder only
                rows, best = search(measure, ladder, steps=0 if is_postgres(url) else steps,
                                    resolution=config["resolution"], cap=cap)
            backend = "postgresql" if is_postgres(url) else "sqlite"
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load_avg = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else None
    return {
        "benchmark": "api_load", "backend": backend, "servers": server_count, "mode": mode,
        "seconds_per_rate": seconds,
        "p99_limit_ms": P99_LIMIT_MS, "deciders": len(made), "open_decisions_prepared": len(decisions),
        "setup_seconds": round(setup, 1), "idempotency_key": idempotency, "warmup": warmup,
        "server_idle_cpu_share": round(idle, 4),
        "rows": sorted(rows, key=lambda r: r["rate"]), "max_rate_p99_under_50ms": best,
        "lower_rates_failed": sorted(r["rate"] for r in rows if not r["passed"] and best and r["rate"] < best),
        "max_achieved_per_s": max((r["achieved_per_s"] or 0 for r in rows), default=None),
        "meaning": meaning(best, rows), "loadavg_at_end": load_avg,
        "server": f"ledgerflow serve (uvicorn, {server_count} process{'es' if server_count > 1 else ''}, "
                  "worker on in each) on 127.0.0.1",
        "durability": "sqlite WAL synchronous=FULL, one commit per command" if backend == "sqlite"
        else "postgresql default (synchronous_commit=on)",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s per rate, a short ladder")
    parser.add_argument("--db", default=None, help="a postgresql:// server URL (a schema is created there); "
                                                   "default: a new SQLite file")
    parser.add_argument("--rates", help="the ladder, comma-separated requests/s")
    parser.add_argument("--seconds", type=float, help="seconds per rate")
    parser.add_argument("--search-steps", type=int, help="steps of the search after the ladder")
    parser.add_argument("--deciders", type=int, default=50, help="finance people added to the directory")
    parser.add_argument("--no-idempotency-key", action="store_true")
    parser.add_argument("--servers", type=int, default=1,
                        help="ledgerflow serve processes against the one database; requests go round-robin")
    args = parser.parse_args()
    if args.servers > 1 and not (args.db and is_postgres(args.db)):
        parser.error(SQLITE_ONE_SERVER)
    rates = [float(r) for r in args.rates.split(",")] if args.rates else None
    result = run_api_load(mode="quick" if args.quick else "full", db=args.db, rates=rates, seconds=args.seconds,
                          deciders=args.deciders, idempotency=not args.no_idempotency_key,
                          search_steps=args.search_steps, server_count=args.servers)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
