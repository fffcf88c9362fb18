"""An agent's autonomy on the governance dashboard (issue #22 §5): the owners see, beside each agent's
scorecard, what it may decide at each step, since when and by whom, and change it by a form (CSRF, rationale
required); anyone else sees no form and a forged post changes nothing."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from ledgerflow.engine import autonomy
from ledgerflow.storage.store import Store
from ledgerflow.trust import audit
from tests.engine.helpers import changes_nothing, publish_text
from tests.web.conftest import csrf_of, sign_in

CREDIT = (Path(__file__).parents[1] / "reports" / "small-credit.yaml").read_text()
PAGE = "/governance/small-credit"


def _row(page: str) -> str:
    return page.split('id="agent-scorecard"', 1)[1].split("</tbody>", 1)[0]


def test_the_owner_widens_withdraws_and_restores_an_agents_autonomy_from_its_scorecard(
        store: Store, web: TestClient, tmp_path: Path) -> None:
    publish_text(store, tmp_path, CREDIT)
    sign_in(web, "sam")
    page = web.get(PAGE).text
    assert "up to <b>100</b>" in _row(page) and 'aria-label="Autonomy of intake-bot at triage"' in page
    form = {"csrf_token": csrf_of(page), "agent": "intake-bot", "step": "triage", "change": "limit",
            "limit": "5,000", "rationale": "agreed with finance in 19 of its last 20 triages"}
    answer = web.post(f"{PAGE}/autonomy", data=form, follow_redirects=False)
    assert answer.status_code == 303
    row = _row(web.get(answer.headers["location"]).text)
    assert "up to <b>5,000</b> (written: 100)" in row and "19 of its last 20" in row and "Sam Patel" in row
    (now,) = autonomy.current(store, "small-credit")
    assert (now["limit"], now["decided_by"]) == (5000, "sam")
    web.post(f"{PAGE}/autonomy", data={**form, "change": "withdraw", "limit": "", "rationale": "under review"})
    assert "<b>withdrawn</b>" in _row(web.get(PAGE).text)
    web.post(f"{PAGE}/autonomy", data={**form, "change": "restore", "limit": "", "rationale": "review closed"})
    assert "up to <b>100</b>" in _row(web.get(PAGE).text)
    assert audit.verify(store)["ok"]


def test_a_form_without_rationale_or_csrf_or_from_a_non_owner_changes_nothing(store: Store, web: TestClient,
                                                                             tmp_path: Path) -> None:
    publish_text(store, tmp_path, CREDIT)
    sign_in(web, "sam")
    token = csrf_of(web.get(PAGE).text)
    form = {"agent": "intake-bot", "step": "triage", "change": "limit", "limit": "5000", "rationale": "earned"}
    with changes_nothing(store):
        refused = web.post(f"{PAGE}/autonomy", data={**form, "csrf_token": token, "rationale": "  "})
        assert "rationale-required" in refused.text
        assert web.post(f"{PAGE}/autonomy", data={**form, "csrf_token": "forged"}).status_code == 404
        assert "bad-limit" in web.post(f"{PAGE}/autonomy", data={**form, "csrf_token": token, "limit": "lots"}).text
    sign_in(web, "bob")  # not an owner: no scorecard, no form, and a post of his own is refused
    page = web.get(PAGE).text
    assert 'id="agent-scorecard"' not in page and "/autonomy" not in page
    with changes_nothing(store):
        refused = web.post(f"{PAGE}/autonomy", data={**form, "csrf_token": csrf_of(page)})
        assert "governance-not-owner" in refused.text
