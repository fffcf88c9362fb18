"""The accountability pages of the web UI (SPEC §12): the escalation map on the playbook page, the waiting
board, the outcome charted beside the execution figures."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

from fastapi.testclient import TestClient
from pypdf import PdfReader

from ledgerflow.domain.figures import parse_period
from ledgerflow.engine import governance, outcomes, service
from ledgerflow.storage.store import Store
from tests.engine.helpers import GOOD_OUTPUT, act, only_open, publish_text, start
from tests.reports.test_map import HOLED
from tests.reports.test_outcome import MEASURED
from tests.reports.test_review_task import weekly_review
from tests.web.conftest import sign_in


def test_the_playbook_page_shows_the_escalation_map_and_its_holes(store: Store, web: TestClient,
                                                                 tmp_path: Path) -> None:
    sign_in(web, "lena")
    page = web.get("/playbooks/pricing-exception").text
    assert 'id="escalation-map"' in page and "No holes found" in page and "after 1d → maria" in page
    publish_text(store, tmp_path, HOLED)
    page = web.get("/playbooks/pricing-exception").text
    assert "(escalation-below-authority)" in page and "after 1d → dave (pulled in)" in page
    assert "(single-point-of-failure)" in page and "(no-sla)" in page


def test_the_waiting_board_lists_the_runs_the_person_sees_longest_first(store: Store, web: TestClient) -> None:
    older = start(store)
    service.advance_clock(store, "2h", service.Caller())
    newer = start(store)
    decision = act(store, "complete", only_open(store, newer.id), output=GOOD_OUTPUT)["opened"][0]
    sign_in(web, "sam")
    page = web.get("/waiting").text
    assert page.index(older.id) < page.index(newer.id)
    sign_in(web, str(decision.assignee))
    page = web.get("/waiting").text
    assert newer.id in page and older.id not in page
    sign_in(web, "lena")
    assert "No open run waits on anyone." in web.get("/waiting").text


def test_the_governance_dashboard_charts_the_outcome_beside_the_figures(store: Store, web: TestClient,
                                                                       tmp_path: Path) -> None:
    publish_text(store, tmp_path, MEASURED)
    outcomes.record(store, "pricing-exception", parse_period("2026-W10"), 23, actor="maria", channel="cli")
    sign_in(web, "maria")
    page = web.get("/governance/pricing-exception").text
    assert "Outcome: gross margin (%), target 22" in page and "Throughput (ended runs)" in page


def test_the_review_task_page_names_its_week_and_links_to_its_pack(store: Store, web: TestClient) -> None:
    task_id = weekly_review(store)
    sign_in(web, "sam")
    page = web.get(f"/tasks/{task_id}").text
    assert "Review pricing-exception for 2026-W10 (weekly cadence)" in page
    assert f'href="/tasks/{task_id}/review.pdf"' in page
    pdf = web.get(f"/tasks/{task_id}/review.pdf")
    assert pdf.headers["content-type"] == "application/pdf"
    text = "\n".join(p.extract_text() for p in PdfReader(BytesIO(pdf.content)).pages)
    assert "Weekly review: Pricing exception approval, 2026-W10" in text and "Friction per step" in text
    follow_up = governance.decide(store, "pricing-exception", actor="sam", channel="cli", decision="continue",
                                  rationale="ok", follow_ups=[("Check the ERP mapping", "carol", "1w")])
    assert web.get(f"/tasks/{follow_up['follow_ups'][0]}/review.pdf").status_code == 404  # no pack: no review
    sign_in(web, "bob")  # sees neither the review nor its pack
    hidden = web.get(f"/tasks/{task_id}/review.pdf")
    assert hidden.status_code == 404 and hidden.headers["content-type"].startswith("text/html")
