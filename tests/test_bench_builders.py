"""The benchmarks' databases are bulk-copied from templates behind the engine's back (bench/scale.py, and
bench/api_load.py on SQLite): a schema change that their copying misses must fail here, not in a benchmark run
nobody reads. Small sizes; nothing here times anything."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledgerflow.trust import audit

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(scope="module")
def scale() -> Iterator[Any]:
    sys.path.insert(0, str(BENCH))
    try:
        import scale as module

        yield module
    finally:
        sys.path.remove(str(BENCH))


def test_a_copied_history_verifies_and_its_running_counts_match_its_runs(scale: Any, tmp_path: Path) -> None:
    store, info = scale.build_history(tmp_path, 5_000, 2)
    try:
        assert info["copies"] >= 2 and info["total_events"] >= 5_000
        verdict = audit.verify(store, processes=1)  # the week counts and open-task counts are compared too
        assert verdict == {"ok": True, "events": info["total_events"], "first_bad": None}
    finally:
        store.close()


def test_a_history_copied_without_hashes_still_gives_its_scorecard(scale: Any, tmp_path: Path) -> None:
    store, _ = scale.build_history(tmp_path, 5_000, 2, chained=False)
    try:
        cards = scale.measure_scorecard(store, 1)
        assert [card.get("error") for card in cards] == [None, None]
        whole = next(card for card in cards if card["scope"] == "all")
        assert whole["throughput"] == whole["ended_runs_in_period"] > 0 and whole["events_in_log"] >= 5_000
    finally:
        store.close()


def test_copied_open_decisions_keep_their_timers(scale: Any, tmp_path: Path) -> None:
    store, info = scale.build_timers(tmp_path, 60, template_runs=20)
    try:
        assert info["open_decisions"] == 60
        pending = info["pending_timers"]  # two nudges, an SLA and an escalation per decision (and one review)
        assert (pending["nudge"], pending["sla"], pending["escalate"]) == (120, 60, 60)
        assert audit.verify(store, processes=1)["ok"]
    finally:
        store.close()


def test_chains_written_straight_into_the_table_hold_together(tmp_path: Path) -> None:
    sys.path.insert(0, str(BENCH))
    try:
        import verify_since
        from common import new_store
    finally:
        sys.path.remove(str(BENCH))
    store = new_store(f"sqlite:///{tmp_path / 'since.db'}")
    try:
        verify_since.fill(store, 200, 10)
        with store.read() as tx:
            heads = tx.chain_heads()
            problems = [audit.chain_problem(chain, rows, heads.get(chain), hashes=hashes)
                        for chain, rows, hashes in tx.scan_chains()]
        assert problems == [None] * 21  # the twenty written and the system chain (the directory, the playbook)
    finally:
        store.close()
