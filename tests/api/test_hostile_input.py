"""Hostile input over HTTP (SPEC §10): a 4xx problem document with the limit's rule, and nothing written."""

from __future__ import annotations

import json
import threading
import time

import anyio
import pytest
from fastapi.testclient import TestClient

from ledgerflow.api.app import ApiConfig, create_app
from ledgerflow.api.expensive import Busy, Expensive, TooSlow
from ledgerflow.storage.store import Store
from tests.aio import run_async
from tests.api.helpers import INPUT, PREPARED, Login, start
from tests.engine.helpers import snapshot

JSON = {"Content-Type": "application/json"}
YAML = {"Content-Type": "application/yaml"}
BOMB = ("a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
        "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
        "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n")
INJECTIONS = ["' OR '1'='1", "1; DROP TABLE events; --", "\" OR 1=1 --", "%' UNION SELECT * FROM tokens --"]
TRAVERSALS = ["..%2F..%2Fetc%2Fpasswd", "%2e%2e%2f%2e%2e%2f", "....//....//", "%00", "..\\..\\windows"]


def run_body(input_text: str, why: str = '"because"') -> str:
    return f'{{"playbook": "pricing-exception", "input": {input_text}, "why": {why}}}'


def catalogue() -> list[tuple[str, str, bytes, dict[str, str], str | None]]:
    """(method, path, body, headers, the rule expected or None for any 4xx)."""
    good = json.dumps(INPUT)
    cases: list[tuple[str, str, bytes, dict[str, str], str | None]] = []
    for number in ("NaN", "Infinity", "-Infinity", "1e400", "-1e400", "9007199254740993", "1" * 400):
        cases.append(("POST", "/api/v1/runs", run_body(good.replace("12000", number)).encode(), JSON,
                      "not-canonical"))
    for text in ('"\\ud800"', '"\\udfff tail"', '"\\ud83d"'):
        cases.append(("POST", "/api/v1/runs", run_body(good.replace('"Acme"', text)).encode(), JSON,
                      "not-canonical"))
        cases.append(("POST", "/api/v1/runs", run_body(good, why=text).encode(), JSON, "not-canonical"))
    cases.append(("POST", "/api/v1/runs", run_body('{"\\ud800": 1}').encode(), JSON, "not-canonical"))
    cases.append(("POST", "/api/v1/runs", run_body(good.replace('"Acme"', '"nul\\u0000"')).encode(), JSON,
                  "not-canonical"))  # PostgreSQL stores no U+0000, in text or in jsonb
    cases.append(("GET", "/api/v1/tasks?assignee=%00", b"", {}, "not-canonical"))
    for depth in (65, 1_000, 10_000, 100_000):
        cases.append(("POST", "/api/v1/runs", run_body("[" * depth + "]" * depth).encode(), JSON,
                      "input-too-deep" if depth < 40_000 else "input-too-large"))
    cases.append(("POST", "/api/v1/runs", run_body('"' + "x" * (10 << 20) + '"').encode(), JSON,
                  "input-too-large"))
    cases.append(("POST", "/api/v1/runs", b"\xff\xfe\x00garbage", JSON, "malformed-json"))
    cases.append(("POST", "/api/v1/playbooks/lint", BOMB.encode(), YAML, "yaml-aliases"))
    cases.append(("POST", "/api/v1/playbooks", BOMB.encode(), YAML, "yaml-aliases"))
    cases.append(("POST", "/api/v1/playbooks/lint", b"a: &a [1, *a]\n", YAML, "yaml-aliases"))
    cases.append(("POST", "/api/v1/playbooks/lint", ("[" * 100_000).encode(), YAML, "input-too-large"))
    cases.append(("POST", "/api/v1/playbooks/lint", ("[" * 5_000).encode(), YAML, "input-too-deep"))
    cases.append(("POST", "/api/v1/playbooks", bytes(range(256)) * 16, YAML, "bad-encoding"))
    cases.append(("POST", "/api/v1/playbooks/lint", b"id: x\nn: .nan\n", YAML, "not-canonical"))
    cases.append(("POST", "/api/v1/governance/pricing-exception/decisions",
                  json.dumps({"decision": "stabilize", "rationale": "r",
                              "follow_ups": [{"text": "t", "owner": "dave", "due": "99999999999w"}]}).encode(),
                  JSON, None))
    for text in INJECTIONS:
        cases.append(("POST", "/api/v1/runs", json.dumps({"playbook": text, "input": INPUT}).encode(), JSON,
                      "unknown-playbook"))
        cases.append(("GET", f"/api/v1/runs/{text}", b"", {}, None))
    for text in TRAVERSALS:
        cases.append(("GET", f"/api/v1/playbooks/{text}", b"", {}, None))
        cases.append(("POST", f"/api/v1/tasks/{text}/complete", b'{"output": {}}', JSON, None))
    return cases


def test_the_hostile_catalogue_answers_4xx_with_its_rule_and_writes_nothing(
        client: TestClient, login: Login, store: Store) -> None:
    headers = login("dave")
    before = snapshot(store)
    for method, path, body, extra, rule in catalogue():
        answer = client.request(method, path, content=body, headers={**headers, **extra})
        shown = f"{method} {path[:60]} {body[:60]!r}"
        assert 400 <= answer.status_code < 500, (shown, answer.status_code, answer.text[:200])
        assert answer.headers["content-type"] == "application/problem+json", shown
        if rule is not None:
            assert answer.json()["rule"] == rule, (shown, answer.json())
    for text in INJECTIONS:  # a filter is a bound parameter: it matches nothing, and leaks nothing
        assert client.get("/api/v1/tasks", params={"assignee": text}, headers=headers).json() == []
        assert client.get("/api/v1/runs", params={"playbook": text}, headers=headers).json()["items"] == []
    assert snapshot(store) == before


def test_a_task_output_with_nan_or_a_surrogate_is_refused_and_the_task_stays_open(
        client: TestClient, login: Login, store: Store) -> None:
    prepare = start(client, login)["tasks"][0]
    path, who = f"/api/v1/tasks/{prepare['task']}/complete", login(prepare["assignee"])
    before = snapshot(store)
    for bad in ('{"output": {"deal_sheet_url": NaN}}', '{"output": {"justification": "\\udc00"}}'):
        answer = client.post(path, content=bad, headers={**who, **JSON})
        assert (answer.status_code, answer.json()["rule"]) == (400, "not-canonical")
    assert snapshot(store) == before
    assert client.post(path, json={"output": PREPARED}, headers=who).status_code == 200


def test_an_expensive_request_past_its_time_limit_answers_and_keeps_its_slot_until_it_ends() -> None:
    release, finished = threading.Event(), threading.Event()
    guard = Expensive(slots=1, seconds=0.05)

    def stuck() -> str:
        release.wait(timeout=30)
        finished.set()
        return "done"

    async def scenario() -> None:
        with pytest.raises(TooSlow):
            await guard.run(stuck)
        with pytest.raises(Busy):  # the abandoned thread still holds the only slot
            await guard.run(lambda: "next")
        release.set()
        assert finished.wait(timeout=30)
        deadline = time.monotonic() + 30
        while True:
            try:
                assert await guard.run(lambda: "next") == "next"
                return
            except (Busy, TooSlow):  # the thread gives the slot back just after it finishes; on a loaded
                # machine even `next` may take past the 0.05 s limit to be scheduled: it then frees the slot too
                assert time.monotonic() < deadline
                await anyio.sleep(0.01)

    run_async(scenario)


def test_lint_answers_503_server_busy_when_no_slot_is_free(store: Store, login: Login) -> None:
    with TestClient(create_app(store, ApiConfig(expensive_slots=0))) as client:
        answer = client.post("/api/v1/playbooks/lint", content="id: x\n", headers={**login("bob"), **YAML})
    assert (answer.status_code, answer.json()["rule"]) == (503, "server-busy")
