"""The web UI's pages: sign-in, inbox, the task with its context, deciding, refusals, 404s, governance."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ledgerflow.domain.figures import parse_period
from ledgerflow.engine import service
from ledgerflow.reporting.scorecard import scorecard
from ledgerflow.storage.store import Store
from tests.engine.helpers import GOOD_OUTPUT, act, only_open, snapshot, start
from tests.web.conftest import csrf_of, sign_in
from tests.web.helpers import publish_rich


def _decision(store: Store, by: str = "bob") -> object:
    run = start(store, by=by)
    return act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)["opened"][0]


def test_the_inbox_counts_what_the_actor_waits_on_in_the_runs_they_started(store: Store, web: TestClient) -> None:
    _decision(store, by="bob")
    start(store, by="alice")  # someone else's run: not bob's to wait on
    sign_in(web, "bob")
    assert 'id="you-wait-on">1<' in web.get("/").text


def test_signing_in_needs_a_valid_token_and_a_form_token(web: TestClient) -> None:
    assert web.get("/").url.path == "/signin"
    token = csrf_of(web.get("/signin").text)
    assert web.post("/signin", data={"token": "nope", "csrf_token": token}).status_code == 401
    assert web.post("/signin", data={"token": "tok-dave", "csrf_token": "forged"}).status_code == 400
    sign_in(web, "dave")
    cookie = next(c for c in web.cookies.jar if c.name == "ledgerflow_session")
    assert cookie.has_nonstandard_attr("HttpOnly") or cookie.has_nonstandard_attr("httponly")


def test_the_inbox_lists_the_actors_open_tasks_with_the_context_one_click_away(store: Store, web: TestClient) -> None:
    decision = _decision(store)
    sign_in(web, "dave")
    inbox = web.get("/").text
    assert decision.id in inbox and 'id="waiting-on-you">1<' in inbox  # type: ignore[attr-defined]
    page = web.get(f"/tasks/{decision.id}").text  # type: ignore[attr-defined]
    for text in ("Approve, reject or send back", "Competitor offered 20%", "deal-desk", "finance", "Record decision"):
        assert text in page
    assert "<title>approve · ledgerflow</title>" in page and "Reassign" not in page  # dave owns nothing here


def test_deciding_from_the_task_page_records_the_decision_with_the_web_channel(store: Store, web: TestClient) -> None:
    decision = _decision(store)
    sign_in(web, "dave")
    page = web.get(f"/tasks/{decision.id}")  # type: ignore[attr-defined]
    response = web.post(f"/tasks/{decision.id}/decide", data={  # type: ignore[attr-defined]
        "csrf_token": csrf_of(page.text), "outcome": "approve", "rationale": "Margin holds"})
    assert response.status_code == 200 and "decide recorded" in response.text
    with store.read() as tx:
        decided = next(e for e in tx.events() if e["type"] == "task.decided")
    assert (decided["actor"], decided["channel"]) == ("dave", "web")


def test_a_refusal_is_a_plain_message_and_writes_nothing(store: Store, web: TestClient) -> None:
    decision = _decision(store)
    sign_in(web, "dave")
    page = web.get(f"/tasks/{decision.id}")  # type: ignore[attr-defined]
    before = snapshot(store)
    response = web.post(f"/tasks/{decision.id}/decide", data={  # type: ignore[attr-defined]
        "csrf_token": csrf_of(page.text), "outcome": "approve", "rationale": "   "})
    assert "rationale-required" in response.text and "Traceback" not in response.text
    assert snapshot(store) == before


def test_others_get_404_for_tasks_and_runs_they_take_no_part_in(store: Store, web: TestClient) -> None:
    decision = _decision(store)
    sign_in(web, "lena")
    assert web.get(f"/tasks/{decision.id}").status_code == 404  # type: ignore[attr-defined]
    assert web.get(f"/runs/{decision.run}").status_code == 404  # type: ignore[attr-defined]
    assert web.get("/tasks/t-nothing").status_code == 404


def test_a_form_without_its_csrf_token_is_refused(store: Store, web: TestClient) -> None:
    decision = _decision(store)
    sign_in(web, "dave")
    before = snapshot(store)
    response = web.post(f"/tasks/{decision.id}/decide", data={  # type: ignore[attr-defined]
        "csrf_token": "stolen", "outcome": "approve", "rationale": "x"})
    assert response.status_code == 404 and snapshot(store) == before


def test_the_run_page_shows_the_timeline_with_authority_and_verification(store: Store, web: TestClient) -> None:
    decision = _decision(store)
    sign_in(web, "bob")
    page = web.get(f"/runs/{decision.run}").text  # type: ignore[attr-defined]
    assert "history verifies" in page and "authority_row" in page and "bob started the run" in page


def test_the_playbook_page_draws_the_steps_and_lists_rights(web: TestClient) -> None:
    sign_in(web, "sam")
    page = web.get("/playbooks/pricing-exception").text
    assert "<svg" in page and "completeness" in page and "vp-sales" in page and "No findings." in page


def test_the_dashboard_figures_match_the_scorecard_and_owners_can_decide(store: Store, web: TestClient) -> None:
    decision = _decision(store)
    act(store, "decide", decision, outcome="reject", rationale="no", to=None)  # type: ignore[arg-type]
    card = scorecard(store, "pricing-exception", parse_period("2026-W10"))
    sign_in(web, "maria")
    page = web.get("/governance/pricing-exception").text
    assert f'id="throughput">{card["throughput"]}<' in page and 'id="exception-rate">100%<' in page
    response = web.post("/governance/pricing-exception/decide", data={
        "csrf_token": csrf_of(page), "decision": "pause", "rationale": "Too many rejections"})
    assert 'id="state">pause<' in response.text
    service.advance_clock(store, "1h", service.Caller())


def test_a_long_inbox_comes_in_pages_nearest_deadline_first(store: Store, web: TestClient,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from ledgerflow.web import app as web_app

    monkeypatch.setattr(web_app, "INBOX_PAGE", 2)
    for index in range(6):  # prepare tasks alternate between alice and bob; each due a day after it opens
        start(store, by="maria", customer=f"c{index}")
        service.advance_clock(store, "1h", service.Caller())
    service.advance_clock(store, "20h", service.Caller())  # the first ones are overdue now
    with store.read() as tx:
        alices = [t.id for t in sorted(tx.tasks(assignee="alice", status="open"), key=lambda t: t.due_at or "")]
    sign_in(web, "alice")
    first = web.get("/").text
    assert 'id="waiting-on-you">3<' in first and "overdue" in first
    assert first.index(alices[0]) < first.index(alices[1]) and alices[2] not in first
    following = first.split('id="next-page" href="')[1].split('"')[0]
    second = web.get(following).text
    assert alices[2] in second and alices[0] not in second and 'id="next-page"' not in second
    stale = web.get("/?after=t-nobody", follow_redirects=False)
    assert stale.status_code == 303 and stale.headers["location"] == "/"


def test_what_the_actor_waits_on_shows_the_longest_waits_and_counts_them_all(store: Store, web: TestClient,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from ledgerflow.web import app as web_app

    monkeypatch.setattr(web_app, "INBOX_PAGE", 2)
    runs = []
    for index in range(3):  # maria's runs wait on the account executives' prepare tasks
        runs.append(start(store, by="maria", customer=f"c{index}").id)
        service.advance_clock(store, "1h", service.Caller())
    sign_in(web, "maria")
    inbox = web.get("/").text
    assert 'id="you-wait-on">3<' in inbox and "(the 2 waiting longest)" in inbox
    assert runs[0] in inbox and runs[1] in inbox and runs[2] not in inbox


def test_the_inbox_says_what_each_task_is_about_and_when_it_is_due(store: Store, web: TestClient,
                                                                  tmp_path: Path) -> None:
    publish_rich(store, tmp_path)
    run = start(store, customer="Stark Industries", deal_value=400000)
    task = only_open(store, run.id)
    service.advance_clock(store, "26h", service.Caller())
    sign_in(web, str(task.assignee))
    inbox = web.get("/").text
    assert f'<a href="/tasks/{task.id}">Stark Industries: 400000 at 18%</a>' in inbox
    assert '<time datetime="2026-03-03T08:00:00Z" title="2026-03-03 08:00:00 UTC" class="late">2 h overdue</time>' \
        in inbox
    rows = web.get("/inbox/rows").text  # the fragment a live update swaps in
    assert "Stark Industries: 400000 at 18%" in rows and "<html" not in rows
