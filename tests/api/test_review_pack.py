"""The review pack over HTTP (issue #20): a period's pack for the owners, the pack a review task looks at for
whoever sees the task, as JSON, Markdown or PDF; and `report friction`."""

from __future__ import annotations

from io import BytesIO

from fastapi.testclient import TestClient
from pypdf import PdfReader

from ledgerflow.domain.figures import parse_period
from ledgerflow.domain.review import review_markdown
from ledgerflow.engine import governance
from ledgerflow.reporting.review import review_pack
from ledgerflow.storage.store import Store
from tests.api.helpers import Login
from tests.engine.helpers import changes_nothing
from tests.reports.test_friction import scripted_week
from tests.reports.test_review_task import weekly_review

W10 = parse_period("2026-W10")


def test_the_api_serves_the_pack_of_a_review_task_to_whoever_sees_the_task(client: TestClient, login: Login,
                                                                           store: Store) -> None:
    task_id = weekly_review(store)
    sam = login("sam")
    pack = client.get(f"/api/v1/tasks/{task_id}/review", headers=sam)
    assert pack.status_code == 200 and pack.json()["period"] == "2026-W10"
    assert pack.json()["friction"]["runs"]["handoffs"] == 7
    markdown = client.get(f"/api/v1/tasks/{task_id}/review?format=md", headers=login("maria"))
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert markdown.text == review_markdown(review_pack(store, "pricing-exception", W10))
    pdf = client.get(f"/api/v1/tasks/{task_id}/review?format=pdf", headers=sam)
    assert pdf.headers["content-type"] == "application/pdf"
    assert "review-pricing-exception-2026-W10.pdf" in pdf.headers["content-disposition"]
    text = "\n".join(page.extract_text() for page in PdfReader(BytesIO(pdf.content)).pages)
    assert "Weekly review: Pricing exception approval, 2026-W10" in text and "Friction per step" in text
    bob = login("bob")
    with changes_nothing(store):
        hidden = client.get(f"/api/v1/tasks/{task_id}/review", headers=bob)
        unknown = client.get("/api/v1/tasks/t_nope/review", headers=sam)
        bad = client.get(f"/api/v1/tasks/{task_id}/review?format=docx", headers=sam)
    assert (hidden.status_code, unknown.status_code, bad.status_code) == (404, 404, 422)


def test_the_api_refuses_the_pack_of_a_task_that_is_no_review(client: TestClient, login: Login,
                                                              store: Store) -> None:
    decided = governance.decide(store, "pricing-exception", actor="sam", channel="cli", decision="continue",
                                rationale="ok", follow_ups=[("Check the ERP mapping", "carol", "1w")])
    carol = login("carol")
    with changes_nothing(store):
        refused = client.get(f"/api/v1/tasks/{decided['follow_ups'][0]}/review", headers=carol)
    assert refused.status_code == 400 and refused.json()["rule"] == "not-a-review"


def test_the_api_serves_a_periods_pack_and_friction_to_the_owners(client: TestClient, login: Login,
                                                                  store: Store) -> None:
    scripted_week(store)
    sam = login("sam")
    pack = client.get("/api/v1/playbooks/pricing-exception/review?period=2026-W10&format=md", headers=sam)
    assert pack.status_code == 200
    assert pack.text == review_markdown(review_pack(store, "pricing-exception", W10))
    friction = client.get("/api/v1/reports/friction/pricing-exception?period=2026-W10", headers=sam)
    assert friction.status_code == 200 and friction.json()["runs"]["ping_pong_runs"] == 1
    bob = login("bob")
    with changes_nothing(store):
        answers = [client.get("/api/v1/playbooks/pricing-exception/review", headers=bob),
                   client.get("/api/v1/reports/friction/pricing-exception", headers=bob),
                   client.get("/api/v1/playbooks/pricing-exception/review?period=W10", headers=sam),
                   client.get("/api/v1/reports/friction/nope", headers=sam),
                   client.get("/api/v1/playbooks/nope/review", headers=sam)]
    assert [a.status_code for a in answers] == [403, 403, 400, 404, 404]
    assert answers[0].json()["rule"] == "not-playbook-owner"
