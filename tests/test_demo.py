"""The demo simulates a month end to end and its history verifies."""

from __future__ import annotations

from pathlib import Path

from ledgerflow.demo import run_demo


def test_the_simulated_month_has_four_scored_weeks_governance_and_a_clean_audit(tmp_path: Path) -> None:
    result = run_demo(f"sqlite:///{tmp_path}/demo.db", seed=7)
    assert result["audit"]["ok"] and result["audit"]["events"] > 500
    assert [w["period"] for w in result["weeks"]] == ["2026-W10", "2026-W11", "2026-W12", "2026-W13"]
    assert all(w["throughput"] > 0 for w in result["weeks"])
    decisions = [d["decision"] for d in result["governance"]]
    assert "stabilize" in decisions and decisions.count("continue") >= 3
    assert any("playbook-stabilizing" in line for line in result["log"])


def test_the_same_seed_plays_the_same_month(tmp_path: Path) -> None:
    first, second = (run_demo(f"sqlite:///{tmp_path}/{name}.db", seed=11) for name in ("a", "b"))
    assert first["audit"]["events"] == second["audit"]["events"]
    assert first["weeks"] == second["weeks"]
    assert [d["decision"] for d in first["governance"]] == [d["decision"] for d in second["governance"]]
