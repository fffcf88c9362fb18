"""Refusals say what to do next: who decided already, which flag is missing, which targets are valid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledgerflow.cli.main import main
from tests.conftest import DIRECTORY, PRICING, START


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().err


def value(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    code = main([*args, "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    result = json.loads(out)
    assert isinstance(result, dict)
    return result


@pytest.fixture
def decision(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    """(database URL, the id of a decision task waiting on dave)."""
    db = f"sqlite:///{tmp_path}/cli.db"
    for args in (("init", "--simulated-clock", START), ("directory", "load", str(DIRECTORY)),
                 ("playbook", "publish", str(PRICING))):
        assert run(capsys, *args, "--db", db)[0] == 0
    started = value(capsys, "run", "start", "pricing-exception", "--as", "bob", "--db", db,
                    "--input", '{"customer": "Acme", "deal_value": 12000, "discount_pct": 18}')
    task = started["tasks"][0]  # type: ignore[index]
    done = value(capsys, "task", "complete", task["task"], "--as", task["assignee"], "--db", db, "--output",
                 '{"deal_sheet_url": "https://docs/1", "justification": "Competitor offered 20% on renewal"}')
    return db, done["opened"][0]["task"]  # type: ignore[index]


def test_deciding_a_decided_task_says_who_decided_it_and_when(capsys: pytest.CaptureFixture[str],
                                                              decision: tuple[str, str]) -> None:
    db, task = decision
    value(capsys, "task", "decide", task, "--as", "dave", "--outcome", "approve", "--rationale", "fine", "--db", db)
    code, err = run(capsys, "task", "decide", task, "--as", "dave", "--outcome", "reject", "--rationale", "no",
                    "--db", db)
    assert code == 3 and "already decided: approve by dave at 2026-03-02T08:00:00" in err


def test_a_missing_rationale_names_the_flag(capsys: pytest.CaptureFixture[str], decision: tuple[str, str]) -> None:
    db, task = decision
    code, err = run(capsys, "task", "decide", task, "--as", "dave", "--outcome", "approve", "--db", db)
    assert code == 3 and "--rationale" in err


def test_an_unknown_send_back_target_lists_the_valid_ones(capsys: pytest.CaptureFixture[str],
                                                          decision: tuple[str, str]) -> None:
    db, task = decision
    code, err = run(capsys, "task", "decide", task, "--as", "dave", "--outcome", "send_back", "--to", "nowhere",
                    "--rationale", "redo", "--db", db)
    assert code == 2 and err.rstrip().endswith(": prepare")


def test_a_negative_duration_says_what_a_duration_is(capsys: pytest.CaptureFixture[str],
                                                      decision: tuple[str, str]) -> None:
    code, err = run(capsys, "clock", "advance", "-1d", "--db", decision[0])
    assert code == 2 and "bad-duration" in err and "positive" in err


def test_an_unsupported_database_url_says_which_ones_work(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, "run", "list", "--db", "mysql://localhost/x")
    assert code == 2 and "postgresql://" in err and "MySQLdb" not in err


def test_run_start_without_as_says_to_name_who_starts_it(capsys: pytest.CaptureFixture[str],
                                                        decision: tuple[str, str]) -> None:
    code, err = run(capsys, "run", "start", "pricing-exception", "--db", decision[0],
                    "--input", '{"customer": "Acme", "deal_value": 12000, "discount_pct": 18}')
    assert code == 2 and "--as" in err and "unknown actor 'admin'" not in err


def test_lint_reports_a_bad_duration_with_every_other_finding(capsys: pytest.CaptureFixture[str],
                                                              decision: tuple[str, str], tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(PRICING.read_text().replace("due: 24h", "due: 1 day").replace("owner: deal-desk", "owner: x"))
    code = main(["playbook", "lint", str(broken), "--db", decision[0]])
    out = capsys.readouterr().out
    assert code == 1 and "load-error" in out and "is not a duration" in out and "unknown-actor" in out
