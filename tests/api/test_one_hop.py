"""The task commands' one-hop route (api/one_hop.py) answers as the FastAPI routes did: the same order of
refusals (400 malformed JSON, 401, 404 guest scope, 400 key, then 422), problem documents, Idempotency-Key
replays, 405 and the OpenAPI description; and every refusal writes nothing."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy import event
from starlette.responses import Response

from ledgerflow.api.app import create_app
from ledgerflow.api.deps import ActorMutation
from ledgerflow.api.one_hop import OneHopRoute
from ledgerflow.domain.errors import Refused
from ledgerflow.engine import service, tokens
from ledgerflow.storage.store import Store
from tests.api.conftest import CONFIG
from tests.api.helpers import PREPARED, Login, bearer, start, to_decision
from tests.conftest import ADMIN
from tests.engine.helpers import changes_nothing, snapshot

COMMANDS = ("start", "complete", "decide", "recommend", "reassign")
JSON = {"Content-Type": "application/json"}


def test_a_missing_or_bad_token_is_401_before_a_bad_body_on_every_command(client: TestClient, login: Login,
                                                                          store: Store) -> None:
    task = start(client, login)["tasks"][0]["task"]
    with changes_nothing(store):
        for verb in COMMANDS:
            for headers, rule in (({}, "token-missing"), ({"Authorization": "Basic Ym9iOmJvYg=="}, "token-missing"),
                                  (bearer("lf_" + "a" * 43), "token-invalid")):
                answer = client.post(f"/api/v1/tasks/{task}/{verb}", json={"colour": [1]}, headers=headers)
                assert answer.status_code == 401, (verb, answer.text)
                assert answer.json()["rule"] == rule and answer.headers["www-authenticate"].startswith("Bearer")
                assert answer.headers["content-type"] == "application/problem+json"


def test_malformed_json_is_400_whatever_the_token(client: TestClient, login: Login, store: Store) -> None:
    task, alice = start(client, login)["tasks"][0]["task"], login("alice")
    with changes_nothing(store):
        for headers in ({}, alice):
            answer = client.post(f"/api/v1/tasks/{task}/complete", content=b'{"output": ', headers={**headers, **JSON})
            assert answer.status_code == 400 and answer.json()["rule"] == "malformed-json"


def test_a_body_the_input_gate_could_not_read_is_400_not_an_internal_error(client: TestClient, login: Login,
                                                                          store: Store) -> None:
    task, alice = start(client, login)["tasks"][0]["task"], login("alice")
    deep = ('{"output": ' + "[" * 5_000 + "]" * 5_000 + "}").encode("utf-16")  # not UTF-8: past the gate
    with changes_nothing(store):
        answer = client.post(f"/api/v1/tasks/{task}/complete", content=deep, headers={**alice, **JSON})
        assert answer.status_code == 400 and answer.json()["rule"] == "http-error", answer.text


def test_a_body_violating_its_model_is_422_listing_every_path(client: TestClient, login: Login,
                                                               store: Store) -> None:
    _, _, decision = to_decision(client, login)
    path, who = f"/api/v1/tasks/{decision['task']}/decide", login(decision["assignee"])
    with changes_nothing(store):
        wrong = client.post(path, json={"rationale": 3, "colour": "red"}, headers=who)
        missing = client.post(path, headers=who)
        not_json = client.post(path, content=b'{"outcome": "approve"}', headers={**who, "Content-Type": "text/plain"})
        listed = client.post(path, content=b"[1]", headers={**who, **JSON})
    assert wrong.status_code == 422 and wrong.json()["rule"] == "schema-violation"
    assert {v["path"] for v in wrong.json()["violations"]} == {"/body/outcome", "/body/rationale", "/body/colour"}
    assert (missing.status_code, [v["path"] for v in missing.json()["violations"]]) == (422, ["/body"])
    assert not_json.status_code == listed.status_code == 422


def test_a_completion_takes_no_body_at_all(client: TestClient, login: Login) -> None:
    prepare = start(client, login)["tasks"][0]
    answer = client.post(f"/api/v1/tasks/{prepare['task']}/complete", headers=login(prepare["assignee"]))
    assert answer.status_code == 422 and answer.json()["rule"] == "schema-violation"  # the step's `produces`


def test_a_guest_token_on_an_actor_only_command_is_404_guest_scope(client: TestClient, login: Login,
                                                                    store: Store) -> None:
    prepare = start(client, login)["tasks"][0]
    link = tokens.invite_guest(store, prepare["task"], "buyer@customer.example",
                               service.Caller(actor=prepare["assignee"]))["link"]
    guest = bearer(link.rsplit("/", 1)[1])
    with changes_nothing(store):
        for verb in ("start", "decide", "recommend", "reassign"):
            answer = client.post(f"/api/v1/tasks/{prepare['task']}/{verb}", json={"colour": 1}, headers=guest)
            assert (answer.status_code, answer.json()["rule"]) == (404, "guest-scope"), verb


def test_a_malformed_key_is_400_before_a_bad_body(client: TestClient, login: Login, store: Store) -> None:
    _, _, decision = to_decision(client, login)
    headers = {**login(decision["assignee"]), "Idempotency-Key": "bad key"}
    with changes_nothing(store):
        answer = client.post(f"/api/v1/tasks/{decision['task']}/decide", json={"colour": 1}, headers=headers)
    assert (answer.status_code, answer.json()["rule"]) == (400, "bad-idempotency-key")


def test_a_retried_decision_is_replayed_and_a_reused_key_refused(client: TestClient, login: Login,
                                                                 store: Store) -> None:
    _, _, decision = to_decision(client, login)
    path = f"/api/v1/tasks/{decision['task']}/decide"
    headers = {**login(decision["assignee"]), "Idempotency-Key": "decide-once"}
    body = {"outcome": "approve", "rationale": "Within policy"}
    first = client.post(path, json=body, headers=headers)
    after_first = snapshot(store)
    retry = client.post(path, json=body, headers=headers)
    other = client.post(path, json={**body, "rationale": "Another reason"}, headers=headers)
    assert first.status_code == retry.status_code == 200 and retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert (other.status_code, other.json()["rule"]) == (422, "idempotency-key-reused")
    assert snapshot(store) == after_first


def test_a_retry_after_the_token_is_revoked_is_401_not_the_replay(client: TestClient, login: Login,
                                                                  store: Store) -> None:
    prepare = start(client, login)["tasks"][0]
    made = tokens.create(store, prepare["assignee"], ADMIN)
    headers = {**bearer(made["token"]), "Idempotency-Key": "complete-1"}
    path = f"/api/v1/tasks/{prepare['task']}/complete"
    assert client.post(path, json={"output": PREPARED}, headers=headers).status_code == 200
    tokens.revoke(store, made["id"], ADMIN)
    with changes_nothing(store):
        retry = client.post(path, json={"output": PREPARED}, headers=headers)
    assert (retry.status_code, retry.json()["rule"]) == (401, "token-revoked")


def test_another_method_on_a_command_is_405_naming_post(client: TestClient, login: Login) -> None:
    task = start(client, login)["tasks"][0]["task"]
    answer = client.get(f"/api/v1/tasks/{task}/decide", headers=login("bob"))
    assert answer.status_code == 405 and answer.headers["allow"] == "POST"
    assert answer.headers["content-type"] == "application/problem+json"


def test_openapi_still_describes_every_command(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for verb in COMMANDS:
        operation = paths[f"/api/v1/tasks/{{task_id}}/{verb}"]["post"]
        assert operation["security"] == [{"bearer": []}] and operation["tags"] == ["tasks"]
        assert {p["name"] for p in operation["parameters"]} == {"task_id", "Idempotency-Key"}
        assert "TaskResult" in operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        assert (verb == "start") == ("requestBody" not in operation)
    assert paths["/api/v1/tasks/{task_id}/complete"]["post"]["requestBody"].get("required") is not True


def test_a_request_without_a_plausible_token_opens_no_transaction(client: TestClient, login: Login,
                                                                  store: Store) -> None:
    task = start(client, login)["tasks"][0]["task"]
    begun: list[object] = []

    def began(conn: object) -> None:
        begun.append(conn)

    event.listen(store.engine, "begin", began)
    try:
        for headers in ({}, bearer("not-a-ledgerflow-token"), {"Authorization": "Basic Ym9iOmJvYg=="}):
            assert client.post(f"/api/v1/tasks/{task}/start", headers=headers).status_code == 401
        assert begun == []
        assert client.post(f"/api/v1/tasks/{task}/start", headers=bearer("lf_" + "a" * 43)).status_code == 401
        assert begun  # a token of the right form is looked up, in the command's transaction
    finally:
        event.remove(store.engine, "begin", began)


@pytest.mark.parametrize("key", [None, "k-1"])
def test_a_refusal_audited_after_the_rollback_is_recorded_with_or_without_a_key(store: Store, login: Login,
                                                                                key: str | None) -> None:
    """A use case inside the route's transaction that audits its refusal (approvals' `approval.refused`) leaves
    the record to whoever rolls back: the route writes it once its transaction has rolled back, key or none."""
    recorded: list[bool] = []

    def use_case() -> BaseModel:
        tokens.create(store, "bob", ADMIN)  # written in the route's transaction, which the refusal rolls back
        refused = Refused("not now", rule="not-now")
        refused.after_rollback = lambda: recorded.append(store.in_transaction())
        raise refused

    def refuse(call: ActorMutation, task_id: str) -> Response:
        return call.answer(use_case)

    app = create_app(store, CONFIG)
    app.router.routes.insert(0, OneHopRoute("/api/v1/probe/{task_id}", refuse, methods=["POST"]))
    alice = login("alice")
    before = snapshot(store)
    with TestClient(app) as probe:
        answer = probe.post("/api/v1/probe/t-1", headers={**alice, **({"Idempotency-Key": key} if key else {})})
    assert answer.status_code == 409 and answer.json()["rule"] == "not-now", answer.text
    assert recorded == [True]  # once, in a write transaction of its own
    after = snapshot(store)
    # the kept refusal is the one row written besides the audit record (which `recorded` stands for here)
    assert len(after.pop("idempotency_keys")) == len(before.pop("idempotency_keys")) + (key is not None)
    assert after == before


def test_a_one_hop_route_refuses_an_endpoint_it_could_not_answer() -> None:
    def no_mutation(task_id: str) -> None: ...

    def query_parameter(call: ActorMutation, task_id: str, limit: int) -> None: ...

    for endpoint in (no_mutation, query_parameter):
        with pytest.raises(TypeError):
            OneHopRoute("/tasks/{task_id}/x", endpoint, methods=["POST"])
