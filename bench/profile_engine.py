"""Profile one engine run (bench/engine.py's workload on SQLite) with cProfile and summarize the top costs.

    python bench/profile_engine.py [--runs 300] [--out bench/results/engine.prof] [--top 25]

Prints one JSON object: the wall time under the profiler, the cumulative time of the functions that matter
for the per-command cost (each as a share of the run; they overlap, since one calls another), and the top
functions by own time. cProfile slows Python code down more than C code (SQLite, hashing, JSON), so read
the shares as a ranking, not as exact fractions of an unprofiled run.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import PRICING, ROOT, new_store, playbook_without_triggers, scratch_dir, sqlite_url
from sqlalchemy import event

from engine import work

# (label, file suffix, function name): the places a command's time goes
KEY_FUNCTIONS = [
    ("service.task_command (one human step)", "ledgerflow/engine/service.py", "task_command"),
    ("service.start_run (one run start)", "ledgerflow/engine/service.py", "start_run"),
    ("governance.check_triggers (after a run ends)", "ledgerflow/engine/governance.py", "check_triggers"),
    ("scorecard.figures (the period's scorecard)", "ledgerflow/reporting/scorecard.py", "figures"),
    ("domain: flow commands (start/complete/decide)", "ledgerflow/domain/flow.py", None),
    ("routing.route", "ledgerflow/domain/routing.py", "route"),
    ("store.load_task_run (read and lock the run of a task)", "ledgerflow/storage/runs.py", "load_task_run"),
    ("store.save_run (write changed rows)", "ledgerflow/storage/runs.py", "save_run"),
    ("store.append (hash chain + insert)", "ledgerflow/storage/chain.py", "append"),
    ("store.event_hash (SHA-256 of canonical JSON)", "ledgerflow/storage/chain.py", "event_hash"),
    ("timers.timers_for", "ledgerflow/domain/timers.py", "timers_for"),
    ("sqlite3 commit (fsync, synchronous=FULL)", "~", "<method 'commit' of 'sqlite3.Connection' objects>"),
    ("sqlite3 cursor.execute (SQL in SQLite)", "~", "<method 'execute' of 'sqlite3.Cursor' objects>"),
    ("SQLAlchemy Connection.execute (statement setup + SQLite; not row fetching)", "sqlalchemy/engine/base.py",
     "execute"),
    ("json.loads (JSON columns read back)", "json/__init__.py", "loads"),
]
_FLOW_COMMANDS = {"start_run", "complete_task", "decide", "start_task", "recommend", "reassign"}


def _cumulative(stats: pstats.Stats, suffix: str, name: str | None) -> tuple[int, float]:
    calls, total = 0, 0.0
    for (file, _line, function), (_cc, nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if not file.endswith(suffix) and not (suffix == "~" and file == "~"):
            continue
        if (name is None and function in _FLOW_COMMANDS) or function == name:
            calls += nc
            total += ct
    return calls, total


_AREAS: list[tuple[str, Callable[[str, str], bool]]] = [  # (area, test on (file, function)), first match wins
    ("sqlite3 commit (fsync)", lambda f, n: f == "~" and "'commit' of 'sqlite3" in n),
    ("sqlite3 other C calls (execute, fetch)", lambda f, n: f == "~" and "sqlite3" in n),
    ("SQLAlchemy (Python)", lambda f, n: "/sqlalchemy/" in f),
    ("ledgerflow domain", lambda f, n: "/ledgerflow/domain/" in f),
    ("ledgerflow storage", lambda f, n: "/ledgerflow/storage/" in f),
    ("ledgerflow service, governance, scorecard", lambda f, n: "/ledgerflow/" in f),
    ("json (stdlib)", lambda f, n: "/json/" in f),
    ("jsonschema validation", lambda f, n: any(p in f for p in ("/jsonschema/", "/referencing/", "/rpds"))),
]


def own_time_by_area(stats: pstats.Stats) -> dict[str, float]:
    """Own (exclusive) time grouped by where the code lives, as shares of all profiled own time."""
    totals: dict[str, float] = {}
    # each function's (calls, primitive calls, own time, cumulative time, callers); typeshed leaves it out
    entries: dict[tuple[str, int, str], tuple[int, int, float, float, dict[Any, Any]]] = vars(stats)["stats"]
    for (file, _line, function), (_cc, _nc, tt, _ct, _callers) in entries.items():
        area = next((name for name, test in _AREAS if test(file, function)), "other (stdlib, builtins, bench loop)")
        totals[area] = totals.get(area, 0.0) + tt
    whole = sum(totals.values()) or 1.0
    return {area: round(seconds / whole, 3) for area, seconds in sorted(totals.items(), key=lambda x: -x[1])}


def summarize(stats: pstats.Stats, wall: float, top: int) -> dict[str, Any]:
    key = []
    for label, suffix, name in KEY_FUNCTIONS:
        calls, total = _cumulative(stats, suffix, name)
        key.append({"what": label, "calls": calls, "seconds": round(total, 3), "share": round(total / wall, 3)})
    own = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)  # type: ignore[attr-defined]
    top_own = []
    for (file, line, function), (_cc, nc, tt, ct, _callers) in own[:top]:
        where = file.replace(str(ROOT) + "/", "")
        if "/src/ledgerflow/" in where:  # the work tree or a snapshot of it: the same name either way
            where = "src/ledgerflow/" + where.split("/src/ledgerflow/", 1)[1]
        where = where.split("site-packages/", 1)[-1].split("/lib/python3.11/", 1)[-1]
        top_own.append({"function": f"{where}:{line}({function})", "calls": nc, "own_seconds": round(tt, 3),
                        "cumulative_seconds": round(ct, 3), "own_share": round(tt / wall, 3)})
    return {"wall_seconds_profiled": round(wall, 3), "key_functions": key, "own_time_by_area": own_time_by_area(stats),
            "top_by_own_time": top_own}


def profile_engine(runs: int, out: Path | None = None, top: int = 25, *, triggers: bool = True) -> dict[str, Any]:
    directory = scratch_dir()
    try:
        playbook = PRICING if triggers else playbook_without_triggers(directory)
        store = new_store(sqlite_url(directory), playbook=playbook)
        try:
            # SQLite reports every statement it runs (a batch's rows each count, BEGIN and COMMIT too), also
            # those the hot path sends past SQLAlchemy: trace the driver's connections, opened afresh
            statements: list[str] = []
            store.close()
            event.listen(store.engine, "connect", lambda dbapi, _record: dbapi.set_trace_callback(
                lambda sql: statements.append(sql.split(None, 1)[0].upper())))
            with store.read() as tx:  # warm the playbook and directory caches, as `work` does
                tx.playbook("pricing-exception")
            profiler = cProfile.Profile()
            profiler.enable()
            result = work(store, runs)
            profiler.disable()
        finally:
            store.close()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(out)
    stats = pstats.Stats(profiler)
    summary = summarize(stats, result["seconds"], top)
    commands = runs + result["human_steps"]
    kinds: dict[str, int] = {}
    for verb in statements:
        kinds[verb] = kinds.get(verb, 0) + 1
    summary["sql_statements_per_command"] = round(len(statements) / commands, 1)
    summary["sql_statements_by_verb"] = kinds  # includes the worklist reads of the benchmark loop itself
    return {"benchmark": "engine_profile", "backend": "sqlite", "risk_triggers": triggers, "runs": runs,
            "human_steps": result["human_steps"],
            "events": result["events"], **summary, "pstats_file": str(out) if out else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "engine.prof")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--no-triggers", action="store_true",
                        help="publish the playbook without its governance risk triggers")
    args = parser.parse_args()
    print(json.dumps(profile_engine(args.runs, args.out, args.top, triggers=not args.no_triggers)))


if __name__ == "__main__":
    main()
