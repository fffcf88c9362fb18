"""Reading what is recorded from a terminal: `directory show`, `token list`, `governance history` (both databases)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ledgerflow.cli.main import main
from tests.engine.helpers import tables


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def value(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    code, out, err = run(capsys, *args, "--json")
    assert code == 0, err
    return json.loads(out)


def test_directory_show_lists_each_actor_with_roles_and_each_role_with_members(
        capsys: pytest.CaptureFixture[str], cli_db: str) -> None:
    shown = value(capsys, "directory", "show", "--db", cli_db)
    assert shown["version"] == 1
    dave = next(a for a in shown["actors"] if a["id"] == "dave")
    assert (dave["kind"], dave["roles"]) == ("person", ["finance"])
    assert shown["roles"]["finance"] == ["dave", "erin"]
    code, out, _ = run(capsys, "directory", "show", "--role", "vp-sales", "--db", cli_db)
    assert code == 0 and "maria" in out and "victor" in out and "dave" not in out


def test_directory_show_of_an_unknown_role_names_the_roles_and_changes_nothing(
        capsys: pytest.CaptureFixture[str], cli_db: str) -> None:
    before = tables(cli_db)
    code, _, err = run(capsys, "directory", "show", "--role", "finanse", "--db", cli_db)
    assert code == 2 and "unknown-role" in err and "finance" in err
    assert tables(cli_db) == before


def test_token_list_shows_ids_and_states_never_the_token(capsys: pytest.CaptureFixture[str], cli_db: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEDGERFLOW_TOKEN", raising=False)
    kept = value(capsys, "token", "create", "--actor", "dave", "--db", cli_db)
    gone = value(capsys, "token", "create", "--actor", "erin", "--db", cli_db)
    value(capsys, "token", "revoke", gone["id"], "--db", cli_db)
    listed = value(capsys, "token", "list", "--db", cli_db)
    assert sorted((t["id"], t["actor"], t["state"]) for t in listed) == sorted([(kept["id"], "dave", "active"),
                                                                  (gone["id"], "erin", "revoked")])
    code, out, _ = run(capsys, "token", "list", "--db", cli_db)
    assert code == 0 and kept["id"] in out and kept["token"] not in out and "hash" not in out
    assert [t["actor"] for t in value(capsys, "token", "list", "--actor", "erin", "--db", cli_db)] == ["erin"]
    monkeypatch.setenv("LEDGERFLOW_TOKEN", kept["token"])  # a token holder sees only its own
    assert [t["id"] for t in value(capsys, "token", "list", "--db", cli_db)] == [kept["id"]]


def test_governance_history_says_who_decided_what_and_why_oldest_first(capsys: pytest.CaptureFixture[str],
                                                                       cli_db: str) -> None:
    code, out, _ = run(capsys, "governance", "history", "pricing-exception", "--db", cli_db)
    assert code == 0 and "no review or decision yet" in out
    for decision, who, why in (("stabilize", "maria", "Exception rate [too high]"), ("continue", "sam", "Fixed")):
        value(capsys, "governance", "decide", "pricing-exception", "--decision", decision, "--as", who,
              "--rationale", why, "--db", cli_db)
    history = value(capsys, "governance", "history", "pricing-exception", "--db", cli_db)
    assert [(h["decision"], h["by"], h["reason"]) for h in history] == [
        ("stabilize", "maria", "Exception rate [too high]"), ("continue", "sam", "Fixed")]
    code, out, _ = run(capsys, "governance", "history", "pricing-exception", "--db", cli_db)
    assert code == 0 and "maria decided stabilize: Exception rate [too high]" in out


def test_governance_history_of_an_unknown_playbook_is_exit_2_and_changes_nothing(
        capsys: pytest.CaptureFixture[str], cli_db: str) -> None:
    before = tables(cli_db)
    code, _, err = run(capsys, "governance", "history", "pricing-exceptoin", "--db", cli_db)
    assert code == 2 and "pricing-exceptoin" in err
    assert tables(cli_db) == before
