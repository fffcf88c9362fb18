"""The web UI under test: a TestClient for pages, and a real uvicorn server for Chromium."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from ledgerflow.storage.store import Store
from ledgerflow.web.app import Identity, create_web_app
from tests.coordination.conftest import smtp  # noqa: F401  (a real SMTP server for the worker inside serve)
from tests.servers import serving

TOKENS = {f"tok-{name}": Identity(actor=name) for name in
          ("alice", "bob", "carol", "dave", "erin", "maria", "sam", "lena")}


def authenticate(token: str) -> Identity | None:
    return TOKENS.get(token)


@pytest.fixture
def web(store: Store) -> Iterator[TestClient]:
    with TestClient(create_web_app(store, authenticate, secret="test-secret"), follow_redirects=True) as client:
        yield client


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def sign_in(client: TestClient, who: str) -> None:
    token = csrf_of(client.get("/signin").text)
    response = client.post("/signin", data={"token": f"tok-{who}", "csrf_token": token})
    assert response.status_code == 200 and f'id="actor">{who}<' in response.text


@pytest.fixture
def server(store: Store) -> Iterator[str]:
    """A real HTTP server on a free loopback port, stopped after the test."""
    with serving(create_web_app(store, authenticate, secret="browser-secret")) as url:
        yield url
