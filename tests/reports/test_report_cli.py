"""`ledgerflow report ...` prints the SPEC §6 shapes with --json and exits 2 on an unknown playbook."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ledgerflow.cli.main import main
from ledgerflow.engine import service
from ledgerflow.storage.store import Store
from tests.engine.helpers import GOOD_OUTPUT, act, only_open, start


def _json(capsys: pytest.CaptureFixture[str], store: Store, *args: str) -> tuple[int, Any]:
    code = main([*args, "--db", store.url, "--json"])
    return code, json.loads(capsys.readouterr().out)


def _reassigned(store: Store) -> str:
    run = start(store)
    decision = act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)["opened"][0]
    act(store, "reassign", decision, actor="sam", to="erin" if decision.assignee == "dave" else "dave",
        reason="balance the load")
    return str(decision.id)


def test_report_ownership_json(capsys: pytest.CaptureFixture[str], store: Store) -> None:
    task = _reassigned(store)
    code, out = _json(capsys, store, "report", "ownership", "pricing-exception", "--period", "2026-W10")
    assert code == 0 and set(out) == {"changes", "gaps"} and out["gaps"] == []
    change = out["changes"][0]
    assert {"task", "run", "step", "at", "from", "to", "kind", "authority", "reason", "flagged"} <= set(change)
    assert (change["task"], change["kind"], change["flagged"]) == (task, "reassignment", False)
    since = _json(capsys, store, "report", "ownership", "pricing-exception", "--since", "2026-03-02",
                  "--until", "2026-03-03")[1]
    default = _json(capsys, store, "report", "ownership", "pricing-exception")[1]
    assert since == default == out


def test_report_stalled_json(capsys: pytest.CaptureFixture[str], store: Store) -> None:
    assert _json(capsys, store, "report", "stalled") == (0, [])
    run = start(store)
    service.advance_clock(store, "36h", service.Caller())
    code, out = _json(capsys, store, "report", "stalled")
    assert code == 0 and [(s["run"], s["overdue_hours"], s["blocked"]) for s in out] == [(run.id, 12.0, False)]
    assert {"task", "run", "playbook", "step", "assignee", "due_at", "overdue_hours", "blocked"} <= set(out[0])


def test_report_waits_json(capsys: pytest.CaptureFixture[str], store: Store) -> None:
    run = start(store)
    service.advance_clock(store, "3h", service.Caller())
    act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)
    code, out = _json(capsys, store, "report", "waits", "pricing-exception", "--period", "2026-W10")
    assert code == 0 and (out["playbook"], out["period"]) == ("pricing-exception", "2026-W10")
    keys = {"step", "tasks", "wait_median_hours", "wait_p90_hours", "in_progress_median_hours", "nudges",
            "reassignments", "send_backs", "assignees"}
    prepare = out["steps"][0]
    assert keys <= set(prepare) and (keys - {"step", "assignees"}) | {"assignee"} <= set(prepare["assignees"][0])
    assert (prepare["step"], prepare["tasks"], prepare["wait_median_hours"]) == ("prepare", 1, 3.0)


def test_report_clarity_json(capsys: pytest.CaptureFixture[str], store: Store) -> None:
    assert _json(capsys, store, "report", "clarity") == (0, {"findings": [], "gaps": []})


def test_reports_on_an_unknown_playbook_exit_2(capsys: pytest.CaptureFixture[str], store: Store) -> None:
    for report in ("ownership", "waits"):
        code, out = _json(capsys, store, "report", report, "nope")
        assert code == 2 and out["error"]["rule"] == "unknown-playbook"


def test_reports_print_tables_without_json(capsys: pytest.CaptureFixture[str], store: Store) -> None:
    _reassigned(store)
    for args in (("ownership", "pricing-exception"), ("stalled",), ("waits", "pricing-exception"), ("clarity",)):
        assert main(["report", *args, "--db", store.url]) == 0
    printed = capsys.readouterr().out
    for title in ("changes of assignee", "ownership gaps", "Stalled tasks", "waits (hours)", "no findings"):
        assert title in printed
