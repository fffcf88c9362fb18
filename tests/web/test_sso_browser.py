"""Sign-in through a real OpenID provider (the `oidc-provider` package from npm, run by Node on loopback),
driven in Chromium: a directory person lands in their inbox; a stranger is refused and signed nobody in."""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from ledgerflow.storage.store import Store
from ledgerflow.web.app import create_web_app
from tests.servers import serving
from tests.web.conftest import authenticate, npm_package

ROOT = Path(__file__).resolve().parents[2]
NPM_PREFIX = ROOT / "build" / "npm"  # git-ignored; installed once per machine by the fixture below
PROVIDER = Path(__file__).parent / "oidc" / "provider.mjs"
CHROMIUM = "/usr/bin/chromium"
CLIENT_ID, CLIENT_SECRET = "ledgerflow-web", "a-client-secret"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"),
                                reason="Debian's chromium is not installed (scripts/browser installs it)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def provider_script() -> Path:
    """The provider script beside `oidc-provider` from the npm registry (so that Node resolves the package),
    installed by the tests themselves on a clean machine."""
    npm_package(NPM_PREFIX, "oidc-provider@9", "oidc-provider")
    script = NPM_PREFIX / "provider.mjs"
    with open(NPM_PREFIX / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not script.exists() or script.read_bytes() != PROVIDER.read_bytes():
            shutil.copyfile(PROVIDER, script)
    return script


@pytest.fixture
def signing_in(store: Store, provider_script: Path) -> Iterator[str]:
    """The web UI configured for a real provider; yields the UI's URL."""
    port = _free_port()
    issuer = f"http://127.0.0.1:{port}"
    db = Store(store.url, settings=replace(store.settings, oidc_issuer=issuer, oidc_client_id=CLIENT_ID,
                                           oidc_client_secret=CLIENT_SECRET))
    with serving(create_web_app(db, authenticate, secret="sso-browser")) as url:
        node = subprocess.Popen(["node", str(provider_script), str(port), CLIENT_ID, CLIENT_SECRET,
                                 f"{url}/signin/sso/callback"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        try:
            assert node.stdout is not None
            if node.stdout.readline().strip() != "ready":
                node.kill()
                pytest.fail(f"the OpenID provider did not start: {node.communicate(timeout=10)[1]}")
            yield url
        finally:
            node.terminate()
            node.communicate(timeout=10)  # reaps it and closes its pipes
    db.close()


def _through_the_provider(browser: Browser, url: str, login: str) -> Page:
    page = browser.new_page()
    page.goto(f"{url}/signin")
    page.get_by_role("link", name="Sign in with your company account").click()
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("any password")
    page.locator("button[type=submit]").click()
    return page


@pytest.mark.parametrize("store", ["sqlite", "postgresql"], indirect=True)
def test_a_directory_person_signs_in_through_the_company_provider(store: Store, signing_in: str,
                                                                  browser: Browser, tmp_path: Path) -> None:
    page = _through_the_provider(browser, signing_in, "dave")  # DAVE@example.com at the provider
    page.wait_for_selector("#actor:text('dave')")
    page.screenshot(path=str(tmp_path / "signed-in.png"))
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{signing_in}/signin")
    page.close()


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_a_person_the_directory_does_not_know_is_refused(store: Store, signing_in: str, browser: Browser) -> None:
    page = _through_the_provider(browser, signing_in, "mallory")
    page.get_by_text("mallory@elsewhere.example is not a person in the ledgerflow directory").wait_for()
    assert page.goto(f"{signing_in}/") is not None and page.url == f"{signing_in}/signin"  # nobody signed in
    page.close()
