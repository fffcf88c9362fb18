"""Approval grants over REST (/api/v1/approvals): the MCP tools' use cases with channel `api`."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from ledgerflow.storage.store import Store
from tests.agents.helpers import events_of, publish_examples
from tests.api.helpers import Login
from tests.engine.helpers import decide, only_open, snapshot

ASK = {"playbook": "agent-action-approval", "action": "refund", "arguments": {"order": 42}, "reason": "charged twice"}


def _approved(store: Store, client: TestClient, login: Login) -> dict[str, Any]:
    publish_examples(store)
    asked = client.post("/api/v1/approvals", json=ASK, headers=login("intake-bot"))
    assert asked.status_code == 201, asked.text
    body: dict[str, Any] = asked.json()
    assert body["status"] == "pending"
    decide(store, only_open(store, body["run"]), "approve")
    return body


def test_an_agent_asks_reads_and_consumes_a_grant_over_rest(store: Store, client: TestClient, login: Login) -> None:
    asked = _approved(store, client, login)
    got = client.get(f"/api/v1/approvals/{asked['approval']}", headers=login("intake-bot")).json()
    assert got["status"] == "approved" and got["grant"]["action"] == "refund"
    used = client.post(f"/api/v1/approvals/{asked['approval']}/consume", json={"arguments": {"order": 42}},
                       headers=login("intake-bot"))
    assert used.status_code == 200 and used.json()["grant"]["consumed_at"] is not None
    (consumed,) = events_of(store, asked["run"], "approval.consumed")
    assert consumed["channel"] == "api"
    hidden = client.get(f"/api/v1/approvals/{asked['approval']}", headers=login("lena"))
    assert hidden.status_code == 404 and hidden.json()["rule"] == "unknown-approval"


def test_a_refused_use_is_409_with_its_rule_and_recorded_also_under_an_idempotency_key(
        store: Store, client: TestClient, login: Login) -> None:
    asked = _approved(store, client, login)
    path = f"/api/v1/approvals/{asked['approval']}/consume"
    for key in (None, "retry-1"):
        headers = {**login("intake-bot"), **({"Idempotency-Key": key} if key else {})}
        before = snapshot(store)
        refused = client.post(path, json={"arguments": {"order": 4200}}, headers=headers)
        assert refused.status_code == 409 and refused.json()["rule"] == "approval-mismatch"
        after = snapshot(store)
        changed = {name for name in before if before[name] != after[name]}
        assert changed == ({"events", "chains"} if key is None else {"events", "chains", "idempotency_keys"})
        assert after["approvals"] == before["approvals"]
    refusals = events_of(store, asked["run"], "approval.refused")
    assert [(e["data"]["rule"], e["channel"]) for e in refusals] == [("approval-mismatch", "api")] * 2
