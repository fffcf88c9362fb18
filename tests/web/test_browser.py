"""End to end in real headless Chromium: sign in as different people, decide, see refusals and the dashboard.

Each test saves a screenshot in its temporary folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from ledgerflow.domain.figures import parse_period
from ledgerflow.scorecard import scorecard
from ledgerflow.storage.store import Store
from tests.engine.helpers import GOOD_OUTPUT, act, only_open, start

CHROMIUM = "/usr/bin/chromium"
# CI installs Chromium (scripts/browser) and must run these; elsewhere they skip without it.
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"),
                                reason="Debian's chromium is not installed (scripts/browser installs it)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield browser
        browser.close()


def _sign_in(browser: Browser, server: str, who: str) -> Page:
    page = browser.new_page()
    page.goto(f"{server}/signin")
    page.get_by_label("Access token").fill(f"tok-{who}")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector(f"#actor:text('{who}')")
    return page


def _decision(store: Store, by: str = "bob") -> object:
    run = start(store, by=by)
    return act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)["opened"][0]


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_an_approver_finds_the_task_in_the_inbox_and_decides_it(store: Store, server: str, browser: Browser,
                                                                tmp_path: Path) -> None:
    decision = _decision(store)
    page = _sign_in(browser, server, "dave")
    page.get_by_role("link", name="approve").click()
    page.get_by_text("Competitor offered 20%").wait_for()
    page.get_by_label("approve").check()
    page.get_by_label("Rationale (required)").fill("Margin stays above the floor")
    page.get_by_role("button", name="Record decision").click()
    page.get_by_role("status").wait_for()
    page.screenshot(path=str(tmp_path / "decided.png"), full_page=True)
    assert "decide recorded" in page.get_by_role("status").inner_text()
    with store.read() as tx:
        assert tx.load_run(decision.run).task(decision.id).outcome == "approve"  # type: ignore[attr-defined,union-attr]
    page.close()


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_separation_of_duties_refusal_is_shown_to_the_workflow_owner(store: Store, server: str, browser: Browser,
                                                                     tmp_path: Path) -> None:
    decision = _decision(store, by="dave")  # dave started the run: he may never decide it
    page = _sign_in(browser, server, "sam")
    page.goto(f"{server}/tasks/{decision.id}")  # type: ignore[attr-defined]
    page.get_by_label("New assignee").fill("dave")
    page.get_by_label("Reason").fill("dave knows the customer")
    page.get_by_role("button", name="Reassign").click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    page.screenshot(path=str(tmp_path / "refused.png"), full_page=True)
    assert "separation-of-duties" in alert.inner_text() and "Traceback" not in page.content()
    page.close()


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_the_dashboard_shows_the_cli_figures(store: Store, server: str, browser: Browser, tmp_path: Path) -> None:
    decision = _decision(store)
    act(store, "decide", decision, outcome="reject", rationale="Margin below floor", to=None)  # type: ignore[arg-type]
    card = scorecard(store, "pricing-exception", parse_period("2026-W10"))
    page = _sign_in(browser, server, "maria")
    page.goto(f"{server}/governance/pricing-exception")
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    assert page.locator("#throughput").inner_text() == str(card["throughput"])
    assert page.locator("#exception-rate").inner_text() == f"{card['exception_rate']:.0%}"
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.screenshot(path=str(tmp_path / "dashboard-narrow.png"), full_page=True)
    assert page.locator("#throughput").is_visible()
    page.close()


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_someone_else_cannot_open_the_task(store: Store, server: str, browser: Browser, tmp_path: Path) -> None:
    decision = _decision(store)
    page = _sign_in(browser, server, "lena")
    response = page.goto(f"{server}/tasks/{decision.id}")  # type: ignore[attr-defined]
    page.screenshot(path=str(tmp_path / "missing.png"))
    assert response is not None and response.status == 404
    page.close()
