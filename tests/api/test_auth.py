"""Bearer authentication: every route answers 401 without a valid token; only a token's hash is kept."""

from __future__ import annotations

import hashlib
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from ledgerflow.domain.errors import NotFound
from ledgerflow.engine import service, tokens
from ledgerflow.storage import schema
from ledgerflow.storage.store import Store
from tests.api.helpers import Login, bearer
from tests.conftest import ADMIN
from tests.engine.helpers import snapshot


def test_every_api_route_answers_401_without_a_token(client: TestClient, store: Store) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    routes = [(method.upper(), re.sub(r"\{[^}]+\}", "x", path)) for path, operations in paths.items()
              if path.startswith("/api/v1") for method in operations]
    assert len(routes) >= 20
    before = snapshot(store)
    for method, path in routes:
        answer = client.request(method, path)
        assert answer.status_code == 401, (method, path, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["www-authenticate"].startswith("Bearer")
        assert answer.json()["rule"] == "token-missing"
    assert snapshot(store) == before


def test_a_malformed_unknown_or_other_scheme_token_is_401(client: TestClient, login: Login) -> None:
    for headers, rule in (({"Authorization": "Bearer nope"}, "token-invalid"),
                          (bearer("lf_" + "a" * 43), "token-invalid"),
                          ({"Authorization": "Basic Ym9iOmJvYg=="}, "token-missing")):
        answer = client.get("/api/v1/runs", headers=headers)
        assert answer.status_code == 401 and answer.json()["rule"] == rule
    assert client.get("/api/v1/runs", headers=login("bob")).status_code == 200


def test_a_revoked_token_is_401_at_once(client: TestClient, store: Store) -> None:
    made = tokens.create(store, "bob", ADMIN)
    assert client.get("/api/v1/tasks", headers=bearer(made["token"])).status_code == 200
    tokens.revoke(store, made["id"], ADMIN)
    answer = client.get("/api/v1/tasks", headers=bearer(made["token"]))
    assert answer.status_code == 401 and answer.json()["rule"] == "token-revoked"


def test_a_token_expires_on_the_database_clock(client: TestClient, store: Store) -> None:
    made = tokens.create(store, "bob", ADMIN, expires="1h")
    assert made["expires_at"] == "2026-03-02T09:00:00Z"
    assert client.get("/api/v1/tasks", headers=bearer(made["token"])).status_code == 200
    service.advance_clock(store, "2h", ADMIN)
    answer = client.get("/api/v1/tasks", headers=bearer(made["token"]))
    assert answer.status_code == 401 and answer.json()["rule"] == "token-expired"


def test_only_the_hash_of_a_token_is_stored_and_no_event_holds_it(store: Store) -> None:
    made = tokens.create(store, "bob", ADMIN)
    with store.read() as tx:
        rows = [dict(row._mapping) for row in tx.conn.execute(select(schema.tokens))]
        events = [e for e in tx.events() if e["type"] == "token.created"]
    assert len(rows) == 1 and rows[0]["hash"] == hashlib.sha256(made["token"].encode()).hexdigest()
    assert made["token"] not in str(rows) and made["token"].startswith("lf_")
    assert len(events) == 1 and events[0]["data"]["token_id"] == made["id"]
    assert made["token"] not in str(events) and rows[0]["hash"] not in str(events)


def test_a_token_for_an_actor_outside_the_directory_is_refused(store: Store) -> None:
    with pytest.raises(NotFound) as refused:
        tokens.create(store, "nobody", ADMIN)
    assert refused.value.rule == "unknown-actor"
