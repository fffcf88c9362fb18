"""Idempotency-Key: a retry returns the first answer and writes nothing; a different body is refused."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from ledgerflow.engine import idempotency
from ledgerflow.storage import schema
from ledgerflow.storage.store import Store
from tests.api.helpers import INPUT, PREPARED, Login, start, to_decision
from tests.engine.helpers import snapshot

RUN = {"playbook": "pricing-exception", "input": INPUT}


def test_a_retried_start_returns_the_first_answer_and_writes_nothing(client: TestClient, login: Login,
                                                                     store: Store) -> None:
    headers = {**login("bob"), "Idempotency-Key": "start-1"}
    first = client.post("/api/v1/runs", json=RUN, headers=headers)
    after_first = snapshot(store)
    retry = client.post("/api/v1/runs", json=RUN, headers=headers)
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json() and retry.headers["idempotent-replayed"] == "true"
    assert snapshot(store) == after_first
    with store.read() as tx:
        assert len(tx.runs()) == 1


def test_the_same_key_with_another_body_is_422_and_writes_nothing(client: TestClient, login: Login,
                                                                  store: Store) -> None:
    headers = {**login("bob"), "Idempotency-Key": "start-1"}
    client.post("/api/v1/runs", json=RUN, headers=headers)
    before = snapshot(store)
    other = client.post("/api/v1/runs", json={**RUN, "why": "a different request"}, headers=headers)
    assert other.status_code == 422 and other.json()["rule"] == "idempotency-key-reused"
    elsewhere = client.post("/api/v1/runs/r-x/cancel", json={"reason": "x"}, headers=headers)
    assert elsewhere.status_code == 422 and elsewhere.json()["path"] == "/api/v1/runs"
    assert snapshot(store) == before


def test_a_retried_task_command_writes_its_events_once(client: TestClient, login: Login, store: Store) -> None:
    prepare = start(client, login)["tasks"][0]
    headers = {**login(prepare["assignee"]), "Idempotency-Key": "complete-prepare"}
    first = client.post(f"/api/v1/tasks/{prepare['task']}/complete", json={"output": PREPARED}, headers=headers)
    after_first = snapshot(store)
    retry = client.post(f"/api/v1/tasks/{prepare['task']}/complete", json={"output": PREPARED}, headers=headers)
    assert first.status_code == retry.status_code == 200 and retry.json() == first.json()
    assert snapshot(store) == after_first  # without the key, the retry would be a 409 task-state


def test_a_refusal_is_replayed_too(client: TestClient, login: Login, store: Store) -> None:
    _, _, decision = to_decision(client, login)
    headers = {**login(decision["assignee"]), "Idempotency-Key": "decide-1"}
    body = {"outcome": "approve"}
    first = client.post(f"/api/v1/tasks/{decision['task']}/decide", json=body, headers=headers)
    before = snapshot(store)
    retry = client.post(f"/api/v1/tasks/{decision['task']}/decide", json=body, headers=headers)
    assert first.status_code == retry.status_code == 403
    assert retry.json() == first.json() and retry.headers["content-type"] == "application/problem+json"
    assert snapshot(store) == before


def test_keys_belong_to_one_actor(client: TestClient, login: Login, store: Store) -> None:
    for actor in ("bob", "alice"):
        answer = client.post("/api/v1/runs", json=RUN, headers={**login(actor), "Idempotency-Key": "same"})
        assert answer.status_code == 201 and "idempotent-replayed" not in answer.headers
    with store.read() as tx:
        assert len(tx.runs()) == 2


def test_a_malformed_key_is_400(client: TestClient, login: Login) -> None:
    answer = client.post("/api/v1/runs", json=RUN, headers={**login("bob"), "Idempotency-Key": "x" * 300})
    assert answer.status_code == 400 and answer.json()["rule"] == "bad-idempotency-key"


def test_a_command_that_dies_before_its_answer_is_kept_leaves_nothing_and_the_retry_runs(
        client: TestClient, login: Login, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    headers = {**login("bob"), "Idempotency-Key": "start-crash"}
    before = snapshot(store)

    def die(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the process dies after the command, before its answer is recorded")

    with monkeypatch.context() as patched:
        patched.setattr(idempotency, "record", die)
        crashed = client.post("/api/v1/runs", json=RUN, headers=headers)
        assert crashed.status_code == 500 and crashed.json()["rule"] == "internal-error"
    assert snapshot(store) == before  # the key, the run and its events went together
    with store.read() as tx:
        assert tx.runs() == []
        assert tx.conn.execute(select(schema.idempotency_keys)).all() == []
    retry = client.post("/api/v1/runs", json=RUN, headers=headers)
    assert retry.status_code == 201 and "idempotent-replayed" not in retry.headers
    with store.read() as tx:
        assert len(tx.runs()) == 1
