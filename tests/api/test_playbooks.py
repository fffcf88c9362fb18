"""Playbooks over HTTP: read and lint by any actor; publish by the owners; body limits; OpenAPI."""

from __future__ import annotations

from fastapi.testclient import TestClient

from ledgerflow.storage.store import Store
from tests.api.helpers import Login
from tests.conftest import PRICING
from tests.engine.helpers import changes_nothing, snapshot

YAML = {"Content-Type": "application/yaml"}


def test_any_actor_lists_and_reads_playbooks(client: TestClient, login: Login) -> None:
    (listed,) = client.get("/api/v1/playbooks", headers=login("lena")).json()
    assert (listed["playbook"], listed["version"], listed["workflow_owner"], listed["governance"]) == (
        "pricing-exception", 1, "sam", "continue")
    shown = client.get("/api/v1/playbooks/pricing-exception?version=1", headers=login("lena")).json()
    assert shown["definition"]["id"] == "pricing-exception" and "steps:" in shown["source"]
    assert client.get("/api/v1/playbooks/nope", headers=login("lena")).status_code == 404


def test_lint_answers_findings_without_storing_anything(client: TestClient, login: Login, store: Store) -> None:
    bob = {**login("bob"), **YAML}
    bad = PRICING.read_text().replace("workflow_owner: sam", "workflow_owner: finance")
    with changes_nothing(store):
        clean = client.post("/api/v1/playbooks/lint", content=PRICING.read_bytes(), headers=bob)
        found = client.post("/api/v1/playbooks/lint", content=bad, headers=bob).json()
    assert clean.status_code == 200 and clean.json() == {"ok": True, "findings": []}
    assert found["ok"] is False and "owner-not-person" in {f["rule"] for f in found["findings"]}


def test_publishing_is_for_the_owners(client: TestClient, login: Login, store: Store) -> None:
    changed = PRICING.read_text().replace("title: Pricing exception approval", "title: Pricing exceptions")
    takeover = changed.replace("workflow_owner: sam", "workflow_owner: bob")
    bob = {**login("bob"), **YAML}
    with changes_nothing(store):
        refused = client.post("/api/v1/playbooks", content=changed, headers=bob)
        # naming yourself owner in the new text does not make you one
        assert client.post("/api/v1/playbooks", content=takeover, headers=bob).status_code == 403
    assert refused.status_code == 403 and refused.json()["rule"] == "publish-not-owner"
    created = client.post("/api/v1/playbooks", content=changed, headers={**login("sam"), **YAML})
    assert created.status_code == 201 and created.json()["version"] == 2 and created.json()["created"] is True
    same = client.post("/api/v1/playbooks", content=changed, headers={**login("maria"), **YAML})
    assert same.status_code == 200 and same.json() == {**created.json(), "created": False}
    fresh = changed.replace("id: pricing-exception", "id: pricing-exception-eu")
    assert client.post("/api/v1/playbooks", content=fresh, headers={**login("sam"), **YAML}).status_code == 201


def test_publishing_with_lint_errors_is_409_with_the_findings(client: TestClient, login: Login,
                                                              store: Store) -> None:
    bad = PRICING.read_text().replace("owner: account-exec", "owner: nobody-here")
    sam = {**login("sam"), **YAML}
    with changes_nothing(store):
        answer = client.post("/api/v1/playbooks", content=bad, headers=sam)
        broken = client.post("/api/v1/playbooks", content="steps: [", headers=sam)
    assert answer.status_code == 409 and answer.json()["rule"] == "lint-errors"
    assert "unknown-actor" in {f["rule"] for f in answer.json()["findings"]}
    assert broken.status_code == 409 and broken.json()["findings"][0]["rule"] == "load-error"


def test_bodies_over_the_limit_are_413_and_other_media_types_415(client: TestClient, login: Login,
                                                                 store: Store) -> None:
    login("bob")
    before = snapshot(store)
    huge = "# " + "x" * (65 * 1024)
    too_big = client.post("/api/v1/playbooks/lint", content=huge, headers={**login("bob"), **YAML})
    assert too_big.status_code == 413 and too_big.json()["rule"] == "input-too-large"

    def chunks() -> list[bytes]:
        return [b"# " + b"y" * 40_000, b"z" * 40_000]  # no Content-Length: counted as it arrives

    streamed = client.post("/api/v1/playbooks/lint", content=iter(chunks()), headers={**login("bob"), **YAML})
    assert streamed.status_code == 413
    wrong = client.post("/api/v1/playbooks/lint", content=b"{}", headers={**login("bob"),
                                                                          "Content-Type": "application/json"})
    assert wrong.status_code == 415 and wrong.json()["rule"] == "unsupported-media-type"
    assert snapshot(store) == before


def test_openapi_documents_the_routes_bearer_auth_and_problem_responses(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    decide = document["paths"]["/api/v1/tasks/{task_id}/decide"]["post"]
    assert {"200", "401", "403", "404", "409", "422"} <= set(decide["responses"])
    assert "application/problem+json" in decide["responses"]["403"]["content"]
    assert any(p["name"] == "Idempotency-Key" for p in decide["parameters"])
    assert "application/yaml" in document["paths"]["/api/v1/playbooks"]["post"]["requestBody"]["content"]
    assert "text/event-stream" in document["paths"]["/api/v1/runs/{run_id}/events/stream"]["get"][
        "responses"]["200"]["content"]
    assert "Problem" in document["components"]["schemas"]
