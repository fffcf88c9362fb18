"""Every API endpoint × the actors who take no part: zero unexpected allows, and nothing written by a denial."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from ledgerflow.engine import service, tokens
from ledgerflow.storage.store import Store
from tests.agents.helpers import APPROVAL
from tests.api.helpers import PREPARED, Login, bearer, start, to_decision
from tests.conftest import PRICING
from tests.engine.helpers import snapshot

OPEN_TO_EVERY_ACTOR = {  # lists filtered to what the caller sees, reads of definitions, and starting a run
    ("GET", "/api/v1/playbooks"), ("GET", "/api/v1/playbooks/{playbook_id}"), ("POST", "/api/v1/playbooks/lint"),
    ("GET", "/api/v1/runs"), ("POST", "/api/v1/runs"), ("GET", "/api/v1/tasks"), ("GET", "/api/v1/audit/verify"),
    ("GET", "/api/v1/reports/stalled"), ("GET", "/api/v1/reports/clarity"), ("GET", "/api/v1/reports/waiting"),
    ("GET", "/api/v1/playbooks/{playbook_id}/map"), ("GET", "/api/v1/playbooks/{playbook_id}/map.md"),
    ("POST", "/api/v1/approvals"), ("GET", "/api/v1/reports/agents"),
    ("POST", "/api/v1/attachments"),
}
OPEN_TO_GUESTS = {("POST", "/api/v1/attachments")}  # storing a document reads nothing: only its uploader refers to it


def _body(method: str, path: str, ids: dict[str, str]) -> dict[str, Any]:
    if method != "POST":
        return {}
    if path.endswith("/decide"):
        return {"json": {"outcome": "approve", "rationale": "fine"}}
    if path.endswith("/recommend"):
        return {"json": {"outcome": "approve", "rationale": "fine"}}
    if path.endswith("/reassign"):
        return {"json": {"to": "erin", "reason": "load"}}
    if path.endswith("/complete"):
        return {"json": {"output": PREPARED}}
    if path.endswith(("/cancel", "/hold", "/release")):
        return {"json": {"reason": "no"}}
    if path.endswith("/autonomy"):
        return {"json": {"agent": "intake-bot", "step": "approve", "change": "withdraw", "rationale": "no"}}
    if path.endswith("/decisions"):
        return {"json": {"decision": "pause", "rationale": "no"}}
    if path == "/api/v1/approvals":
        return {"json": {"playbook": "agent-action-approval", "action": "a", "arguments": {}, "reason": "r"}}
    if path.endswith("/consume"):
        return {"json": {"arguments": {}}}
    if path.startswith("/api/v1/outcomes/"):
        return {"json": {"period": "2026-W10", "value": 1}}
    if path == "/api/v1/playbooks" or path.endswith("/lint"):
        return {"content": PRICING.read_text(), "headers": {"content-type": "application/yaml"}}
    if path == "/api/v1/runs":
        return {"json": {"playbook": "pricing-exception", "input": {"customer": "A", "deal_value": 1,
                                                                     "discount_pct": 1}}}
    return {"json": {}}


def test_no_endpoint_lets_an_outsider_an_agent_or_a_guest_reach_a_run_it_takes_no_part_in(
        client: TestClient, login: Login, store: Store) -> None:
    run_id, _, decision = to_decision(client, login)
    other = start(client, login)["tasks"][0]  # a guest is invited to another run's task
    guest = bearer(tokens.invite_guest(store, other["task"], "g@example.com",
                                       service.Caller(actor=other["assignee"]))["link"].rsplit("/", 1)[1])
    strangers = {"outsider": login("lena"), "agent": login("intake-bot"), "guest": guest}
    service.publish(store, str(APPROVAL), service.Caller())
    asked = client.post("/api/v1/approvals", json=_body("POST", "/api/v1/approvals", {})["json"], headers=login("bob"))
    document = client.post("/api/v1/attachments", files={"file": ("deal.pdf", b"%PDF-1.4\n%%EOF\n")},
                           headers=login("bob")).json()["sha256"]
    client.post("/api/v1/runs", headers=login("bob"), json={
        "playbook": "pricing-exception", "input": {"customer": "A", "deal_value": 1, "discount_pct": 1},
        "attachments": [document]})
    ids = {"run_id": run_id, "task_id": decision["task"], "playbook_id": "pricing-exception",
           "approval": asked.json()["approval"], "sha256": document}
    paths = client.get("/openapi.json").json()["paths"]
    checked = 0
    for template, operations in paths.items():
        if not template.startswith("/api/v1"):
            continue
        path = re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], template)
        for method in (m.upper() for m in operations):
            for kind, headers in strangers.items():
                open_to = OPEN_TO_GUESTS if kind == "guest" else OPEN_TO_EVERY_ACTOR
                if (method, template) in open_to:
                    continue
                before = snapshot(store)
                extra = _body(method, template, ids)
                answer = client.request(method, path, headers={**headers, **extra.pop("headers", {})},
                                        params={"seconds": 0.2} if template.endswith("/stream") else None, **extra)
                assert answer.status_code in (403, 404), (kind, method, template, answer.status_code, answer.text)
                assert snapshot(store) == before, (kind, method, template)
                checked += 1
    assert checked >= 40


def test_people_on_the_run_who_do_not_hold_the_decision_cannot_take_it(client: TestClient, login: Login,
                                                                      store: Store) -> None:
    _, prepare, decision = to_decision(client, login)
    people = {who: login(who) for who in ("bob", prepare["assignee"], "sam", "maria", "carol")}
    before = snapshot(store)
    for who, headers in people.items():
        answer = client.post(f"/api/v1/tasks/{decision['task']}/decide", headers=headers,
                             json={"outcome": "approve", "rationale": "me"})
        assert answer.status_code == 403 and answer.json()["rule"] == "not-assignee", (who, answer.text)
    assert snapshot(store) == before
