"""`report waiting` (SPEC §12): every open run, whom it waits on, since when, longest wait first."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledgerflow.api.app import create_app
from ledgerflow.cli.main import main
from ledgerflow.domain.errors import NotFound
from ledgerflow.engine import service, tokens
from ledgerflow.reporting import reports
from ledgerflow.storage.store import Store
from tests.api.conftest import CONFIG
from tests.api.helpers import bearer
from tests.conftest import ADMIN
from tests.engine.helpers import GOOD_OUTPUT, act, caller, finished_run, only_open, publish_text, start
from tests.reports.test_reports import SOLO

KEYS = {"run", "playbook", "summary", "step", "task", "waiting_on", "since", "waiting_hours", "overdue", "blocked"}


def _advance(store: Store, duration: str) -> None:
    service.advance_clock(store, duration, service.Caller())


def _two_waiting_runs(store: Store) -> tuple[str, str, str]:
    """A run waiting at prepare since 08:00 and, started 6h later, one waiting at its decision; then 20h on.
    Returns (the older run, the newer run, the decision's assignee)."""
    older = start(store)
    _advance(store, "6h")
    newer = start(store)
    decision = act(store, "complete", only_open(store, newer.id), output=GOOD_OUTPUT)["opened"][0]
    _advance(store, "20h")
    return older.id, newer.id, str(decision.assignee)


def test_every_open_run_is_listed_with_whom_it_waits_on_longest_wait_first(store: Store) -> None:
    finished_run(store)  # an ended run waits on nobody
    older, newer, approver = _two_waiting_runs(store)
    rows = reports.waiting(store)
    assert [set(row) >= KEYS for row in rows] == [True, True]
    assert [(r["run"], r["step"], r["since"], r["waiting_hours"], r["overdue"], r["blocked"]) for r in rows] == [
        (older, "prepare", "2026-03-02T08:00:00Z", 26.0, True, False),
        (newer, "approve", "2026-03-02T14:00:00Z", 20.0, False, False),
    ]
    assert rows[1]["waiting_on"] == approver and rows[1]["summary"] is None
    assert reports.waiting(store, playbook="pricing-exception") == rows


def test_a_blocked_ownership_gap_waits_on_the_workflow_owner(store: Store, tmp_path: Path) -> None:
    publish_text(store, tmp_path, SOLO)
    run, opened = service.start_run(store, "solo-approval", {}, caller("dave"))
    act(store, "complete", opened[0])
    (row,) = reports.waiting(store, playbook="solo-approval")
    assert (row["run"], row["step"], row["waiting_on"], row["blocked"]) == (run.id, "approve", "sam", True)
    assert reports.waiting(store, playbook="pricing-exception") == []


def test_an_unknown_playbook_is_an_error_and_exits_2(capsys: pytest.CaptureFixture[str], store: Store) -> None:
    with pytest.raises(NotFound):
        reports.waiting(store, playbook="nope")
    assert main(["report", "waiting", "--playbook", "nope", "--db", store.url, "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["error"]["rule"] == "unknown-playbook"


def test_the_cli_prints_the_rows_as_json_and_as_a_table(capsys: pytest.CaptureFixture[str], store: Store) -> None:
    older, newer, _ = _two_waiting_runs(store)
    assert main(["report", "waiting", "--db", store.url, "--json"]) == 0
    rows: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    assert [r["run"] for r in rows] == [older, newer] and all(set(r) >= KEYS for r in rows)
    assert main(["report", "waiting", "--db", store.url]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("Where work waits, longest first")
    lines = printed.splitlines()
    at = [i for i, line in enumerate(lines) if older in line or newer in line]
    assert len(at) == 2 and older in lines[at[0]]  # whole ids, longest wait first
    # each cell stacks two values (run over task, step over whom it waits on): a row is two lines
    assert all(row["waiting_on"] in lines[i] + lines[i + 1] for row, i in zip(rows, at, strict=True))


def test_the_api_lists_only_the_runs_the_caller_sees(store: Store) -> None:
    older, newer, approver = _two_waiting_runs(store)
    with TestClient(create_app(store, CONFIG)) as client:
        def rows(actor: str) -> list[str]:
            answer = client.get("/api/v1/reports/waiting", headers=bearer(tokens.create(store, actor, ADMIN)["token"]))
            assert answer.status_code == 200, answer.text
            return [row["run"] for row in answer.json()]
        assert rows("sam") == [older, newer]  # the workflow owner
        assert rows(approver) == [newer]
        assert rows("lena") == []
        unknown = client.get("/api/v1/reports/waiting?playbook=nope",
                             headers=bearer(tokens.create(store, "sam", ADMIN)["token"]))
    assert unknown.status_code == 404
