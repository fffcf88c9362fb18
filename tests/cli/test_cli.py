"""The command line keeps the contract of SPEC §6: --json anywhere, exit codes, error documents."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledgerflow.cli.main import main
from tests.conftest import DIRECTORY, PRICING
from tests.engine.helpers import tables


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, object, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    try:
        out: object = json.loads(captured.out) if captured.out.strip() else None
    except json.JSONDecodeError:
        out = captured.out
    return code, out, captured.err


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/cli.db"


def test_db_and_json_are_accepted_before_or_after_the_arguments(capsys: pytest.CaptureFixture[str], db: str) -> None:
    assert run(capsys, "--db", db, "--json", "init")[0] == 0
    code, out, _ = run(capsys, "directory", "--json", "load", str(DIRECTORY), "--db", db)
    assert code == 0 and isinstance(out, dict) and out["version"] == 1


def test_init_twice_exits_3_and_changes_nothing(capsys: pytest.CaptureFixture[str], db: str) -> None:
    run(capsys, "init", "--db", db)
    before = tables(db)
    code, out, err = run(capsys, "init", "--db", db, "--json")
    assert code == 3 and "already-initialized" in err
    assert tables(db) == before
    assert isinstance(out, dict) and out["error"]["rule"] == "already-initialized" and out["error"]["code"] == 3


def test_a_missing_database_exits_4_and_says_to_run_init(capsys: pytest.CaptureFixture[str], db: str) -> None:
    code, out, err = run(capsys, "run", "list", "--db", db, "--json")
    assert code == 4 and "ledgerflow init" in err
    assert isinstance(out, dict) and out["error"]["code"] == 4


def test_an_unknown_option_exits_2_with_an_error_document(capsys: pytest.CaptureFixture[str], db: str) -> None:
    run(capsys, "init", "--db", db)
    before = tables(db)
    code, out, _ = run(capsys, "run", "start", "pricing-exception", "--bogus", "--db", db, "--json")
    assert code == 2 and isinstance(out, dict) and out["error"]["rule"] == "usage"
    assert tables(db) == before


def test_malformed_input_json_exits_2(capsys: pytest.CaptureFixture[str], db: str) -> None:
    for args in (("init",), ("directory", "load", str(DIRECTORY)), ("playbook", "publish", str(PRICING))):
        assert run(capsys, *args, "--db", db)[0] == 0
    before = tables(db)
    code, _, err = run(capsys, "run", "start", "pricing-exception", "--as", "bob", "--input", "{nope", "--db", db)
    assert code == 2 and "malformed-json" in err
    assert tables(db) == before


def test_publishing_identical_content_is_not_a_new_version(capsys: pytest.CaptureFixture[str], db: str) -> None:
    run(capsys, "init", "--db", db)
    run(capsys, "directory", "load", str(DIRECTORY), "--db", db)
    first = run(capsys, "playbook", "publish", str(PRICING), "--db", db, "--json")[1]
    second = run(capsys, "playbook", "publish", str(PRICING), "--db", db, "--json")[1]
    assert isinstance(first, dict) and isinstance(second, dict)
    assert (first["version"], first["created"]) == (1, True)
    assert (second["version"], second["created"]) == (1, False)
    code, listed, _ = run(capsys, "playbook", "list", "--db", db, "--json")
    assert code == 0 and listed == [{"playbook": "pricing-exception", "version": 1, "versions": 1,
                                     "governance": "continue"}]


def test_publish_is_refused_on_lint_errors(capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path) -> None:
    run(capsys, "init", "--db", db)
    run(capsys, "directory", "load", str(DIRECTORY), "--db", db)
    bad = tmp_path / "bad.yaml"
    bad.write_text(PRICING.read_text().replace("workflow_owner: sam", "workflow_owner: finance"))
    before = tables(db)
    code, _out, err = run(capsys, "playbook", "publish", str(bad), "--db", db, "--json")
    assert code == 3 and "owner-not-person" in err
    assert tables(db) == before


def test_clock_advance_is_refused_on_a_real_clock_database(capsys: pytest.CaptureFixture[str], db: str) -> None:
    run(capsys, "init", "--db", db)
    before = tables(db)
    code, _, err = run(capsys, "clock", "advance", "1h", "--db", db)
    assert code == 3 and "simulated-clock-only" in err
    assert tables(db) == before


def test_clock_advance_moves_the_simulated_clock(capsys: pytest.CaptureFixture[str], db: str) -> None:
    run(capsys, "init", "--simulated-clock", "2026-03-02T08:00:00+01:00", "--db", db)
    code, out, _ = run(capsys, "clock", "advance", "90m", "--db", db, "--json")
    assert code == 0 and isinstance(out, dict)
    assert (out["from"], out["to"]) == ("2026-03-02T07:00:00Z", "2026-03-02T08:30:00Z")
