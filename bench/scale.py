"""Scale: the inbox query, the scorecard, firing due timers and `audit verify`, on large SQLite databases.

    python bench/scale.py [--quick]

Large databases are not built through the engine (it writes ~100-200 commands/s); they are bulk-loaded:

- inbox: N open task rows inserted straight into `tasks` (most spread over 10,000 assignees; one ordinary
  assignee holds 50 open and 1,000 closed ones, one heavy assignee holds 1% of N);
- history (scorecard, audit verify): a template database made by the engine on a simulated clock (runs
  worked round by round, the clock advanced between rounds so nudges fire and decisions wait), then its runs,
  tasks, timers and events copied with new run and task ids and shifted times until the log holds N events.
  Every copied event is re-hashed into its run's chain and the chain heads written, so the result verifies;
- timers: a template with open decisions (each sets two nudges, an SLA and an escalation timer), copied the
  same way, then one `clock advance` that fires the first nudge of every open decision.

Every measured call goes through ledgerflow's own API (`Store.read` + `Tx.tasks`, `scorecard.scorecard`,
`service.advance_clock`, `audit.verify`), on the durable SQLite settings ledgerflow opens connections with.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import importlib
import json
import math
import os
import re
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import orjson
from common import ADMIN, DIRECTORY, new_store, percentile, scratch_dir, sqlite_url
from ruamel.yaml import YAML
from sqlalchemy import text

from engine import INPUT, OUTPUT, outcomes
from ledgerflow.domain.canonical import ZERO_HASH, canonical_json
from ledgerflow.domain.figures import Period, parse_period
from ledgerflow.domain.times import format_time, parse_time
from ledgerflow.engine import service
from ledgerflow.storage.store import Store, event_hash
from ledgerflow.trust import audit

_TOKEN = re.compile(r"\b[rt]-[a-z2-7]{8}\b|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{6})?Z")
_TASK_COLUMNS = ("id", "ord", "run", "playbook", "step", "type", "status", "assignee", "attempt", "seat",
                 "ready_at", "due_at", "sla_due_at", "started_at", "ended_at", "outcome", "rationale", "output",
                 "data_hash", "approver", "authority_row", "on_behalf_of", "escalated", "blocked", "error", "note")


# ------------------------------------------------------------------------------------------ inbox


def build_inbox(directory: Path, open_tasks: int, *, others: int = 10_000, mine: int = 50,
                mine_closed: int = 1_000, team: int = 0, name: str = "inbox.db") -> tuple[Store, str, str]:
    """A ledgerflow database with `open_tasks` open task rows; returns (store, ordinary, heavy assignee). With
    `team`, the first `team` of the bulk assignees (`user00000`...) are account executives too, the role that
    routing picks the first task of a run from."""
    url = sqlite_url(directory, name)
    store = new_store(url)
    if team:
        yaml = YAML()
        data = yaml.load(DIRECTORY.read_text(encoding="utf-8"))
        data["people"].extend({"id": f"user{n:05d}", "name": f"User {n}", "email": f"user{n:05d}@example.com",
                               "roles": ["account-exec"]} for n in range(team))
        path = directory / "team-directory.yaml"
        with path.open("w", encoding="utf-8") as out:
            yaml.dump(data, out)
        service.load_directory_file(store, str(path), ADMIN)
    store.close()
    heavy_count = max(open_tasks // 100, 1)
    start = parse_time("2026-03-02T08:00:00Z")

    def row(index: int, assignee: str, status: str, step: str = "approve", kind: str = "decision") -> tuple[Any, ...]:
        # one task a second, as tasks are routed one at a time (a million routed at one instant would make
        # routing count them all: round-robin counts a member's tasks of the step at its latest instant)
        ready = format_time(start + timedelta(seconds=index))
        ended = ready if status not in ("ready", "in_progress") else None
        return (f"t-bulk{index:09d}", 1, f"r-bulk{index:09d}", "pricing-exception", step, kind, status, assignee,
                1, 0, ready, "2026-03-03T08:00:00.000000Z", "2026-03-03T08:00:00.000000Z", None, ended,
                "approve" if ended else None, None, None, None, None, None, None, 0, 0, None, None)

    def rows() -> Iterator[tuple[Any, ...]]:
        index = 0
        for _ in range(mine):
            index += 1
            yield row(index, "dave", "ready")
        for _ in range(mine_closed):
            index += 1
            yield row(index, "dave", "decided")
        for _ in range(heavy_count):
            index += 1
            yield row(index, "erin", "ready")
        for n in range(open_tasks - mine - heavy_count):
            index += 1
            yield row(index, f"user{n % others:05d}", "in_progress" if n % 7 == 0 else "ready", "prepare", "task")

    db = _bulk_connection(directory / name)
    placeholders = ", ".join("?" for _ in _TASK_COLUMNS)
    db.execute("BEGIN")
    db.executemany(f"INSERT INTO tasks ({', '.join(_TASK_COLUMNS)}) VALUES ({placeholders})", rows())
    db.execute("COMMIT")
    db.close()
    store = Store(url)
    recount(store)
    return store, "dave", "erin"


def measure_inbox(store: Store, assignee: str, queries: int, warmup: int = 5,
                  page: int | None = None) -> dict[str, Any]:
    """Latency of one inbox request: a read transaction and `Tx.tasks(assignee=..., status="open")`, the
    whole inbox or its first `page` tasks (what the REST API returns by default)."""
    latencies = []
    found = 0
    for index in range(warmup + queries):
        started = time.perf_counter()
        with store.read() as tx:
            tasks = tx.tasks(assignee=assignee, status="open", limit=page)
        elapsed = time.perf_counter() - started
        found = len(tasks)
        if index >= warmup:
            latencies.append(elapsed * 1000)
    return {"assignee_open_tasks": found, "queries": queries, "page": page,
            "p50_ms": round(percentile(latencies, 50), 3),
            "p99_ms": round(percentile(latencies, 99), 3), "max_ms": round(max(latencies), 3)}


def measure_routing(store: Store, starts: int = 50) -> dict[str, Any]:
    """Starting a run routes its first task to the least-loaded account executive: with the inbox table's
    bulk open tasks handed to that role's two members first, so that they hold (almost) all of them."""
    with store.write() as tx:
        tx.conn.exec_driver_sql("UPDATE tasks SET assignee = CASE WHEN rowid % 2 = 0 THEN 'alice' ELSE 'bob' END "
                                "WHERE assignee LIKE 'user%'")
    recount(store)
    with store.read() as tx:
        held = sum(tx.workload().get(actor, 0) for actor in ("alice", "bob"))
    latencies = []
    for index in range(starts):
        started = time.perf_counter()
        service.start_run(store, "pricing-exception", {"customer": f"r{index}", **INPUT}, service.Caller(actor="maria"))
        latencies.append((time.perf_counter() - started) * 1000)
    return {"role_open_tasks": held, "starts": starts, "p50_ms": round(percentile(latencies, 50), 3),
            "p99_ms": round(percentile(latencies, 99), 3), "durability": "one commit per start (synchronous=FULL)"}


def measure_routing_team(store: Store, starts: int = 50) -> dict[str, Any]:
    """Starting a run routes its first task to the least-loaded of the account executives: in a database built
    with a `team` (`build_inbox`), hundreds of them, each holding open tasks of the inbox table."""
    with store.read() as tx:
        found = tx.directory()
        role = found.members("account-exec") if found is not None else ()
        load = tx.workload()
    latencies = []
    for index in range(starts):
        started = time.perf_counter()
        service.start_run(store, "pricing-exception", {"customer": f"w{index}", **INPUT}, service.Caller(actor="maria"))
        latencies.append((time.perf_counter() - started) * 1000)
    return {"role_members": len(role), "members_open_tasks": sum(load.get(actor, 0) for actor in role),
            "starts": starts,
            "p50_ms": round(percentile(latencies, 50), 3), "p99_ms": round(percentile(latencies, 99), 3),
            "durability": "one commit per start (synchronous=FULL)"}


# ------------------------------------------------------------------------------- copying a template


def _bulk_connection(path: Path) -> sqlite3.Connection:
    """A loader connection: durability off while bulk loading (ledgerflow's own connections set FULL)."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-262144")
    return db


class _Cells:
    """A template row whose text cells are split around run/task ids and times, for fast copying."""

    __slots__ = ("cells",)

    def __init__(self, row: Sequence[Any]):
        self.cells: list[Any] = []
        for value in row:
            if isinstance(value, str) and _TOKEN.search(value):
                parts: list[str] = []
                last = 0
                for match in _TOKEN.finditer(value):
                    parts += [value[last:match.start()], match.group(0)]
                    last = match.end()
                parts.append(value[last:])
                self.cells.append(parts)
            else:
                self.cells.append(value)

    def tokens(self) -> Iterator[str]:
        for cell in self.cells:
            if isinstance(cell, list):
                yield from cell[1::2]

    def render(self, mapping: dict[str, str]) -> list[Any]:
        out = []
        for cell in self.cells:
            if isinstance(cell, list):
                parts = cell[:]
                parts[1::2] = [mapping.get(token, token) for token in cell[1::2]]
                out.append("".join(parts))
            else:
                out.append(cell)
        return out


def _template_event(row: Sequence[Any]) -> tuple[Any, ...]:
    """A template event's columns, then the fields only its body holds, as JSON text (copied as text cells)."""
    fields = json.loads(row[-1])
    return (*row[:-1], json.dumps(fields["authority"]), json.dumps(fields["data"]), fields["v"])


def _shift_time(token: str, delta: timedelta) -> str:
    moment = parse_time(token) + delta
    text = format_time(moment)
    return text if "." in token else text.replace(".000000Z", "Z")


class Copier:
    """Copies the run-bound rows of a template database, with new ids and shifted times, into a target."""

    def __init__(self, template: Path):
        db = sqlite3.connect(template)
        db.row_factory = sqlite3.Row
        self.runs = [_Cells(tuple(r)) for r in db.execute("SELECT * FROM runs ORDER BY started_at, id")]
        self.run_columns = [d[0] for d in db.execute("SELECT * FROM runs LIMIT 0").description]
        self.tasks = [_Cells(tuple(r)) for r in db.execute("SELECT * FROM tasks WHERE run IS NOT NULL")]
        self.task_columns = [d[0] for d in db.execute("SELECT * FROM tasks LIMIT 0").description]
        timer_columns = [d[0] for d in db.execute("SELECT * FROM timers LIMIT 0").description if d[0] != "id"]
        self.timer_columns = timer_columns
        self.timers = [_Cells(tuple(r)) for r in db.execute(
            f"SELECT {', '.join(timer_columns)} FROM timers WHERE run IS NOT NULL ORDER BY id")]
        self.events = [_Cells(_template_event(r)) for r in db.execute(
            "SELECT at, type, actor, channel, run, task, step, body FROM events WHERE run IS NOT NULL ORDER BY seq")]
        db.close()
        tokens: set[str] = set()
        for rows in (self.runs, self.tasks, self.timers, self.events):
            for cells in rows:
                tokens.update(cells.tokens())
        self.ids = sorted(t for t in tokens if t[1] == "-")
        self.times = sorted(t for t in tokens if t[1] != "-")

    def mapping(self, copy: int, delta: timedelta) -> dict[str, str]:
        mapping = {token: f"{token}.{copy}" for token in self.ids}
        mapping.update((token, _shift_time(token, delta)) for token in self.times)
        return mapping

    def copy_into(self, target: Path, copies: int, shift: timedelta, *, stop_at_events: int | None = None,
                  chained: bool = True) -> int:
        """Append copies 1..copies (copy k shifted by k*shift) to `target`; returns the events in its log.

        `chained=False` skips re-hashing (hashes are zeros, no chain heads): ten times faster, for a log that
        is only read (the scorecard at 10M events), never verified.
        """
        db = _bulk_connection(target)
        seq = db.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
        heads = {chain: (length, hash_) for chain, length, hash_ in db.execute("SELECT id, length, hash FROM chains")}
        insert_run = (f"INSERT INTO runs ({', '.join(self.run_columns)}) "
                      f"VALUES ({', '.join('?' for _ in self.run_columns)})")
        insert_task = (f"INSERT INTO tasks ({', '.join(self.task_columns)}) "
                       f"VALUES ({', '.join('?' for _ in self.task_columns)})")
        insert_timer = (f"INSERT INTO timers ({', '.join(self.timer_columns)}) "
                        f"VALUES ({', '.join('?' for _ in self.timer_columns)})")
        insert_event = ("INSERT INTO events (seq, chain, chain_seq, at, type, actor, channel, run, task, step, "
                        "hash, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        db.execute("BEGIN")
        for copy in range(1, copies + 1):
            if stop_at_events is not None and seq >= stop_at_events:
                break
            mapping = self.mapping(copy, shift * copy)
            db.executemany(insert_run, [c.render(mapping) for c in self.runs])
            db.executemany(insert_task, [c.render(mapping) for c in self.tasks])
            db.executemany(insert_timer, [c.render(mapping) for c in self.timers])
            rows = []
            for cells in self.events:
                at, type_, actor, channel, run, task, step, authority, data, v = cells.render(mapping)
                seq += 1
                chain = run or "system"
                length, prev = (seq - 1, ZERO_HASH) if not chained else heads.get(chain, (0, ZERO_HASH))
                stored = {"v": v, "seq": seq, "chain": chain, "chain_seq": length + 1, "at": at, "type": type_,
                          "actor": actor, "channel": channel, "run": run, "task": task, "step": step,
                          "authority": json.loads(authority), "data": json.loads(data), "prev_hash": prev}
                if not chained:  # a log only read: sorted keys stand in for the canonical form, no hash
                    body = orjson.dumps(stored, option=orjson.OPT_SORT_KEYS)
                    rows.append((seq, chain, seq, at, type_, actor, channel, run, task, step, ZERO_HASH, body.decode()))
                    continue
                body = canonical_json(stored)
                digest = hashlib.sha256(body).hexdigest()
                heads[chain] = (length + 1, digest)
                rows.append((seq, chain, length + 1, at, type_, actor, channel, run, task, step, digest, body.decode()))
            db.executemany(insert_event, rows)
            if copy % 50 == 0:
                db.execute("COMMIT")
                db.execute("BEGIN")
        db.executemany("INSERT OR REPLACE INTO chains (id, length, hash) VALUES (?, ?, ?)",
                       [(chain, length, hash_) for chain, (length, hash_) in heads.items()])
        db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
        return int(seq)


COUNT_MIGRATIONS = ("0011_period_counts", "0012_workload", "0022_count_slots")
"""The migrations that made the running counts' tables and first filled them in (they read only runs, tasks and
the events' columns), and the one that spread them over slots."""


def recount(store: Store) -> None:
    """Rebuild the running counts (weeks, open tasks per assignee) from rows loaded behind the engine's back:
    their tables dropped and made again by the migrations that first filled them in (not the whole chain of
    migrations down and up, which would rewrite every event's body twice)."""
    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    with store.engine.connect().execution_options(ledgerflow_write=True) as conn, conn.begin():
        for table in ("latency_marks", "period_counts", "workload"):
            conn.execute(text(f"DROP TABLE {table}"))
        with Operations.context(MigrationContext.configure(conn)):
            for name in COUNT_MIGRATIONS:
                importlib.import_module(f"ledgerflow.storage.migrations.versions.{name}").upgrade()


def _checkpoint(path: Path) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def _work_round(store: Store, mix: Iterator[str], sent_back: set[str]) -> int:
    with store.read() as tx:
        tasks = [t for t in tx.tasks(status="open") if t.run is not None]
    for task in tasks:
        actor = service.Caller(actor=str(task.assignee))
        if task.type == "decision":
            outcome = next(mix)
            if outcome == "send_back" and task.run in sent_back:
                outcome = "approve"
            if outcome == "send_back":
                sent_back.add(str(task.run))
            service.task_command(store, "decide", task.id, actor, outcome=outcome, rationale="bench", to=None)
        else:
            output = OUTPUT if task.step == "prepare" else {"quote_id": "Q"}
            service.task_command(store, "complete", task.id, actor, output=output)
    return len(tasks)


def build_history_template(path: Path, runs: int = 120, seed: int = 11) -> dict[str, Any]:
    """A simulated-clock history: runs started over an hour, then worked in rounds 5 hours apart."""
    store = new_store(sqlite_url(path.parent, path.name))
    try:
        for index in range(runs):
            service.start_run(store, "pricing-exception", {"customer": f"c{index}", **INPUT},
                              service.Caller(actor="bob"))
            if index % 20 == 19:
                service.advance_clock(store, "10m", ADMIN)
        mix, sent_back = outcomes(seed), set[str]()
        while _work_round(store, mix, sent_back):
            service.advance_clock(store, "5h", ADMIN)
        with store.read() as tx:
            head = tx.event_count()
            run_events = len(tx.events()) - sum(1 for e in tx.events() if e["run"] is None)
            span = (tx.now() - parse_time("2026-03-02T08:00:00Z")).total_seconds() / 3600
    finally:
        store.close()
    _checkpoint(path)
    return {"runs": runs, "events": head, "run_events": run_events, "span_hours": round(span, 1)}


def build_history(directory: Path, events: int, weeks: int = 8, *,
                  chained: bool = True) -> tuple[Store, dict[str, Any]]:
    """A database whose log holds about `events` events, spread over `weeks` weeks; verifies clean.

    `chained=False` copies without re-hashing (see `Copier.copy_into`): a log for the scorecard alone.
    """
    template = directory / "history-template.db"
    info = _template_info(template) if template.exists() else build_history_template(template)
    copies = max(math.ceil((events - info["events"]) / info["run_events"]), 0)
    target = directory / ("history.db" if chained else "large-history.db")
    shutil.copyfile(template, target)
    shift = timedelta(minutes=max(weeks * 7 * 24 * 60 // max(copies, 1), 1))
    total = Copier(template).copy_into(target, copies, shift, chained=chained)
    store = Store(sqlite_url(directory, target.name))
    recount(store)
    return store, {**info, "copies": copies, "total_events": total,
                                                       "copy_shift_minutes": shift.total_seconds() / 60}


def _template_info(template: Path) -> dict[str, Any]:
    db = sqlite3.connect(template)
    try:
        events = db.execute("SELECT count(*) FROM events").fetchone()[0]
        run_events = db.execute("SELECT count(*) FROM events WHERE run IS NOT NULL").fetchone()[0]
        runs = db.execute("SELECT count(*) FROM runs").fetchone()[0]
    finally:
        db.close()
    return {"runs": runs, "events": events, "run_events": run_events}


def build_timers(directory: Path, decisions: int, template_runs: int = 100) -> tuple[Store, dict[str, Any]]:
    """A simulated-clock database with `decisions` open decision tasks, each with its nudge/SLA timers."""
    template = directory / "timers-template.db"
    store = new_store(sqlite_url(directory, template.name))
    try:
        for index in range(template_runs):
            service.start_run(store, "pricing-exception", {"customer": f"c{index}", **INPUT},
                              service.Caller(actor="bob"))
        with store.read() as tx:
            prepare = [t for t in tx.tasks(status="open") if t.step == "prepare"]
        for task in prepare:
            service.task_command(store, "complete", task.id, service.Caller(actor=str(task.assignee)), output=OUTPUT)
    finally:
        store.close()
    _checkpoint(template)
    target = directory / "timers.db"
    shutil.copyfile(template, target)
    copies = max(math.ceil(decisions / template_runs) - 1, 0)
    Copier(template).copy_into(target, copies, timedelta(0))
    store = Store(sqlite_url(directory, target.name))
    recount(store)
    with store.read() as tx:
        open_decisions = len(tx.tasks(status="open"))
        pending = tx.conn.exec_driver_sql("SELECT kind, count(*) FROM timers WHERE fired_at IS NULL "
                                          "GROUP BY kind").all()
    return store, {"open_decisions": open_decisions, "pending_timers": {k: n for k, n in pending}}


# ------------------------------------------------------------------------------------------- figures


def measure_scorecard(store: Store, repeats: int) -> list[dict[str, Any]]:
    """One busy ISO week, and one period covering the whole history (every run and event in it).

    A scope that fails is reported with its error (and how many ended runs the period holds), not raised.
    """
    from ledgerflow.reporting.scorecard import scorecard

    with store.read() as tx:
        first = tx.conn.exec_driver_sql("SELECT min(started_at), max(ended_at) FROM runs").one()
        events = tx.event_count()
    start, end = parse_time(first[0]), parse_time(first[1]) + timedelta(seconds=1)
    year, week, _ = (start + timedelta(days=14)).isocalendar()
    periods = {"week": parse_period(f"{year}-W{week:02d}"),
               "all": Period(name="all", start=start, end=end)}
    out: list[dict[str, Any]] = []
    for name, period in periods.items():
        low, high = period.bounds
        with store.read() as tx:
            ended = tx.conn.exec_driver_sql(
                "SELECT count(*) FROM runs WHERE ended_at >= ? AND ended_at < ? AND status IN "
                "('completed', 'rejected')", (low, high)).scalar()
        result: dict[str, Any] = {"benchmark": "scorecard", "events_in_log": events, "scope": name,
                                  "period": period.name, "ended_runs_in_period": ended}
        times, card = [], None
        try:
            for _ in range(repeats):
                started = time.perf_counter()
                card = scorecard(store, "pricing-exception", period)
                times.append(time.perf_counter() - started)
        except Exception as exc:
            out.append({**result, "error": f"{type(exc).__name__}: {exc}"})
            continue
        assert card is not None
        out.append({**result, "throughput": card["throughput"], "rework": card["rework"],
                    "seconds": round(sorted(times)[len(times) // 2], 3), "repeats": repeats})
    return out


def measure_timers(store: Store, advance: str = "5h") -> dict[str, Any]:
    started = time.perf_counter()
    result = service.advance_clock(store, advance, ADMIN)
    elapsed = time.perf_counter() - started
    fired = len(result["fired"])
    kinds: dict[str, int] = {}
    for timer in result["fired"]:
        kinds[timer["kind"]] = kinds.get(timer["kind"], 0) + 1
    return {"advance": advance, "fired": fired, "kinds": kinds, "seconds": round(elapsed, 3),
            "timers_per_s": round(fired / elapsed, 1), "ms_per_timer": round(1000 * elapsed / max(fired, 1), 3),
            "commits": fired // service.TIMER_BATCH + 1}


def measure_verify(store: Store) -> dict[str, Any]:
    gc.collect()
    started = time.perf_counter()
    result = audit.verify(store)
    elapsed = time.perf_counter() - started
    return {"ok": result["ok"], "first_bad": result["first_bad"], "events": result["events"],
            "seconds": round(elapsed, 3), "events_per_s": round(result["events"] / elapsed, 1),
            **hash_floor(store)}


def hash_floor(store: Store, sample: int = 20_000, repeats: int = 5) -> dict[str, Any]:
    """What recomputing the hashes alone costs: `event_hash` over events already read and decoded (best of
    `repeats`), and the events/s that allows on every core with no reading and no replay."""
    with store.read() as tx:
        bodies = [{k: v for k, v in row.items() if k != "hash"} for row in tx.events(limit=sample)]
    best = math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        for body in bodies:
            event_hash(body)
        best = min(best, (time.perf_counter() - started) / len(bodies))
    cores = os.cpu_count() or 1
    return {"hash_only_us_per_event": round(best * 1e6, 2), "hash_only_events_per_s_all_cores": round(cores / best)}


def check_hash_agreement() -> None:
    """The copier hashes like `Store.append`; fail loudly if ledgerflow's event hash ever changes shape."""
    body = {"v": 2, "seq": 1, "chain": "r-abcdefgh", "chain_seq": 1, "at": "2026-03-02T08:00:00.000000Z",
            "type": "run.started", "actor": "bob",
            "channel": "cli", "run": "r-abcdefgh", "task": None, "step": None,
            "authority": {"kind": "starter", "detail": None}, "data": {"x": 1}, "prev_hash": "0" * 64}
    if hashlib.sha256(canonical_json(body)).hexdigest() != event_hash(body):
        raise RuntimeError("bench/scale.py hashes events differently from ledgerflow.storage.store.event_hash")


def _attempt(kind: str, measure: Callable[[], dict[str, Any]], **labels: Any) -> dict[str, Any]:
    """Run one measurement; a failure becomes a reported result (`error`) instead of ending the suite."""
    try:
        return {"benchmark": kind, **labels, **measure()}
    except Exception as exc:
        return {"benchmark": kind, **labels, "error": f"{type(exc).__name__}: {exc}"}


TEAM = 500
"""Account executives in the team routing picks among (`routing_team`): a team of 500 approvers."""


def run_scale(*, inbox_tasks: int, history_events: int, timer_decisions: int, history_weeks: int = 8,
              scorecard_events: int = 0, inbox_queries: int = 300, scorecard_repeats: int = 3,
              log: Any = None) -> list[dict[str, Any]]:
    """Build each database, measure, clean up; one result dict per figure."""
    check_hash_agreement()
    results: list[dict[str, Any]] = []

    def note(message: str) -> None:
        if log is not None:
            log(message)

    directory = scratch_dir("scale-bench-")
    try:
        started = time.perf_counter()
        store, ordinary, heavy = build_inbox(directory, inbox_tasks)
        setup = round(time.perf_counter() - started, 1)
        note(f"inbox database with {inbox_tasks} open tasks built in {setup}s")
        def inbox(assignee: str, queries: int, page: int | None) -> dict[str, Any]:
            return {"open_tasks": inbox_tasks, **measure_inbox(store, assignee, queries, page=page),
                    "setup_seconds": setup}

        try:
            for who, assignee, queries, page in (("ordinary", ordinary, inbox_queries, None),
                                                 ("heavy", heavy, max(inbox_queries // 50, 20), None),
                                                 ("heavy_first_page", heavy, inbox_queries, 50)):
                results.append(_attempt("inbox", partial(inbox, assignee, queries, page), assignee=who))
            results.append(_attempt("routing", lambda: {"open_tasks": inbox_tasks, **measure_routing(store)}))
        finally:
            store.close()
            (directory / "inbox.db").unlink(missing_ok=True)

        store, _, _ = build_inbox(directory, inbox_tasks, team=TEAM, name="team-inbox.db")
        try:
            results.append(_attempt("routing_team", lambda: {"open_tasks": inbox_tasks,
                                                             **measure_routing_team(store)}))
        finally:
            store.close()
            (directory / "team-inbox.db").unlink(missing_ok=True)

        started = time.perf_counter()
        store, info = build_history(directory, history_events, history_weeks)
        setup = round(time.perf_counter() - started, 1)
        note(f"history with {info['total_events']} events built in {setup}s")
        try:
            for card in measure_scorecard(store, scorecard_repeats):
                results.append({**card, "setup_seconds": setup, "template": info})
            results.append(_attempt("audit_verify", lambda: {**measure_verify(store), "setup_seconds": setup}))
        finally:
            store.close()
            (directory / "history.db").unlink(missing_ok=True)

        if scorecard_events > history_events:
            started = time.perf_counter()
            store, info = build_history(directory, scorecard_events, history_weeks, chained=False)
            setup = round(time.perf_counter() - started, 1)
            note(f"scorecard-only history with {info['total_events']} events built in {setup}s")
            try:
                for card in measure_scorecard(store, scorecard_repeats):
                    results.append({**card, "scope": f"{card['scope']}_large", "setup_seconds": setup,
                                    "template": info})
            finally:
                store.close()
                (directory / "large-history.db").unlink(missing_ok=True)

        started = time.perf_counter()
        store, info = build_timers(directory, timer_decisions)
        setup = round(time.perf_counter() - started, 1)
        note(f"timers database with {info['open_decisions']} open decisions built in {setup}s")
        try:
            results.append(_attempt("timers", lambda: {**measure_timers(store), **info, "setup_seconds": setup}))
        finally:
            store.close()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return results


SIZES = {
    "quick": {"inbox_tasks": 100_000, "history_events": 200_000, "history_weeks": 8, "timer_decisions": 1_000,
              "scorecard_events": 0},
    "full": {"inbox_tasks": 1_000_000, "history_events": 2_000_000, "history_weeks": 26, "timer_decisions": 100_000,
             "scorecard_events": 10_000_000},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--inbox-tasks", type=int)
    parser.add_argument("--history-events", type=int)
    parser.add_argument("--timer-decisions", type=int)
    parser.add_argument("--history-weeks", type=int)
    parser.add_argument("--scorecard-events", type=int)
    args = parser.parse_args()
    sizes = dict(SIZES["quick" if args.quick else "full"])
    for key in sizes:
        if getattr(args, key) is not None:
            sizes[key] = getattr(args, key)
    for result in run_scale(**sizes, log=lambda m: print(m, flush=True, file=__import__("sys").stderr)):
        print(json.dumps(result))


if __name__ == "__main__":
    main()
