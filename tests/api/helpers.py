"""Small drivers for API tests: bearer headers, a run started and brought to its decision."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

Login = Callable[[str], dict[str, str]]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


INPUT = {"customer": "Acme", "deal_value": 12000, "discount_pct": 18}
PREPARED = {"deal_sheet_url": "https://docs.example.com/d/1", "justification": "Competitor offered 20%, renewal"}


def start(client: TestClient, login: Login, by: str = "bob", **changes: Any) -> dict[str, Any]:
    """Start a pricing-exception run through the API; returns the 201 body (its open `prepare` task)."""
    answer = client.post("/api/v1/runs", json={"playbook": "pricing-exception", "input": {**INPUT, **changes}},
                         headers=login(by))
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def to_decision(client: TestClient, login: Login, by: str = "bob") -> tuple[str, dict[str, Any], dict[str, Any]]:
    """A run whose `prepare` is done: (run id, the prepare task, the open decision task)."""
    started = start(client, login, by)
    prepare = started["tasks"][0]
    done = client.post(f"/api/v1/tasks/{prepare['task']}/complete", json={"output": PREPARED},
                       headers=login(prepare["assignee"]))
    assert done.status_code == 200, done.text
    (decision,) = done.json()["opened"]
    return started["run"], prepare, decision

