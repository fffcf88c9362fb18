"""The demo simulates a month end to end and its history verifies."""

from __future__ import annotations

import re
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
    assert [step["step"] for step in result["waits"]["steps"]] == ["prepare", "approve", "apply"]
    assert sum(step["tasks"] for step in result["waits"]["steps"]) > 200  # the month's waits, not one week's


def test_each_day_is_told_requests_send_backs_and_why_decisions_nudges_escalations_reviews(tmp_path: Path) -> None:
    told = "\n".join(run_demo(f"sqlite:///{tmp_path}/demo.db", seed=2026)["log"])
    days = [line for line in told.splitlines() if not line.startswith(" ")]
    assert len(days) == 21 and days[0] == "Mon 2026-03-02" and days[-1] == "Mon 2026-03-30"
    for said in ("requests: ", "(alice)", "check sent back: ", ": The justification is too short to decide",
                 "approved (", "rejected ", ": Margin below the floor", "back to prepare: Attach the competitor quote",
                 "nudged: ", "escalated: approve of ", "SLA breached: approve of ", "review opened: trigger crossed",
                 "maria decided stabilize: Exception rate", "held back (playbook-stabilizing)", "runs ended: "):
        assert said in told, said
    assert not re.search(r"\b[rt]-[a-z0-9]{8}\b", told)  # ids are random; the story is told without them


def test_the_same_seed_plays_the_same_month(tmp_path: Path) -> None:
    first, second = (run_demo(f"sqlite:///{tmp_path}/{name}.db", seed=11) for name in ("a", "b"))
    assert first["audit"]["events"] == second["audit"]["events"]
    assert first["weeks"] == second["weeks"] and first["waits"] == second["waits"]
    assert first["log"] == second["log"]
    assert [d["decision"] for d in first["governance"]] == [d["decision"] for d in second["governance"]]
