"""E-mail decision links (SPEC §13): sent through a real SMTP server, followed from the received message."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from email.message import Message
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from ledgerflow.engine import service
from ledgerflow.engine.worker import Worker
from ledgerflow.storage import schema
from ledgerflow.storage.store import Store
from ledgerflow.web.app import create_web_app
from tests.coordination.conftest import Smtp
from tests.engine.helpers import GOOD_OUTPUT, act, changes_nothing, only_open, run_state, start
from tests.web.conftest import authenticate, csrf_of, sign_in

BASE = "http://testserver"


@dataclass
class Case:
    db: Store
    web: TestClient
    run: str
    task: str
    approver: str
    mail: Message

    def part(self, kind: str) -> str:
        (found,) = [p for p in self.mail.walk() if p.get_content_type() == f"text/{kind}"]
        payload = found.get_payload(decode=True)
        assert isinstance(payload, bytes)
        return payload.decode(found.get_content_charset() or "utf-8")

    def link(self, outcome: str) -> str:
        label = {"approve": "Approve", "reject": "Reject", "send_back": "Send back"}[outcome]
        match = re.search(rf"^  {label}: (\S+)", self.part("plain"), re.M)
        assert match, self.part("plain")
        return match.group(1)

    def post(self, url: str, rationale: str = "Margin stays above the floor", **extra: Any) -> Any:
        page = self.web.get(url)
        assert page.status_code == 200, page.text
        return self.web.post(url, data={"csrf_token": csrf_of(page.text), "rationale": rationale, **extra})


@pytest.fixture
def case(configured: Callable[..., Store], smtp: Smtp) -> Iterator[Case]:
    """A decision e-mailed to its approver, with the web UI that serves the links."""
    db = configured(smtp_url=smtp.url, base_url=BASE, action_link_ttl=timedelta(hours=1))
    run = start(db)
    act(db, "complete", only_open(db, run.id), output=GOOD_OUTPUT)
    Worker(db).tick()
    decision = only_open(db, run.id)
    assert decision.type == "decision" and decision.assignee is not None
    (mail,) = [m for m in smtp.inbox.messages if "/act/" in m.as_string()]
    with TestClient(create_web_app(db, authenticate, secret="test-secret")) as web:
        yield Case(db=db, web=web, run=run.id, task=decision.id, approver=decision.assignee, mail=mail)


def test_a_decision_email_has_plain_and_html_parts_with_the_case_data_and_a_link_per_outcome(case: Case) -> None:
    assert case.mail["To"] == f"{case.approver}@example.com"
    for kind in ("plain", "html"):
        text = case.part(kind)
        assert "Acme" in text and "deal_sheet_url" in text and "Competitor offered 20%" in text
        assert len(set(re.findall(r"/act/(lfa_[\w-]+)", text))) == 3
    assert [label for label in ("Approve", "Reject", "Send back") if f">{label}</a>" in case.part("html")] == [
        "Approve", "Reject", "Send back"]
    with case.db.read() as tx:
        rows = tx.conn.execute(schema.action_links.select()).all()
    assert sorted(r.outcome for r in rows) == ["approve", "reject", "send_back"]
    assert all(r.addressee == case.approver and r.task == case.task and r.used_at is None for r in rows)
    assert not any(r.hash in case.part("plain") for r in rows)  # the database keeps hashes only


def test_following_the_link_from_the_mail_confirms_first_then_records_the_decision_with_channel_email(
        case: Case) -> None:
    url = case.link("approve")
    with changes_nothing(case.db):  # GET never acts: mail scanners prefetch links
        page = case.web.get(url)
    assert page.status_code == 200 and 'name="rationale"' in page.text
    assert "This link is for <b>" in page.text and f"({case.approver})" in page.text
    done = case.web.post(url, data={"csrf_token": csrf_of(page.text), "rationale": "Margin stays above the floor"})
    assert done.status_code == 200 and "Recorded: Approve" in done.text
    task = run_state(case.db, case.run).task(case.task)
    assert task is not None and (task.status, task.outcome, task.rationale) == (
        "decided", "approve", "Margin stays above the floor")
    with case.db.read() as tx:
        (decided,) = [e for e in tx.events(run=case.run) if e["type"] == "task.decided"]
    assert (decided["actor"], decided["channel"]) == (case.approver, "email")


def test_a_link_acts_once(case: Case) -> None:
    url = case.link("reject")
    page = case.web.get(url)
    assert case.web.post(url, data={"csrf_token": csrf_of(page.text), "rationale": "Too deep"}).status_code == 200
    with changes_nothing(case.db):
        again = case.web.post(url, data={"csrf_token": csrf_of(page.text), "rationale": "Again"})
    assert again.status_code == 410 and "link-used" in again.text


def test_the_other_links_of_a_decided_task_say_it_is_decided_and_change_nothing(case: Case) -> None:
    assert case.post(case.link("approve")).status_code == 200
    with changes_nothing(case.db):
        page = case.web.get(case.link("reject"))
    assert page.status_code == 409 and "decided already" in page.text and f'href="/tasks/{case.task}"' in page.text


def test_an_expired_link_changes_nothing_and_says_when_it_expired(case: Case) -> None:
    service.advance_clock(case.db, "61m", service.Caller())
    url = case.link("approve")
    with changes_nothing(case.db):
        assert case.web.get(url).status_code == 410
        page = case.web.get(url)
    assert "link-expired" in page.text and "expired at" in page.text


def test_an_altered_link_is_unknown_and_changes_nothing(case: Case) -> None:
    url = case.link("approve")
    case.web.cookies.set("ledgerflow_act_csrf", "x")
    altered = url[:-2] + ("AA" if not url.endswith("AA") else "BB")
    for forged in (altered, f"{BASE}/act/lf_x", f"{BASE}/act/" + "a" * 5000):
        with changes_nothing(case.db):
            page = case.web.get(forged)
            posted = case.web.post(forged, data={"csrf_token": "x", "rationale": "x"})
        assert page.status_code == 404 and "link-unknown" in page.text
        assert posted.status_code == 404


def test_a_link_after_the_task_was_reassigned_says_to_whom_and_changes_nothing(case: Case) -> None:
    other = "erin" if case.approver == "dave" else "dave"
    service.task_command(case.db, "reassign", case.task, service.Caller(actor="sam"), to=other,
                         reason="Away this week")
    with changes_nothing(case.db):
        page = case.web.get(case.link("approve"))
    assert page.status_code == 409 and f"handed to {other}" in page.text


def test_a_link_after_the_run_ended_changes_nothing(case: Case) -> None:
    service.cancel_run(case.db, case.run, service.Caller(actor="bob"), "Customer withdrew")
    url = case.link("approve")
    page = case.web.get(url)
    assert page.status_code == 409 and "run ended" in page.text
    case.web.cookies.set("ledgerflow_act_csrf", "x")
    with changes_nothing(case.db):
        assert case.web.post(url, data={"csrf_token": "x", "rationale": "x"}).status_code == 409


def test_a_link_whose_data_changed_since_sending_changes_nothing(case: Case) -> None:
    # the data under decision cannot move under an open task through the engine today; a stored link bound to
    # other data stands in for it, so the POST's check is exercised against a hash it does not match
    with case.db.engine.begin() as conn:
        conn.execute(update(schema.action_links).values(data_hash="0" * 64))
    with changes_nothing(case.db):
        page = case.web.get(case.link("approve"))
    assert page.status_code == 409 and "data under decision changed" in page.text


def test_someone_signed_in_as_another_person_cannot_use_a_forwarded_link(case: Case) -> None:
    url = case.link("approve")
    page = case.web.get(url)
    other = "erin" if case.approver == "dave" else "dave"
    sign_in(case.web, other)
    with changes_nothing(case.db):
        refused = case.web.post(url, data={"csrf_token": csrf_of(page.text), "rationale": "Not mine"})
    assert refused.status_code == 403 and "link-not-yours" in refused.text
    assert f"sent to {case.approver}" in refused.text


def test_a_post_without_the_confirmation_pages_cookie_is_refused_as_cross_site(case: Case) -> None:
    url = case.link("approve")
    token = csrf_of(case.web.get(url).text)
    case.web.cookies.clear()
    with changes_nothing(case.db):
        refused = case.web.post(url, data={"csrf_token": token, "rationale": "Forged"})
    assert refused.status_code == 400 and "[csrf]" in refused.text


def test_the_decision_rules_apply_at_the_post_and_a_refused_decision_leaves_the_link_usable(case: Case) -> None:
    url = case.link("approve")
    with changes_nothing(case.db):
        refused = case.post(url, rationale="  ")
    assert refused.status_code == 403 and "rationale-required" in refused.text
    assert f'href="/tasks/{case.task}"' in refused.text
    with changes_nothing(case.db):
        too_long = case.post(url, rationale="x" * 2_000_000)
    assert too_long.status_code == 400
    assert case.post(url).status_code == 200


def test_a_task_email_without_a_decision_carries_no_links(configured: Callable[..., Store], smtp: Smtp) -> None:
    db = configured(smtp_url=smtp.url, base_url=BASE)
    start(db)
    Worker(db).tick()
    (mail,) = smtp.inbox.messages
    assert not mail.is_multipart() and "/act/" not in mail.get_payload()
    with db.read() as tx:
        assert tx.conn.execute(schema.action_links.select()).first() is None


def test_the_data_under_decision_is_escaped_in_the_html_part_and_on_the_page(
        configured: Callable[..., Store], smtp: Smtp) -> None:
    db = configured(smtp_url=smtp.url, base_url=BASE)
    run = start(db, customer="<script>alert(1)</script>")
    act(db, "complete", only_open(db, run.id), output=GOOD_OUTPUT)
    Worker(db).tick()
    (mail,) = [m for m in smtp.inbox.messages if "/act/" in m.as_string()]
    (html,) = [p for p in mail.walk() if p.get_content_type() == "text/html"]
    body = html.get_payload(decode=True).decode()
    assert "<script>" not in body and "&lt;script&gt;" in body
    url = re.search(r'href="(http://testserver/act/[^"]+)"', body)
    assert url
    with TestClient(create_web_app(db, authenticate, secret="test-secret")) as web:
        page = web.get(url.group(1))
    assert page.status_code == 200 and "<script>" not in page.text and "&lt;script&gt;" in page.text
