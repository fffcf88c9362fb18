"""`run start --idempotency-key K` (SPEC §10): a retry, from this process or another, returns the first run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import select

from ledgerflow.cli.main import main
from ledgerflow.storage import schema
from ledgerflow.storage.store import Store

INPUT = '{"customer": "Acme", "deal_value": 12000, "discount_pct": 18}'
START = ["run", "start", "pricing-exception", "--as", "bob", "--input", INPUT, "--json"]


def started(cli_db: str, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict[str, object]]:
    code = main([*START, *extra, "--db", cli_db])
    return code, json.loads(capsys.readouterr().out)


def runs(cli_db: str) -> list[str]:
    store = Store(cli_db)
    try:
        with store.read() as tx:
            return [r.id for r in tx.runs()]
    finally:
        store.close()


def test_the_same_key_returns_the_first_run_and_starts_no_second(
        cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    first = started(cli_db, capsys, "--idempotency-key", "order-17")
    retry = started(cli_db, capsys, "--idempotency-key", "order-17")
    assert first[0] == retry[0] == 0 and retry[1] == first[1]
    assert runs(cli_db) == [first[1]["run"]]
    other = started(cli_db, capsys, "--idempotency-key", "order-18")
    assert other[1]["run"] != first[1]["run"] and len(runs(cli_db)) == 2


def test_the_key_is_kept_with_the_run_in_the_same_transaction(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, result = started(cli_db, capsys, "--idempotency-key", "order-17")
    store = Store(cli_db)
    try:
        with store.read() as tx:
            (row,) = tx.conn.execute(select(schema.idempotency_keys)).all()
    finally:
        store.close()
    assert code == 0 and (row.actor, row.key, row.status) == ("bob", "order-17", 200)
    assert row.response["run"] == result["run"]


def test_the_same_key_with_another_request_exits_2_and_writes_nothing(
        cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    first = started(cli_db, capsys, "--idempotency-key", "order-17")
    code = main([*START[:-2], INPUT.replace("12000", "13000"), "--json", "--idempotency-key", "order-17",
                 "--db", cli_db])
    assert (code, json.loads(capsys.readouterr().out)["error"]["rule"]) == (2, "idempotency-key-reused")
    assert main([*START, "--idempotency-key", " spaced ", "--db", cli_db]) == 2
    assert "bad-idempotency-key" in capsys.readouterr().err
    assert runs(cli_db) == [first[1]["run"]]


def test_a_retry_from_another_process_returns_the_first_run(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, first = started(cli_db, capsys, "--idempotency-key", "order-17")
    other = subprocess.run(
        [sys.executable, "-c", "from ledgerflow.cli.main import entry; entry()", *START, "--idempotency-key",
         "order-17", "--db", cli_db], capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}, check=False)
    assert (code, other.returncode) == (0, 0) and json.loads(other.stdout) == first
    assert runs(cli_db) == [first["run"]]
