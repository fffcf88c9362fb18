"""The API on a real server: an unexpected error answers 500 and the keep-alive connection goes on; a
`ledgerflow serve` process keeps its memory flat through an alias bomb and 10 MB bodies."""

from __future__ import annotations

import http.client
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ledgerflow.api.app import create_app
from ledgerflow.engine import api_queries, service, tokens
from ledgerflow.storage.store import Store
from tests.conftest import ADMIN, DIRECTORY, PRICING, make_store
from tests.domain.test_limits import BOMB
from tests.servers import serve_process, serving


def test_an_unexpected_error_answers_500_and_the_same_connection_serves_the_next_request(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    headers = {"Authorization": f"Bearer {tokens.create(store, 'bob', ADMIN)['token']}"}

    def broken(*_: object) -> object:
        raise RuntimeError("a bug")

    with serving(create_app(store), ready_path="/readyz") as base:
        connection = http.client.HTTPConnection(base.removeprefix("http://"), timeout=30)
        with monkeypatch.context() as patched:
            patched.setattr(api_queries, "playbooks", broken)
            connection.request("GET", "/api/v1/playbooks", headers=headers)
            failed = connection.getresponse()
            problem = json.loads(failed.read())
        first_socket = connection.sock
        connection.request("GET", "/api/v1/playbooks", headers=headers)
        answer = connection.getresponse()
        listed = json.loads(answer.read())
        second_socket = connection.sock
        connection.close()
    assert (failed.status, failed.getheader("content-type"), problem["rule"]) == (
        500, "application/problem+json", "internal-error")
    assert "a bug" not in json.dumps(problem)  # nothing of the internals reaches the caller
    assert first_socket is not None and second_socket is first_socket  # the server kept the connection open
    assert answer.status == 200 and [p["playbook"] for p in listed] == ["pricing-exception"]


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], int]]:
    """`ledgerflow serve` in a process of its own: (base URL, bearer header, pid)."""
    db = make_store(tmp_path)
    service.load_directory_file(db, str(DIRECTORY), ADMIN)
    service.publish(db, str(PRICING), ADMIN)
    token = tokens.create(db, "bob", ADMIN)["token"]
    db.close()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    with serve_process(db.url, "--no-worker", env=env) as (base, process):
        yield base, {"Authorization": f"Bearer {token}"}, process.pid


def test_the_server_memory_stays_flat_through_an_alias_bomb_and_10_mb_bodies(
        served: tuple[str, dict[str, str], int]) -> None:
    base, headers, pid = served
    yaml = {**headers, "Content-Type": "application/yaml"}
    with httpx.Client(base_url=base, timeout=60) as client:
        assert client.post("/api/v1/playbooks/lint", content=PRICING.read_bytes(), headers=yaml).status_code == 200
        before = _rss_kib(pid)
        for _ in range(5):
            bomb = client.post("/api/v1/playbooks/lint", content=BOMB, headers=yaml)
            assert (bomb.status_code, bomb.json()["rule"]) == (400, "yaml-aliases")
        declared = client.post("/api/v1/runs", content=b"{" + b" " * (10 << 20) + b"}",
                               headers={**headers, "Content-Type": "application/json"})
        assert (declared.status_code, declared.json()["rule"]) == (413, "input-too-large")

    def chunks() -> Iterator[bytes]:
        for _ in range(160):
            yield b" " * (64 << 10)  # 10 MB with no Content-Length, counted as it arrives

    with httpx.Client(base_url=base, timeout=60) as client:
        try:
            streamed = client.post("/api/v1/playbooks/lint", content=chunks(), headers=yaml)
            assert streamed.status_code == 413
        except httpx.TransportError:
            pass  # the server answered 413 and closed while the client was still sending
        assert client.get("/api/v1/playbooks", headers=headers).status_code == 200
    after = _rss_kib(pid)
    assert after - before < 30 * 1024, (before, after)
    assert after < 300 * 1024, after
