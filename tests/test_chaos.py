"""A small configuration of the reliability battery (bench/chaos.py) on each database: every figure that
counts a failure is zero (docs/reliability.md has the full run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BACKENDS

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("backend", BACKENDS)
def test_the_small_battery_finds_nothing_lost_twice_partial_or_unbounded(backend: str) -> None:
    done = subprocess.run(
        [sys.executable, "bench/chaos.py", "--backends", backend, "--kills", "2", "--races", "3", "--timer-runs",
         "3", "--workers", "2", "--no-matrix"], cwd=ROOT, capture_output=True, text=True, timeout=580,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout)[backend]
    kill, races, timers, hostile = figures["kill"], figures["races"], figures["timers"], figures["hostile"]
    assert kill["kills"] == 2 and kill["retries"] >= 1
    assert (kill["verify_failed"], kill["partial"], kill["duplicated"], kill["retry_wrong"]) == (0, 0, 0, 0)
    assert kill["retry_answered_first_run"] + kill["retry_started_it"] == kill["retries"]
    assert races["one_winner"] == races["races"] == 3 and races["audit_ok"]
    assert timers["fired"] == timers["fire_reports"] == timers["timers_due"] > 0
    assert timers["duplicate_nudges_or_breaches"] == 0 and timers["audit_ok"]
    assert hostile["statuses"] == {"4xx": hostile["cases"]} and hostile["events_written"] == 0
    assert hostile["rss_mb"]["peak"] < 300 and hostile["rss_mb"]["peak"] - hostile["rss_mb"]["start"] < 30
