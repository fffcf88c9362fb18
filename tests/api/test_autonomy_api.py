"""Earned autonomy over the REST API (SPEC §11): the owners read and change what an agent may decide; anyone
else is refused (403) and nothing changes."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from ledgerflow.storage.store import Store
from tests.api.helpers import Login
from tests.engine.helpers import changes_nothing, publish_text

CREDIT = (Path(__file__).parents[1] / "reports" / "small-credit.yaml").read_text()
URL = "/api/v1/governance/small-credit/autonomy"
WIDEN = {"agent": "intake-bot", "step": "triage", "change": "limit", "limit": 5000,
         "rationale": "agreed with finance in 19 of its last 20 triages"}


def test_the_workflow_owner_widens_an_agents_limit_and_the_api_shows_it(client: TestClient, login: Login,
                                                                        store: Store, tmp_path: Path) -> None:
    publish_text(store, tmp_path, CREDIT)
    (before,) = client.get(URL, headers=login("sam")).json()
    assert (before["limit"], before["changed"], before["decided_by"]) == (100, False, None)
    answer = client.post(URL, json=WIDEN, headers=login("sam"))
    assert answer.status_code == 201, answer.text
    assert (answer.json()["limit"], answer.json()["decided_by"], answer.json()["moved"]) == (5000, "sam", [])
    (now,) = client.get(URL, headers=login("maria")).json()
    assert (now["limit"], now["changed"], now["decided_by"], now["rationale"]) == (
        5000, True, "sam", WIDEN["rationale"])
    (row,) = [r for r in client.get("/api/v1/reports/agents", headers=login("sam")).json() if r["step"] == "triage"]
    assert row["autonomy"]["limit"] == 5000
    started = client.post("/api/v1/runs", headers=login("bob"),
                          json={"playbook": "small-credit", "input": {"customer": "Acme", "amount": 3000}}).json()
    assert started["tasks"][0]["assignee"] == "intake-bot"
    shown = client.get(f"/api/v1/tasks/{started['tasks'][0]['task']}", headers=login("intake-bot")).json()
    assert (shown["rights"]["your_autonomy"]["limit"], shown["rights"]["your_autonomy"]["decided_by"]) == (5000, "sam")


def test_anyone_but_the_owners_is_refused_and_nothing_changes(client: TestClient, login: Login, store: Store,
                                                              tmp_path: Path) -> None:
    publish_text(store, tmp_path, CREDIT)
    headers = {who: login(who) for who in ("bob", "dave", "intake-bot", "sam")}  # tokens made before watching
    for who in ("bob", "dave", "intake-bot"):
        with changes_nothing(store):
            answer = client.post(URL, json=WIDEN, headers=headers[who])
        assert answer.status_code == 403 and answer.json()["rule"] == "governance-not-owner", (who, answer.text)
        assert client.get(URL, headers=headers[who]).status_code == 403
    with changes_nothing(store):
        answer = client.post(URL, json={**WIDEN, "rationale": " "}, headers=headers["sam"])
    assert answer.status_code == 403 and answer.json()["rule"] == "rationale-required"
    with changes_nothing(store):
        answer = client.post(URL, json={**WIDEN, "step": "confirm"}, headers=headers["sam"])
    assert answer.status_code in (400, 422) and answer.json()["rule"] == "agent-has-no-row"
