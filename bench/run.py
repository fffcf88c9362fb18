"""The benchmark suite (issue #10): one command, one JSON line per figure, bench/results/latest.json.

    python bench/run.py --quick          # ~4 minutes on the 2-core machine (REST API load included)
    python bench/run.py                  # the full suite (larger databases, 5 rounds, workers, API load; ~30 min)
    python bench/run.py --no-postgres    # skip the PostgreSQL engine figure

Options: --pg URL (default postgresql://postgres@127.0.0.1:5432/test; the suite creates its own schema there
and drops it), --repeats N, --runs N, --out FILE, --skip-scale, --skip-api, --skip-profile, and --source head, which
measures a snapshot of the committed src/ (`git archive HEAD src`) instead of the work tree, so that edits
in progress in src/ can neither break nor skew a long run.

The machine is shared and noisy, so the throughput benchmarks run as interleaved rounds: each round runs
ledgerflow on SQLite (with and without risk triggers), SpiffWorkflow (reload and cached), the raw SQLite
append loop and ledgerflow on PostgreSQL back to back, alternating the order of ledgerflow and its peers
between rounds. Figures are medians over the rounds; each ratio is computed inside a round (same minute,
same load) and its median reported. Nothing here asserts a time: it measures and reports.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from api_load import run_api_load
from common import PG_DEFAULT, ROOT, machine, median, pg_schema, source_state, spread
from profile_engine import profile_engine
from raw_sqlite import run_raw, sample_events
from scale import SIZES, run_scale
from sql_floor import run_sql_floor, run_timer_floor

try:
    from spiff_peer import run_spiff
except ImportError as missing:  # SpiffWorkflow, the peer, is a benchmark-only extra
    raise SystemExit(f"bench/run.py needs the benchmark extras: pip install -e '.[bench]' ({missing})") from None
from workers import run_workers

from engine import run_engine

RESULTS = ROOT / "bench" / "results"
MODES = {
    "quick": {"runs": 100, "repeats": 3, "raw_appends": 1000, "scaling_runs": [], "profile_runs": 100,
              "worker_runs": 120,
              **SIZES["quick"], "inbox_queries": 300, "scorecard_repeats": 3, "api_variants": [True]},
    "full": {"runs": 300, "repeats": 5, "raw_appends": 3000, "scaling_runs": [1000], "profile_runs": 300,
             "worker_runs": 600,
             **SIZES["full"], "inbox_queries": 1000, "scorecard_repeats": 3, "api_variants": [True, False]},
}
API_ROW_KEYS = ("rate", "requests", "ok", "errors", "p50_ms", "p90_ms", "p99_ms", "max_ms", "achieved_per_s",
                "passed", "server_cpu_ms_per_request", "server_net_cpu_ms_per_request", "send_lag_max_ms", "phase")


class Report:
    """Prints one JSON line per figure and keeps them for latest.json."""

    def __init__(self) -> None:
        self.figures: list[dict[str, Any]] = []

    def figure(self, name: str, **values: Any) -> None:
        line = {"figure": name, **values}
        self.figures.append(line)
        print(json.dumps(line), flush=True)


def log(message: str) -> None:
    print(f"[bench {datetime.now(UTC).strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _throughput(results: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: spread([r[key] for r in results]) for key in keys}


def _ratio(numerators: list[dict[str, Any]], denominators: list[dict[str, Any]], num: str, den: str) -> dict[str, Any]:
    """Per-round ratios (same round, same load), then their median."""
    per_round = [a[num] / b[den] for a, b in zip(numerators, denominators, strict=True)]
    return {"median": round(median(per_round), 4), "per_round": [round(r, 4) for r in per_round]}


CALLERS = 4
"""Threads calling the engine at once in the group-commit figure (a service's request handlers)."""


def throughput_rounds(report: Report, config: dict[str, Any], pg_url: str | None) -> dict[str, Any]:
    runs, repeats = config["runs"], config["repeats"]
    log("sampling real event bodies for the raw append loop")
    samples = sample_events()
    rounds: dict[str, list[dict[str, Any]]] = {"lf_sqlite": [], "lf_sqlite_no_triggers": [], "spiff_reload": [],
                                               "spiff_cached": [], "raw": [], "lf_postgresql": [],
                                               "lf_sqlite_callers": [], "sql_floor": []}
    for index in range(repeats):
        log(f"round {index + 1}/{repeats}: {runs} runs each")
        steps: list[tuple[str, Callable[[], dict[str, Any]]]] = [
            ("lf_sqlite", lambda: run_engine(None, runs)),
            ("spiff_reload", lambda: run_spiff(runs, mode="reload")),
            ("lf_sqlite_no_triggers", lambda: run_engine(None, runs, triggers=False)),
            ("spiff_cached", lambda: run_spiff(runs, mode="cached")),
            ("raw", lambda: run_raw(samples, config["raw_appends"])),
        ]
        if index % 2 == 1:  # alternate who goes first, so a load spike does not always hit the same side
            steps = [steps[1], steps[0], steps[3], steps[2], steps[4]]
        steps.append(("lf_sqlite_callers", lambda: run_engine(None, runs, callers=CALLERS)))
        steps.append(("sql_floor", lambda: run_sql_floor(runs)))
        if pg_url is not None:
            steps.append(("lf_postgresql", lambda: run_engine(pg_url, runs)))
        for key, step in steps:
            rounds[key].append(step())
    keys = ("runs_per_s", "human_steps_per_s", "events_per_s", "commands_per_s", "ms_per_human_step")
    lf = rounds["lf_sqlite"]
    for name, key in (("engine.sqlite", "lf_sqlite"), ("engine.sqlite.no_risk_triggers", "lf_sqlite_no_triggers"),
                      ("engine.postgresql", "lf_postgresql"),
                      (f"engine.sqlite.callers_{CALLERS}", "lf_sqlite_callers")):
        if rounds[key]:
            first = rounds[key][0]
            report.figure(name, runs=runs, human_steps=first["human_steps"], events=first["events"],
                          events_per_command=first["events_per_command"], repeats=len(rounds[key]),
                          **_throughput(rounds[key], keys), durability=first["durability"])
    report.figure(f"engine.sqlite.callers_{CALLERS}.ratio",
                  callers_over_one_caller=_ratio(rounds["lf_sqlite_callers"], lf, "human_steps_per_s",
                                                 "human_steps_per_s"),
                  note=f"{CALLERS} threads sharing the work (commands that queue share a commit) / one caller")
    spiff_keys = ("runs_per_s", "human_steps_per_s", "commands_per_s", "ms_per_human_step")
    for mode in ("reload", "cached"):
        results = rounds[f"spiff_{mode}"]
        report.figure(f"peer.spiffworkflow.{mode}", runs=runs, human_steps=results[0]["human_steps"],
                      avg_state_bytes=results[0]["avg_state_bytes"], repeats=len(results),
                      **_throughput(results, spiff_keys), durability=results[0]["durability"])
    report.figure(
        "peer.ratio.human_steps_per_s",
        ledgerflow_over_spiffworkflow_reload=_ratio(lf, rounds["spiff_reload"], "human_steps_per_s",
                                                    "human_steps_per_s"),
        ledgerflow_over_spiffworkflow_cached=_ratio(lf, rounds["spiff_cached"], "human_steps_per_s",
                                                    "human_steps_per_s"),
        ledgerflow_no_risk_triggers_over_spiffworkflow_reload=_ratio(
            rounds["lf_sqlite_no_triggers"], rounds["spiff_reload"], "human_steps_per_s", "human_steps_per_s"),
        note="ledgerflow on SQLite / SpiffWorkflow on SQLite, same workload, same durability, same round")
    raw = rounds["raw"]
    report.figure("raw.sqlite_hash_chained_append", appends=config["raw_appends"],
                  events_per_append=raw[0]["events_per_append"],
                  avg_canonical_bytes_per_event=raw[0]["avg_canonical_bytes_per_event"], repeats=len(raw),
                  **_throughput(raw, ("appends_per_s", "events_per_s", "ms_per_append")),
                  durability=raw[0]["durability"])
    report.figure(
        "raw.share",
        ledgerflow_events_per_s_over_raw=_ratio(lf, raw, "events_per_s", "events_per_s"),
        ledgerflow_commands_per_s_over_raw_commits_per_s=_ratio(lf, raw, "commands_per_s", "appends_per_s"),
        ledgerflow_no_risk_triggers_events_per_s_over_raw=_ratio(rounds["lf_sqlite_no_triggers"], raw,
                                                                  "events_per_s", "events_per_s"),
        note="share of the disk+SQLite limit for a durable, hash-chained log that ledgerflow reaches")
    floor = rounds["sql_floor"]
    report.figure("raw.engine_statements_replayed", runs=runs, commands=floor[0]["commands"],
                  statements_per_command=floor[0]["statements_per_command"], repeats=len(floor),
                  **_throughput(floor, ("replay_durable_commands_per_s", "replay_durable_ms_per_command",
                                        "replay_cpu_ms_per_command")),
                  cpu_statement_us_per_command=floor[0]["replay_cpu_statement_us_per_command"],
                  ledgerflow_commands_per_s_over_replay=_ratio(lf, floor, "commands_per_s",
                                                               "replay_durable_commands_per_s"),
                  durability=floor[0]["durability"],
                  note="the engine's own write statements replayed with no Python: its ceiling on this disk, "
                       "and (synchronous=OFF) the CPU SQLite spends per command")
    return rounds


def scaling(report: Report, config: dict[str, Any]) -> list[dict[str, Any]]:
    """Engine throughput at a larger number of runs ending in one week (one measurement each)."""
    results = []
    for runs in config["scaling_runs"]:
        for triggers in (True, False):
            log(f"engine scaling: {runs} runs, risk triggers {'on' if triggers else 'off'}")
            result = run_engine(None, runs, triggers=triggers)
            results.append(result)
            report.figure("engine.sqlite.scaling", runs=runs, risk_triggers=triggers,
                          human_steps_per_s=result["human_steps_per_s"], runs_per_s=result["runs_per_s"],
                          events_per_s=result["events_per_s"], ms_per_human_step=result["ms_per_human_step"],
                          repeats=1)
    return results


def worker_figures(report: Report, config: dict[str, Any], pg_url: str | None) -> list[dict[str, Any]]:
    """1, 2 and 4 processes sharing one database (SQLite, then PostgreSQL), one measurement each."""
    log(f"workers: {config['worker_runs']} runs shared by 1, 2 and 4 processes")
    results = run_workers(config["worker_runs"], [1, 2, 4], pg_url)
    for result in results:
        report.figure(f"workers.{result['backend']}.{result['workers']}", **{
            k: v for k, v in result.items() if k not in ("benchmark", "backend", "workers")})
    return results


def scale_figures(report: Report, config: dict[str, Any]) -> list[dict[str, Any]]:
    results = run_scale(inbox_tasks=config["inbox_tasks"], history_events=config["history_events"],
                        history_weeks=config["history_weeks"], timer_decisions=config["timer_decisions"],
                        scorecard_events=config["scorecard_events"],
                        inbox_queries=config["inbox_queries"], scorecard_repeats=config["scorecard_repeats"],
                        log=log)
    log(f"timers' own statements replayed: {config['timer_decisions']} due nudges")
    results.append(run_timer_floor(config["timer_decisions"]))
    for result in results:
        kind = result["benchmark"]
        if "error" in result:  # reported as found: a failure at scale is a result too
            name = {"inbox": f"scale.inbox.{result.get('assignee')}_assignee",
                    "scorecard": f"scale.scorecard.{result.get('scope')}"}.get(kind, f"scale.{kind}")
            report.figure(name, **{k: v for k, v in result.items() if k not in ("benchmark", "template")})
        elif kind == "inbox":
            report.figure(f"scale.inbox.{result['assignee']}_assignee", open_tasks_in_table=result["open_tasks"],
                          assignee_open_tasks=result["assignee_open_tasks"], page=result["page"],
                          p50_ms=result["p50_ms"],
                          p99_ms=result["p99_ms"], max_ms=result["max_ms"], queries=result["queries"],
                          setup_seconds=result["setup_seconds"])
        elif kind == "scorecard":
            report.figure(f"scale.scorecard.{result['scope']}", events_in_log=result["events_in_log"],
                          period=result["period"], ended_runs_in_period=result["ended_runs_in_period"],
                          seconds=result["seconds"], repeats=result["repeats"],
                          setup_seconds=result["setup_seconds"])
        elif kind == "audit_verify":
            report.figure("scale.audit_verify", events=result["events"], ok=result["ok"],
                          seconds=result["seconds"], events_per_s=result["events_per_s"],
                          hash_only_us_per_event=result["hash_only_us_per_event"],
                          hash_only_events_per_s_all_cores=result["hash_only_events_per_s_all_cores"])
        elif kind == "timers":
            report.figure("scale.timers", fired=result["fired"], open_decisions=result["open_decisions"],
                          pending_timers=result["pending_timers"], seconds=result["seconds"],
                          timers_per_s=result["timers_per_s"], ms_per_timer=result["ms_per_timer"],
                          transactions=result["commits"], setup_seconds=result["setup_seconds"])
        elif kind == "timer_floor":
            report.figure("scale.timers.sql_floor", fired=result["fired"], transactions=result["transactions"],
                          engine_seconds=result["engine_seconds"], engine_ms_per_timer=result["engine_ms_per_timer"],
                          replay_durable_seconds=result["replay_durable_seconds"],
                          replay_durable_ms_per_timer=result["replay_durable_ms_per_timer"],
                          replay_cpu_ms_per_timer=result["replay_cpu_ms_per_timer"], durability=result["durability"],
                          note="the timer pass's own statements replayed with no Python (bench/sql_floor.py)")
        elif kind == "routing":
            report.figure("scale.routing", open_tasks_in_table=result["open_tasks"],
                          role_open_tasks=result["role_open_tasks"], starts=result["starts"],
                          p50_ms=result["p50_ms"], p99_ms=result["p99_ms"], durability=result["durability"])
    return results


def api_figures(report: Report, mode: str, config: dict[str, Any]) -> list[dict[str, Any]]:
    """Decisions over the REST API at fixed rates (bench/api_load.py), with and without Idempotency-Key."""
    results = []
    for idempotency in config["api_variants"]:
        suffix = "" if idempotency else ".no_idempotency_key"
        log(f"REST API load ({mode}), Idempotency-Key {'on' if idempotency else 'off'}")
        result = run_api_load(mode=mode, idempotency=idempotency, progress=log)
        results.append(result)
        report.figure("api_decisions" + suffix, backend=result["backend"], idempotency_key=idempotency,
                      seconds_per_rate=result["seconds_per_rate"], deciders=result["deciders"],
                      rows=[{k: row[k] for k in API_ROW_KEYS} for row in result["rows"]],
                      durability=result["durability"])
        report.figure("api_max_rate_p99_under_50ms" + suffix, rate=result["max_rate_p99_under_50ms"],
                      lower_rates_failed=result["lower_rates_failed"],
                      max_achieved_per_s=result["max_achieved_per_s"], meaning=result["meaning"],
                      note="open loop from a second process on loopback; server and generator share 2 cores")
    return results


def profiles(report: Report, config: dict[str, Any]) -> list[dict[str, Any]]:
    results = []
    for triggers in (True, False):
        log(f"profiling one engine run ({config['profile_runs']} runs, risk triggers {'on' if triggers else 'off'})")
        name = "engine.prof" if triggers else "engine-no-risk-triggers.prof"
        result = profile_engine(config["profile_runs"], RESULTS / name, top=20, triggers=triggers)
        results.append(result)
        report.figure("profile.engine.sqlite" + ("" if triggers else ".no_risk_triggers"), runs=result["runs"],
                      wall_seconds_profiled=result["wall_seconds_profiled"],
                      sql_statements_per_command=result["sql_statements_per_command"],
                      key_functions={k["what"]: k["share"] for k in result["key_functions"]},
                      own_time_by_area=result["own_time_by_area"],
                      top_by_own_time=[f"{t['function']} {t['own_share']:.1%}" for t in result["top_by_own_time"][:8]],
                      pstats_file=str(Path(result["pstats_file"]).relative_to(ROOT)))
    return results


def postgres_url(requested: str | None) -> tuple[str | None, str | None]:
    """The server URL to use, or None and why it is skipped."""
    if requested is None:
        return None, "--no-postgres"
    try:
        with pg_schema(requested):
            pass
    except Exception as exc:
        return None, f"PostgreSQL at {requested} is not usable: {str(exc).splitlines()[0]}"
    return requested, None


def rerun_on_head_snapshot() -> None:
    """Run this same command again with HEAD's src/ first on the import path; then exit with its status."""
    snapshot = Path(tempfile.mkdtemp(prefix="lf-bench-src-"))
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], check=True,
                                capture_output=True, text=True).stdout.strip()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "src"], check=True,
                                 capture_output=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(snapshot, filter="data")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(snapshot / "src"),
                                                                          os.environ.get("PYTHONPATH")])),
               "LEDGERFLOW_BENCH_SNAPSHOT": commit}
        argv = [a for a in sys.argv[1:] if a not in ("--source", "head") and not a.startswith("--source=")]
        log(f"measuring a snapshot of src/ at {commit} in {snapshot}")
        status = subprocess.run([sys.executable, str(Path(__file__).resolve()), *argv], env=env).returncode
    finally:
        shutil.rmtree(snapshot, ignore_errors=True)
    raise SystemExit(status)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--source", choices=["worktree", "head"], default="worktree",
                        help="measure the work tree's src/ (default) or a snapshot of HEAD's")
    parser.add_argument("--quick", action="store_true", help="small sizes, 3 rounds: ~3 minutes")
    parser.add_argument("--pg", default=PG_DEFAULT, help="PostgreSQL server URL (a schema is created there)")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--runs", type=int)
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--skip-profile", action="store_true")
    parser.add_argument("--skip-api", action="store_true", help="skip the REST API load figures")
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args()
    if args.source == "head" and not os.environ.get("LEDGERFLOW_BENCH_SNAPSHOT"):
        rerun_on_head_snapshot()
    mode = "quick" if args.quick else "full"
    config = dict(MODES[mode])
    if args.repeats:
        config["repeats"] = args.repeats
    if args.runs:
        config["runs"] = args.runs
    RESULTS.mkdir(parents=True, exist_ok=True)
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    report = Report()
    info = machine()
    report.figure("machine", **info)
    pg_url, pg_skipped = postgres_url(None if args.no_postgres else args.pg)
    if pg_skipped:
        log(f"engine.postgresql skipped: {pg_skipped}")
    details: dict[str, Any] = {"throughput_rounds": throughput_rounds(report, config, pg_url)}
    details["scaling"] = scaling(report, config)
    details["workers"] = worker_figures(report, config, pg_url)
    if not args.skip_scale:
        details["scale"] = scale_figures(report, config)
    if not args.skip_api:
        details["api"] = api_figures(report, mode, config)
    if not args.skip_profile:
        details["profiles"] = profiles(report, config)
    elapsed = time.perf_counter() - started
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else None
    report.figure("suite", mode=mode, seconds=round(elapsed, 1), loadavg_at_end=load)
    document = {
        "mode": mode, "started_at": started_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "seconds": round(elapsed, 1), "config": config, "postgresql_skipped": pg_skipped, "machine": info,
        "source": source_state(),
        "figures": report.figures, "details": details,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(document, indent=2) + "\n"
    args.out.write_text(text, encoding="utf-8")
    kept = RESULTS / f"{mode}-{started_at.strftime('%Y%m%dT%H%M%SZ')}.json"  # latest.json is overwritten
    kept.write_text(text, encoding="utf-8")
    log(f"wrote {args.out} and {kept.name} ({elapsed:.0f}s)")


if __name__ == "__main__":
    main()
