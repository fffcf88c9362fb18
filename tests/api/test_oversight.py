"""Audit, scorecards, governance and reports over HTTP: owners' figures, filtered reports."""

from __future__ import annotations

from fastapi.testclient import TestClient

from ledgerflow.engine import service
from ledgerflow.storage.store import Store
from tests.api.helpers import Login, start
from tests.conftest import ADMIN
from tests.engine.helpers import changes_nothing


def test_audit_verify_answers_the_verify_object(client: TestClient, login: Login) -> None:
    start(client, login)
    answer = client.get("/api/v1/audit/verify", headers=login("lena")).json()
    assert answer["ok"] is True and answer["first_bad"] is None and answer["events"] > 0


def test_scorecards_are_for_the_playbooks_owners(client: TestClient, login: Login) -> None:
    card = client.get("/api/v1/scorecards/pricing-exception?period=2026-W10", headers=login("sam"))
    assert card.status_code == 200 and card.json()["period"] == "2026-W10" and card.json()["throughput"] == 0
    assert client.get("/api/v1/scorecards/pricing-exception", headers=login("maria")).json()["period"] == "2026-W10"
    refused = client.get("/api/v1/scorecards/pricing-exception", headers=login("bob"))
    assert refused.status_code == 403 and refused.json()["rule"] == "not-playbook-owner"
    bad = client.get("/api/v1/scorecards/pricing-exception?since=2026-03-01", headers=login("sam"))
    assert bad.status_code == 400 and bad.json()["rule"] == "bad-period"


def test_governance_decisions_by_owners_only(client: TestClient, login: Login, store: Store) -> None:
    bob, sam = login("bob"), login("sam")
    with changes_nothing(store):
        refused = client.post("/api/v1/governance/pricing-exception/decisions", headers=bob,
                              json={"decision": "stop", "rationale": "I do not like it"})
        unknown = client.post("/api/v1/governance/pricing-exception/decisions", headers=sam,
                              json={"decision": "panic", "rationale": "x"})
    assert refused.status_code == 403 and refused.json()["rule"] == "governance-not-owner"
    assert unknown.status_code == 422
    done = client.post("/api/v1/governance/pricing-exception/decisions", headers=login("sam"), json={
        "decision": "stabilize", "rationale": "Too many exceptions",
        "follow_ups": [{"text": "Tighten the justification rule", "owner": "sam", "due": "1w"}]})
    assert done.status_code == 201 and done.json()["decision"] == "stabilize"
    (follow_up,) = done.json()["follow_ups"]
    inbox = client.get("/api/v1/tasks", headers=login("sam")).json()
    assert follow_up in [t["task"] for t in inbox]
    context = client.get(f"/api/v1/tasks/{follow_up}", headers=login("sam")).json()
    assert context["clarity"]["what"] == "Tighten the justification rule" and context["run"] is None
    assert client.get(f"/api/v1/tasks/{follow_up}", headers=login("bob")).status_code == 404
    closed = client.post(f"/api/v1/tasks/{follow_up}/complete", headers=login("sam"), json={"output": {}})
    assert closed.status_code == 200 and closed.json()["run"] is None


def test_the_stalled_report_lists_only_what_the_caller_sees(client: TestClient, login: Login,
                                                           store: Store) -> None:
    prepare = start(client, login)["tasks"][0]
    service.advance_clock(store, "2d", ADMIN)
    mine = client.get("/api/v1/reports/stalled", headers=login(prepare["assignee"])).json()
    assert [row["task"] for row in mine] == [prepare["task"]] and mine[0]["overdue_hours"] > 0
    assert client.get("/api/v1/reports/stalled", headers=login("lena")).json() == []
    clarity = client.get("/api/v1/reports/clarity", headers=login("sam")).json()
    assert clarity == {"findings": [], "gaps": []}
    waits = client.get("/api/v1/reports/waits/pricing-exception?period=2026-W10", headers=login("sam"))
    assert waits.status_code == 200 and waits.json()["steps"][0]["step"] == "prepare"
    assert client.get("/api/v1/reports/ownership/pricing-exception", headers=login("bob")).status_code == 403
