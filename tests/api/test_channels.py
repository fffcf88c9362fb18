"""The API shows the channel of each decision: on the run's timeline, on the task, in the scorecard."""

from __future__ import annotations

from fastapi.testclient import TestClient

from ledgerflow.storage.store import Store
from tests.api.helpers import Login
from tests.reports.test_channels import decide_via


def test_the_api_names_the_channel_each_decision_came_through(store: Store, client: TestClient,
                                                                login: Login) -> None:
    run = decide_via(store, "email", "2h")
    body = client.get(f"/api/v1/runs/{run}", headers=login("maria")).json()
    (decided,) = [e for e in body["timeline"] if e["type"] == "task.decided"]
    assert decided["channel"] == "email" and " via email " in decided["text"]
    task = client.get(f"/api/v1/tasks/{decided['task']}", headers=login("maria")).json()
    assert [d["channel"] for d in task["decisions"]] == ["email"]
    card = client.get("/api/v1/scorecards/pricing-exception?period=2026-W10&by_channel=true",
                      headers=login("maria")).json()
    assert card["latency_by_channel"] == {"email": {"decided": 1, "median_hours": 2.0, "p90_hours": 2.0}}
    plain = client.get("/api/v1/scorecards/pricing-exception?period=2026-W10", headers=login("maria")).json()
    assert plain["latency_by_channel"] is None
    assert {k: v for k, v in card.items() if k != "latency_by_channel"} == {
        k: v for k, v in plain.items() if k != "latency_by_channel"}
