"""Arbitrary JSON at the boundary (SPEC §10): floats of every kind, deep nesting, any Unicode (surrogates
and NUL included), through `run start` and `task complete` over HTTP and the CLI. Each request either
succeeds and the audit verifies, or is refused (4xx, exit 2) with nothing written; never a 500 or exit 4."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ledgerflow.cli.main import main
from ledgerflow.storage.store import Store
from ledgerflow.trust import audit
from tests.api.helpers import INPUT, PREPARED, Login
from tests.engine.helpers import snapshot

BOUNDARY = settings(max_examples=25, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=12)
numbers = st.floats() | st.integers(-(2**70), 2**70) | st.sampled_from([0, -0.0, 1e308, 5e-324, 2**53, 2**53 - 1])
values = st.recursive(st.none() | st.booleans() | numbers | ANY_TEXT,
                      lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ANY_TEXT, inner, max_size=3),
                      max_leaves=12)


@st.composite
def documents(draw: st.DrawFn, base: dict[str, Any]) -> bytes:
    """A JSON text: the base object with generated members (some replacing required ones), wrapped in
    generated nesting, written with or without ASCII escapes; raw surrogates make bytes that are not UTF-8."""
    members = st.dictionaries(st.sampled_from([*base, "notes", "extra", "tags", "more"]), values, max_size=3)
    data: Any = {**base, **draw(members)}
    text = json.dumps(data, ensure_ascii=draw(st.booleans()))
    depth = draw(st.sampled_from([0, 0, 0, 0, 0, 1, 60, 2_000]))
    text = '{"nested": ' * depth + text + "}" * depth if depth else text
    return text.encode("utf-8", "surrogatepass")


def verified(store: Store) -> bool:
    return bool(audit.verify(store, processes=1)["ok"])


@BOUNDARY
@given(payload=documents(INPUT), why=ANY_TEXT)
def test_any_run_start_body_is_started_and_verified_or_refused_with_nothing_written(
        client: TestClient, login: Login, store: Store, payload: bytes, why: str) -> None:
    body = (b'{"playbook": "pricing-exception", "why": ' + json.dumps(why).encode() + b', "input": ' + payload
            + b"}")
    headers = {**login("bob"), "Content-Type": "application/json"}
    before = snapshot(store)
    answer = client.post("/api/v1/runs", content=body, headers=headers)
    assert answer.status_code in (201, 400, 404, 409, 413, 422), answer.text[:300]
    event(f"{answer.status_code} {answer.json().get('rule', '')}")
    if answer.status_code == 201:
        assert verified(store)
    else:
        assert answer.headers["content-type"] == "application/problem+json"
        assert snapshot(store) == before


@BOUNDARY
@given(payload=documents(PREPARED))
def test_any_task_output_is_completed_and_verified_or_refused_with_nothing_written(
        client: TestClient, login: Login, store: Store, payload: bytes) -> None:
    started = client.post("/api/v1/runs", json={"playbook": "pricing-exception", "input": INPUT},
                          headers=login("bob")).json()
    prepare = started["tasks"][0]
    headers = {**login(prepare["assignee"]), "Content-Type": "application/json"}
    before = snapshot(store)
    answer = client.post(f"/api/v1/tasks/{prepare['task']}/complete", content=b'{"output": ' + payload + b"}",
                         headers=headers)
    assert answer.status_code in (200, 400, 409, 413, 422), answer.text[:300]
    event(f"{answer.status_code} {answer.json().get('rule', '')}")
    if answer.status_code == 200:
        assert verified(store)
    else:
        assert snapshot(store) == before


@settings(BOUNDARY, max_examples=15)
@given(payload=documents(INPUT))
def test_any_cli_input_is_started_and_verified_or_exits_2_with_nothing_written(
        store: Store, payload: bytes) -> None:
    before = snapshot(store)
    text = payload.decode("utf-8", "surrogateescape")  # as Python reads bytes from argv
    code = main(["run", "start", "pricing-exception", "--as", "bob", "--input", text, "--db", store.url])
    assert code in (0, 2)
    event(f"exit {code}")
    if code == 0:
        assert verified(store)
    else:
        assert snapshot(store) == before
