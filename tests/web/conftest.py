"""The web UI under test: a TestClient for pages; for Chromium, one real server and one browser per test
session (Chromium is slow to start on this machine), with axe-core installed from npm on first use and the
screenshots kept in one folder the run prints at its end."""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledgerflow.storage.store import Store
from ledgerflow.web.app import Identity, LiveConfig, create_web_app
from tests.conftest import ARTIFACTS
from tests.coordination.conftest import smtp  # noqa: F401  (a real SMTP server for the worker inside serve)
from tests.servers import serving

TOKENS = {f"tok-{name}": Identity(actor=name) for name in
          ("alice", "bob", "carol", "dave", "erin", "maria", "sam", "lena")}
REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
AXE_VERSION = "4"


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


class _Swap:
    """An ASGI app that forwards to whichever app the current test set: one server for the whole session."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            message = await receive()
            while message["type"] != "lifespan.shutdown":
                await send({"type": message["type"] + ".complete"})
                message = await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        await self.app(scope, receive, send)


@pytest.fixture(scope="session")
def _session_server() -> Iterator[tuple[str, _Swap]]:
    swap = _Swap()
    with serving(swap) as url:
        yield url, swap


@pytest.fixture
def server(store: Store, _session_server: tuple[str, _Swap]) -> Iterator[str]:
    """The session's real HTTP server, serving this test's database (live updates polled every 0.1 s)."""
    url, swap = _session_server
    app = create_web_app(store, authenticate, secret="browser-secret",
                         live_config=LiveConfig(poll_seconds=0.1, max_seconds=30))
    swap.app = app
    yield url
    assert app.state.web.close(), "a live stream outlived its test"  # before the store closes under it
    swap.app = None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield chromium
        chromium.close()


def npm_package(folder: Path, spec: str, name: str) -> Path:
    """A package from the npm registry, installed once into `folder` (the tests install what they need on a
    clean machine); a lock keeps parallel workers from installing it at the same time."""
    package = folder / "node_modules" / name
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (package / "package.json").exists():
            subprocess.run(["npm", "install", "--prefix", str(folder), "--no-audit", "--no-fund", spec], check=True,
                           capture_output=True, timeout=300)
    return package


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core from the npm registry, installed once into the repository's .cache."""
    folder = Path(os.environ.get("LEDGERFLOW_AXE_DIR") or REPO / ".cache" / "axe")
    return (npm_package(folder, f"axe-core@{AXE_VERSION}", "axe-core") / "axe.min.js").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
