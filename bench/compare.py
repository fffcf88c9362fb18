"""The work tree against an earlier revision, side by side in one run (issue #25's targets are ratios).

    python bench/compare.py --baseline cf7500f                 # 5 rounds of 300 runs, verify of ~100k events, the API
    python bench/compare.py --baseline cf7500f --rounds 3 --runs 100 --verify-runs 2000   # a quick look

The baseline's `src/` and `bench/` are taken from git (`git archive REV src bench`) into build/bench-baseline/REV,
and every measurement runs in a fresh interpreter with one tree's `src/` and `bench/` on its path, so each side
is measured by its own benchmark code against its own schema. Rounds alternate which side goes first; each ratio
is taken inside a round (same minute, same load) and the median of the per-round ratios is reported.

Figures, one JSON line each (and all of them in bench/results/compare-REV.json):
- `engine`: the engine benchmark (`bench/engine.py`'s workload on SQLite, durable commits): human steps/s and the
  CPU the process spends per command (`time.process_time` around the work: Python, SQLite and the fsync calls),
  and the bytes it hands to `write()` per command (WAL frames and checkpoints: the write volume of its schema).
- `engine.callers_4`: the same with four threads calling at once (commands that queue share a commit).
- `verify`: `audit verify` of one log per side (built once, by that side's engine), on one process and on every
  core: events/s.
- `api`: decisions over the REST API (`bench/api_load.py --quick`: that side's `ledgerflow serve` in a process of
  its own, on SQLite, a load generator in another): the server's CPU per decision above idle (median over the
  rates) and the highest rate held with p99 under 50 ms.
Nothing here asserts a time: it measures and reports.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "bench-baseline"
RESULTS = ROOT / "bench" / "results"

ENGINE = """
import json, sys, time
sys.path[:0] = [{bench!r}, {src!r}]
import engine

def written():
    with open("/proc/self/io") as io:
        return int(next(line for line in io if line.startswith("wchar:")).split()[1])

real, box = engine.work, {{}}
def work(*args, **kwargs):
    cpu, wrote = time.process_time(), written()
    result = real(*args, **kwargs)
    box["cpu"], box["wrote"] = time.process_time() - cpu, written() - wrote
    return result
engine.work = work
result = engine.run_engine(None, {runs}, callers={callers})
commands = result["runs"] + result["human_steps"]
result["cpu_ms_per_command"] = round(1000 * box["cpu"] / commands, 4)
result["kib_written_per_command"] = round(box["wrote"] / 1024 / commands, 2)
print(json.dumps(result))
"""

BUILD_LOG = """
import json, sys
sys.path[:0] = [{bench!r}, {src!r}]
import engine
result = engine.run_engine({url!r}, {runs})
print(json.dumps(result))
"""

VERIFY = """
import json, sys, time
sys.path[:0] = [{bench!r}, {src!r}]
try:
    from ledgerflow.trust import audit  # the layout since the application modules were grouped
except ImportError:
    from ledgerflow import audit
from ledgerflow.storage.store import Store
store = Store({url!r})
started, cpu = time.perf_counter(), time.process_time()
verdict = audit.verify(store, processes={processes})
seconds = time.perf_counter() - started
store.close()
print(json.dumps({{"ok": verdict["ok"], "events": verdict["events"], "seconds": round(seconds, 3),
                  "events_per_s": round(verdict["events"] / seconds)}}))
"""


API = """
import json, os, sys
sys.path[:0] = [{bench!r}, {src!r}]
os.environ["PYTHONPATH"] = {src!r}  # the server process runs this side's code too
import api_load
result = api_load.run_api_load(mode="quick", progress=lambda message: None)
print(json.dumps({{"server_cpu_ms_per_decision": result["meaning"]["server_cpu_ms_per_decision"],
                  "max_rate_p99_under_50ms": result["max_rate_p99_under_50ms"] or 0.0}}))
"""


def log(message: str) -> None:
    print(f"[compare {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def baseline_tree(revision: str) -> tuple[str, Path]:
    """The baseline's src/ and bench/, extracted once per commit."""
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", revision], check=True,
                            capture_output=True, text=True).stdout.strip()
    tree = BUILD / commit
    if not (tree / "src").is_dir():
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "src", "bench"], check=True,
                                 capture_output=True).stdout
        shutil.rmtree(tree, ignore_errors=True)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tree, filter="data")
    return commit, tree


def child(tree: Path, template: str, **values: Any) -> dict[str, Any]:
    """Runs one measurement in a fresh interpreter on `tree`; its last output line is a JSON object."""
    code = template.format(bench=str(tree / "bench"), src=str(tree / "src"), **values)
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", code], cwd=tree, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"measurement failed on {tree}:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def ratios(mine: list[dict[str, Any]], theirs: list[dict[str, Any]], key: str) -> dict[str, float]:
    """The work tree's figure over the baseline's, per round; the median and the range."""
    per_round = [a[key] / b[key] for a, b in zip(mine, theirs, strict=True) if b[key]]
    return {"median": round(statistics.median(per_round), 3), "min": round(min(per_round), 3),
            "max": round(max(per_round), 3)}


def median_of(results: list[dict[str, Any]], key: str) -> float:
    return round(float(statistics.median(r[key] for r in results)), 4)


def side_by_side(trees: dict[str, Path], rounds: int, measure: Any) -> dict[str, list[dict[str, Any]]]:
    """`measure(side, tree)` for both sides in each round, alternating who goes first."""
    results: dict[str, list[dict[str, Any]]] = {side: [] for side in trees}
    for index in range(rounds):
        order = list(trees) if index % 2 == 0 else list(reversed(trees))
        for side in order:
            results[side].append(measure(side, trees[side]))
        log(f"round {index + 1}/{rounds}: " + ", ".join(
            f"{side} {json.dumps({k: v for k, v in results[side][-1].items() if isinstance(v, float)})}"
            for side in trees))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--baseline", required=True, help="the revision to measure beside the work tree")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each figure (medians over rounds)")
    parser.add_argument("--runs", type=int, default=300, help="runs per engine measurement")
    parser.add_argument("--verify-runs", type=int, default=10_000,
                        help="runs in the log `audit verify` checks (about 10.5 events each)")
    parser.add_argument("--skip", action="append", default=[], choices=["engine", "callers", "verify", "api"],
                        help="leave a figure out (repeatable)")
    args = parser.parse_args()
    commit, baseline = baseline_tree(args.baseline)
    trees = {"work_tree": ROOT, "baseline": baseline}
    figures: list[dict[str, Any]] = []

    def report(name: str, results: dict[str, list[dict[str, Any]]], keys: list[str], **extra: Any) -> None:
        figure = {"figure": name, "baseline": commit, "rounds": len(results["work_tree"]), **extra,
                  **{f"{side}.{key}": median_of(results[side], key) for side in trees for key in keys},
                  **{f"ratio.{key}": ratios(results["work_tree"], results["baseline"], key) for key in keys}}
        figures.append(figure)
        print(json.dumps(figure), flush=True)

    engine_keys = ["human_steps_per_s", "cpu_ms_per_command", "kib_written_per_command"]
    if "engine" not in args.skip:
        log(f"engine, {args.runs} runs, one caller")
        report("engine", side_by_side(trees, args.rounds, lambda _, tree: child(tree, ENGINE, runs=args.runs,
                                                                             callers=1)),
               engine_keys, runs=args.runs)
    if "callers" not in args.skip:
        log(f"engine, {args.runs} runs, 4 callers")
        report("engine.callers_4", side_by_side(trees, args.rounds, lambda _, tree: child(
            tree, ENGINE, runs=args.runs, callers=4)), engine_keys, runs=args.runs)
    if "verify" not in args.skip:
        scratch = Path(tempfile.mkdtemp(prefix="lf-compare-"))
        try:
            urls = {}
            for side, tree in trees.items():
                urls[side] = f"sqlite:///{scratch / side}.db"
                log(f"building the {side}'s log of {args.verify_runs} runs")
                child(tree, BUILD_LOG, url=urls[side], runs=args.verify_runs)
            cores = os.cpu_count() or 1
            for processes in sorted({1, cores}):
                log(f"audit verify, {processes} process(es)")
                results = side_by_side(trees, args.rounds, lambda side, tree, p=processes: child(
                    tree, VERIFY, url=urls[side], processes=p))
                report(f"verify.processes_{processes}", results, ["events_per_s"],
                       events=results["work_tree"][0]["events"],
                       ok=all(r["ok"] for side in results.values() for r in side))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    if "api" not in args.skip:
        log("REST API decisions (bench/api_load.py --quick)")
        report("api", side_by_side(trees, args.rounds, lambda _, tree: child(tree, API)),
               ["server_cpu_ms_per_decision", "max_rate_p99_under_50ms"])
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"compare-{commit}.json").write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
