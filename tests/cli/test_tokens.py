"""`token create|revoke`, `guest invite` and LEDGERFLOW_TOKEN on the command line (SPEC §6)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ledgerflow.cli.main import main
from ledgerflow.storage import schema
from ledgerflow.storage.store import Store
from tests.conftest import DIRECTORY, PRICING
from tests.engine.helpers import tables

INPUT = '{"customer": "Acme", "deal_value": 12000, "discount_pct": 18}'


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out.strip() else None, captured.err


@pytest.fixture
def db(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv("LEDGERFLOW_TOKEN", raising=False)
    url = f"sqlite:///{tmp_path}/cli.db"
    for args in (("init", "--simulated-clock", "2026-03-02T08:00:00Z"), ("directory", "load", str(DIRECTORY)),
                 ("playbook", "publish", str(PRICING))):
        assert run(capsys, *args, "--db", url, "--json")[0] == 0
    return url


def test_token_create_prints_the_token_once_and_keeps_only_its_hash(capsys: pytest.CaptureFixture[str],
                                                                    db: str) -> None:
    code, made, _ = run(capsys, "token", "create", "--actor", "bob", "--expires", "30d", "--db", db, "--json")
    assert code == 0 and made["actor"] == "bob" and made["expires_at"] == "2026-04-01T08:00:00Z"
    assert made["token"].startswith("lf_") and made["id"].startswith("tok-")
    store = Store(db)
    with store.read() as tx:
        (row,) = tx.conn.execute(select(schema.tokens)).all()
        events = tx.events()
    store.close()
    assert row.hash == hashlib.sha256(made["token"].encode()).hexdigest() and row.actor == "bob"
    assert made["token"] not in json.dumps(events) and events[-1]["type"] == "token.created"


def test_token_create_for_an_unknown_actor_exits_2(capsys: pytest.CaptureFixture[str], db: str) -> None:
    before = tables(db)
    code, out, err = run(capsys, "token", "create", "--actor", "nobody", "--db", db, "--json")
    assert code == 2 and out["error"]["rule"] == "unknown-actor" and "unknown-actor" in err
    assert tables(db) == before


def test_with_ledgerflow_token_the_cli_acts_as_its_actor_and_refuses_another(
        capsys: pytest.CaptureFixture[str], db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    made = run(capsys, "token", "create", "--actor", "bob", "--db", db, "--json")[1]
    monkeypatch.setenv("LEDGERFLOW_TOKEN", made["token"])
    before = tables(db)
    code, out, err = run(capsys, "run", "start", "pricing-exception", "--as", "alice", "--input", INPUT,
                         "--db", db, "--json")
    assert code == 3 and out["error"]["rule"] == "token-actor-mismatch" and "token-actor-mismatch" in err
    assert tables(db) == before
    code, started, _ = run(capsys, "run", "start", "pricing-exception", "--input", INPUT, "--db", db, "--json")
    assert code == 0
    assert run(capsys, "run", "start", "pricing-exception", "--as", "bob", "--input", INPUT, "--db", db,
               "--json")[0] == 0
    shown = run(capsys, "run", "show", started["run"], "--db", db, "--json")[1]
    assert shown["started_by"] == "bob" and shown["timeline"][0]["channel"] == "cli"


def test_a_revoked_or_unknown_ledgerflow_token_is_refused(capsys: pytest.CaptureFixture[str], db: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    made = run(capsys, "token", "create", "--actor", "bob", "--db", db, "--json")[1]
    code, revoked, _ = run(capsys, "token", "revoke", made["id"], "--db", db, "--json")
    assert code == 0 and revoked["id"] == made["id"] and revoked["revoked_at"] == "2026-03-02T08:00:00Z"
    before = tables(db)
    assert run(capsys, "token", "revoke", made["id"], "--db", db, "--json")[1]["error"]["rule"] == "token-revoked"
    monkeypatch.setenv("LEDGERFLOW_TOKEN", made["token"])
    code, out, _ = run(capsys, "run", "start", "pricing-exception", "--input", INPUT, "--db", db, "--json")
    assert code == 3 and out["error"]["rule"] == "token-revoked"
    monkeypatch.setenv("LEDGERFLOW_TOKEN", "lf_not-a-real-token")
    assert run(capsys, "task", "start", "t-x", "--db", db, "--json")[1]["error"]["rule"] == "token-invalid"
    assert tables(db) == before


def test_a_token_holder_makes_tokens_for_itself_only(capsys: pytest.CaptureFixture[str], db: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    made = run(capsys, "token", "create", "--actor", "bob", "--db", db, "--json")[1]
    monkeypatch.setenv("LEDGERFLOW_TOKEN", made["token"])
    before = tables(db)
    code, out, _ = run(capsys, "token", "create", "--actor", "alice", "--db", db, "--json")
    assert code == 3 and out["error"]["rule"] == "token-for-another-actor"
    assert tables(db) == before
    assert run(capsys, "token", "create", "--actor", "bob", "--db", db, "--json")[0] == 0


def test_guest_invite_prints_a_link_under_the_base_url_and_never_for_a_decision(
        capsys: pytest.CaptureFixture[str], db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGERFLOW_BASE_URL", "https://ledger.example.com/")
    started = run(capsys, "run", "start", "pricing-exception", "--as", "bob", "--input", INPUT, "--db", db,
                  "--json")[1]
    prepare = started["tasks"][0]
    code, invited, _ = run(capsys, "guest", "invite", prepare["task"], "--as", prepare["assignee"], "--email",
                           "buyer@customer.example", "--db", db, "--json")
    assert code == 0 and invited["link"].startswith("https://ledger.example.com/guest/lf_")
    assert invited["expires_at"] == "2026-03-16T08:00:00Z"
    before = tables(db)
    code, out, _ = run(capsys, "guest", "invite", prepare["task"], "--as", prepare["assignee"], "--email", "nope",
                       "--db", db, "--json")
    assert code == 2 and out["error"]["rule"] == "bad-email"
    assert tables(db) == before
    output = '{"deal_sheet_url": "https://d/1", "justification": "Competitor offered 20%, renewal"}'
    done = run(capsys, "task", "complete", prepare["task"], "--as", prepare["assignee"], "--output", output,
               "--db", db, "--json")[1]
    decision = done["opened"][0]
    before = tables(db)
    code, out, err = run(capsys, "guest", "invite", decision["task"], "--as", decision["assignee"], "--email",
                         "buyer@customer.example", "--db", db, "--json")
    assert code == 3 and out["error"]["rule"] == "guest-on-decision" and "guest-on-decision" in err
    monkeypatch.setenv("LEDGERFLOW_TOKEN", invited["link"].rsplit("/", 1)[1])
    code, out, _ = run(capsys, "task", "list", "--db", db, "--json")
    assert code == 0  # reading needs no actor
    code, out, _ = run(capsys, "task", "start", prepare["task"], "--db", db, "--json")
    assert code == 3 and out["error"]["rule"] == "guest-token-in-cli"
    assert tables(db) == before
