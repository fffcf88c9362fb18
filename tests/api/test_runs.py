"""Runs over HTTP: start, read, list with cursor pages, cancel; outsiders get 404; schemas answer 422."""

from __future__ import annotations

from fastapi.testclient import TestClient

from ledgerflow.storage.store import Store
from tests.api.helpers import INPUT, Login, start, to_decision
from tests.engine.helpers import changes_nothing, snapshot

OUTSIDER = "lena"  # legal: no role in pricing-exception, owns nothing


def test_start_answers_201_with_the_open_task_and_the_run_reads_back_with_its_timeline(
        client: TestClient, login: Login) -> None:
    started = start(client, login, by="bob")
    assert started["status"] == "running" and [t["step"] for t in started["tasks"]] == ["prepare"]
    run = client.get(f"/api/v1/runs/{started['run']}", headers=login("bob")).json()
    assert (run["run"], run["started_by"], run["input"]) == (started["run"], "bob", INPUT)
    assert [e["type"] for e in run["timeline"]][:2] == ["run.started", "task.ready"]
    assert run["timeline"][0]["channel"] == "api" and run["timeline"][0]["text"].startswith("bob started")


def test_an_outsider_gets_404_for_the_run_its_events_its_tasks_and_commands(
        client: TestClient, login: Login, store: Store) -> None:
    run_id, prepare, decision = to_decision(client, login)
    outsider = login(OUTSIDER)
    before = snapshot(store)
    for method, path, body in (
            ("GET", f"/api/v1/runs/{run_id}", None), ("GET", f"/api/v1/runs/{run_id}/events", None),
            ("GET", f"/api/v1/runs/{run_id}/events/stream", None),
            ("POST", f"/api/v1/runs/{run_id}/cancel", {"reason": "mine now"}),
            ("GET", f"/api/v1/tasks/{prepare['task']}", None), ("GET", f"/api/v1/tasks/{decision['task']}", None),
            ("POST", f"/api/v1/tasks/{decision['task']}/decide", {"outcome": "approve", "rationale": "fine"}),
            ("POST", f"/api/v1/tasks/{decision['task']}/start", None)):
        answer = client.request(method, path, json=body, headers=outsider)
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.json()["rule"] in ("unknown-run", "unknown-task")
    unknown = client.get("/api/v1/runs/r-doesnotexist", headers=outsider).json()
    hidden = client.get(f"/api/v1/runs/{run_id}", headers=outsider).json()
    assert unknown["rule"] == hidden["rule"]  # hidden and unknown answer alike
    assert client.get("/api/v1/runs", headers=outsider).json() == {"items": [], "next": None}
    assert snapshot(store) == before


def test_the_run_is_visible_to_its_owners_informed_and_recommenders(client: TestClient, login: Login) -> None:
    run_id, _prepare, _decision = to_decision(client, login, by="bob")
    # sam workflow owner, maria outcome owner, alice informed (account-exec), carol recommends (deal-desk)
    for actor in ("sam", "maria", "alice", "carol"):
        assert client.get(f"/api/v1/runs/{run_id}", headers=login(actor)).status_code == 200, actor
    assert client.get(f"/api/v1/runs/{run_id}", headers=login("victor")).status_code == 404


def test_runs_list_by_cursor_pages_and_filters(client: TestClient, login: Login) -> None:
    ids = sorted(start(client, login, by="bob")["run"] for _ in range(3))  # one instant: ordered by id
    first = client.get("/api/v1/runs?limit=2", headers=login("bob")).json()
    assert [r["run"] for r in first["items"]] == ids[:2] and first["next"] == ids[1]
    second = client.get(f"/api/v1/runs?limit=2&after={first['next']}", headers=login("bob")).json()
    assert [r["run"] for r in second["items"]] == ids[2:] and second["next"] is None
    cancelled = client.post(f"/api/v1/runs/{ids[0]}/cancel", json={"reason": "duplicate"}, headers=login("bob"))
    assert cancelled.status_code == 200 and cancelled.json() == {"run": ids[0], "status": "cancelled"}
    only = client.get("/api/v1/runs?status=cancelled&playbook=pricing-exception", headers=login("bob")).json()
    assert [r["run"] for r in only["items"]] == ids[:1]
    bad = client.get("/api/v1/runs?status=sleeping", headers=login("bob"))
    assert bad.status_code == 422 and bad.json()["rule"] == "schema-violation"


def test_cancelling_twice_is_409_and_by_a_mere_participant_403(client: TestClient, login: Login,
                                                               store: Store) -> None:
    started = start(client, login, by="bob")
    assignee = started["tasks"][0]["assignee"]
    helper = login("alice" if assignee == "bob" else assignee)  # an account-exec who sees it, did not start it
    with changes_nothing(store):
        refused = client.post(f"/api/v1/runs/{started['run']}/cancel", json={"reason": "no"}, headers=helper)
    assert refused.status_code == 403 and refused.json()["rule"] == "cancel-not-allowed"
    assert client.post(f"/api/v1/runs/{started['run']}/cancel", json={"reason": "dup"},
                       headers=login("bob")).status_code == 200
    with changes_nothing(store):
        again = client.post(f"/api/v1/runs/{started['run']}/cancel", json={"reason": "dup"}, headers=login("bob"))
    assert again.status_code == 409 and again.json()["rule"] == "run-state"


def test_input_violating_the_playbook_schema_is_422_listing_every_path(client: TestClient, login: Login,
                                                                      store: Store) -> None:
    bob = login("bob")
    with changes_nothing(store):
        answer = client.post("/api/v1/runs", headers=bob, json={
            "playbook": "pricing-exception", "input": {"deal_value": "a lot", "discount_pct": 150}})
    assert answer.status_code == 422 and answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["rule"] == "schema-violation" and problem["status"] == 422
    paths = {v["path"] for v in problem["violations"]}
    assert {"/deal_value", "/discount_pct"} <= paths
    assert any("customer" in v["message"] for v in problem["violations"])


def test_a_request_body_violating_the_api_model_is_422_and_broken_json_400(client: TestClient, login: Login,
                                                                          store: Store) -> None:
    bob = login("bob")
    with changes_nothing(store):
        answer = client.post("/api/v1/runs", headers=bob, json={"input": INPUT, "colour": "red"})
        broken = client.post("/api/v1/runs", headers={**bob, "Content-Type": "application/json"},
                             content=b'{"playbook": ')
    assert answer.status_code == 422
    assert {v["path"] for v in answer.json()["violations"]} == {"/body/playbook", "/body/colour"}
    assert broken.status_code == 400 and broken.json()["rule"] == "malformed-json"


def test_unknown_playbook_is_404_and_a_paused_one_409(client: TestClient, login: Login, store: Store) -> None:
    bob = login("bob")
    with changes_nothing(store):
        missing = client.post("/api/v1/runs", headers=bob, json={"playbook": "nope", "input": INPUT})
    assert missing.status_code == 404 and missing.json()["rule"] == "unknown-playbook"
    paused = client.post("/api/v1/governance/pricing-exception/decisions", headers=login("maria"),
                         json={"decision": "pause", "rationale": "margin review"})
    assert paused.status_code == 201 and paused.json()["decided_by"] == "maria"
    with changes_nothing(store):
        refused = client.post("/api/v1/runs", headers=bob, json={"playbook": "pricing-exception", "input": INPUT})
    assert refused.status_code == 409 and refused.json()["rule"] == "playbook-paused"


def test_events_page_after_a_seq(client: TestClient, login: Login) -> None:
    run_id, _, _ = to_decision(client, login)
    everything = client.get(f"/api/v1/runs/{run_id}/events?limit=200", headers=login("bob")).json()
    seqs = [e["seq"] for e in everything["items"]]
    assert seqs == sorted(seqs) and everything["next"] is None
    page = client.get(f"/api/v1/runs/{run_id}/events?after={seqs[0]}&limit=2", headers=login("bob")).json()
    assert [e["seq"] for e in page["items"]] == seqs[1:3] and page["next"] == seqs[2]
