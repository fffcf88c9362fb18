"""How long a `ledgerflow` command takes from process start to exit, as a person at a terminal feels it.

Each figure is wall-clock time of a fresh process (`python -m`-free: the console script's own entry), repeated,
with the bare interpreter's start beside it so a reader can tell the machine's speed and load from the CLI's
own cost. Targets: `--help` and `--version` at most 0.25 s, a read command on a small database at most 0.5 s.

    python bench/startup.py [--repeat 15]      # prints one JSON document
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from common import DIRECTORY, PRICING, START, machine, scratch_dir, spread

TARGETS = {"help": 0.25, "version": 0.25, "run_list": 0.5, "task_list": 0.5}


def _timed(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall-clock and CPU (user + system) seconds of one process: on a machine shared with other work the
    CPU time is the steadier figure, the wall-clock one what a person waits."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "0"}
    cli = [sys.executable, "-c", "from ledgerflow.cli.main import entry; entry()"]
    db = f"sqlite:///{scratch_dir() / 'small.db'}"
    for setup in (["init", "--simulated-clock", START], ["directory", "load", str(DIRECTORY)],
                  ["playbook", "publish", str(PRICING)],
                  ["run", "start", "pricing-exception", "--as", "bob", "--input",
                   '{"customer": "Acme", "deal_value": 12000, "discount_pct": 18}']):
        subprocess.run([*cli, *setup, "--db", db], env=env, check=True, stdout=subprocess.DEVNULL)
    commands = {"python": [sys.executable, "-c", "pass"], "help": [*cli, "--help"], "version": [*cli, "--version"],
                "run_list": [*cli, "run", "list", "--db", db], "task_list": [*cli, "task", "list", "--db", db]}
    for command in commands.values():  # warm the file cache and the bytecode
        _timed(command, env)
    wall: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.repeat):  # interleaved, so a burst of load elsewhere hits every command alike
        for name, command in commands.items():
            seconds, used = _timed(command, env)
            wall[name].append(seconds)
            cpu[name].append(used)
    figures = {name: spread(values) for name, values in wall.items()}
    print(json.dumps({
        "benchmark": "startup", "repeat": args.repeat, "wall_seconds": figures,
        "cpu_seconds": {name: spread(values) for name, values in cpu.items()},
        "targets": {name: {"target": target, "wall_median": figures[name]["median"],
                           "met": figures[name]["median"] <= target} for name, target in TARGETS.items()},
        "machine": machine(), "source": str(Path(__file__).resolve().parents[1]),
    }, indent=2))


if __name__ == "__main__":
    main()
