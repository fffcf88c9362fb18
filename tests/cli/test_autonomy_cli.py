"""`governance autonomy` (SPEC §11) from a terminal: the owners read and change what an agent may decide;
anyone else is refused with exit 3 and nothing changes (both databases)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_records import run, value
from tests.engine.helpers import tables

CREDIT = str(Path(__file__).parents[1] / "reports" / "small-credit.yaml")
CHANGE = ("governance", "autonomy", "small-credit", "--agent", "intake-bot", "--step", "triage")


def test_the_owner_widens_then_withdraws_and_report_agents_shows_it(capsys: pytest.CaptureFixture[str],
                                                                    cli_db: str) -> None:
    value(capsys, "playbook", "publish", CREDIT, "--db", cli_db)
    (written,) = value(capsys, "governance", "autonomy", "small-credit", "--db", cli_db)
    assert (written["limit"], written["changed"]) == (100, False)
    widened = value(capsys, *CHANGE, "--limit", "5000", "--as", "maria", "--rationale", "19 of 20 agreed",
                    "--db", cli_db)
    assert (widened["limit"], widened["decided_by"]) == (5000, "maria")
    assert [(r["step"], r["recommendations"]) for r in widened["scorecard"]] == [("triage", 0)]
    code, out, _ = run(capsys, "report", "agents", "--db", cli_db)
    assert code == 0 and "5,000" in out
    value(capsys, *CHANGE, "--withdraw", "--as", "sam", "--rationale", "a reversed credit", "--db", cli_db)
    (row,) = value(capsys, "report", "agents", "--db", cli_db)
    assert (row["autonomy"]["withdrawn"], row["autonomy"]["decided_by"]) == (True, "sam")
    history = value(capsys, "governance", "history", "small-credit", "--db", cli_db)
    assert [h["decision"] for h in history] == ["autonomy limit 5000", "autonomy withdraw"]
    assert value(capsys, "audit", "verify", "--db", cli_db)["ok"]


@pytest.mark.parametrize(("args", "code", "rule"), [
    (("--limit", "5000", "--as", "bob", "--rationale", "why not"), 3, "governance-not-owner"),
    (("--limit", "5000", "--as", "sam"), 3, "rationale-required"),
    (("--limit", "5000", "--withdraw", "--as", "sam", "--rationale", "both"), 2, "bad-autonomy-change"),
    (("--as", "sam", "--rationale", "nothing chosen"), 2, "bad-autonomy-change"),
])
def test_a_refused_change_exits_with_its_rule_and_changes_nothing(capsys: pytest.CaptureFixture[str], cli_db: str,
                                                                  args: tuple[str, ...], code: int, rule: str) -> None:
    value(capsys, "playbook", "publish", CREDIT, "--db", cli_db)
    before = tables(cli_db)
    exit_code, out, _ = run(capsys, *CHANGE, *args, "--db", cli_db, "--json")
    assert (exit_code, json.loads(out)["error"]["rule"]) == (code, rule)
    assert tables(cli_db) == before
