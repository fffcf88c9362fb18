"""The task page (issue #21 §1, §5): what it is about, times as people read them, data under its labels, a
decision form that chooses nothing for the person, what a decided task was decided by, and the completion
form generated from the step's `produces`."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from ledgerflow.storage.store import Store
from tests.engine.helpers import GOOD_OUTPUT, act, decide, only_open, snapshot, start
from tests.web.conftest import csrf_of, sign_in
from tests.web.helpers import publish_rich


def _decision(store: Store) -> object:
    run = start(store, customer="Stark Industries", deal_value=40000)
    return act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)["opened"][0]


def test_an_open_decision_says_what_it_is_about_with_times_left_and_names(store: Store, web: TestClient,
                                                                          tmp_path: Path) -> None:
    publish_rich(store, tmp_path)
    decision = _decision(store)
    sign_in(web, "dave")
    page = web.get(f"/tasks/{decision.id}").text  # type: ignore[attr-defined]
    assert "Stark Industries: 40000 at 18%" in page  # the summary template, as the heading
    assert re.search(r'<time datetime="2026-03-03T08:00:00Z" title="2026-03-03 08:00:00 UTC">in 1 d</time>', page) \
        or re.search(r'title="2026-03-03 08:00:00 UTC">in 2[34] h</time>', page)
    assert "Dave Okafor" in page and ("Alice Ng" in page or "Bob Reyes" in page)  # assignee, preparer by name
    assert "<dt>Deal value</dt><dd>40,000</dd>" in page and "<dt>Discount (%)</dt><dd>18</dd>" in page
    assert "<dt>Deal sheet link</dt>" in page and "<summary>Raw JSON</summary>" in page


def test_the_decision_form_chooses_no_outcome_and_needs_a_rationale(store: Store, web: TestClient) -> None:
    decision = _decision(store)
    sign_in(web, "dave")
    page = web.get(f"/tasks/{decision.id}").text  # type: ignore[attr-defined]
    form = page.split('id="decide-form"')[1].split("</form>")[0]
    assert form.count('type="radio"') == 3 and "checked" not in form
    assert 'name="rationale" rows="3" required' in form
    before = snapshot(store)
    refused = web.post(f"/tasks/{decision.id}/decide", data={  # type: ignore[attr-defined]
        "csrf_token": csrf_of(page), "outcome": "", "rationale": "Margin holds"})
    assert refused.status_code in (400, 409) and 'role="alert"' in refused.text and snapshot(store) == before


def test_a_decided_task_shows_its_outcome_who_when_and_under_what_authority(store: Store, web: TestClient) -> None:
    decision = _decision(store)
    sign_in(web, "dave")
    assert " h</time>" in web.get(f"/tasks/{decision.id}").text  # type: ignore[attr-defined]
    decide(store, decision, "approve", rationale="Margin holds")  # type: ignore[arg-type]
    page = web.get(f"/tasks/{decision.id}").text  # type: ignore[attr-defined]
    outcome = page.split('id="outcome"')[1].split("</section>")[0]
    assert 'id="decided-outcome">approve<' in outcome and "Dave Okafor" in outcome and "just now" in outcome
    assert "authority_row (0)" in outcome and "Margin holds" in outcome
    assert "in 1 d" not in page and " h</time>" not in page.split('id="clarity"')[1].split("</section>")[0]
    assert 'id="decide-form"' not in page


def test_the_completion_form_is_generated_from_produces_and_records_typed_output(store: Store, web: TestClient,
                                                                                tmp_path: Path) -> None:
    publish_rich(store, tmp_path)
    run = start(store)
    task = only_open(store, run.id)
    sign_in(web, str(task.assignee))
    page = web.get(f"/tasks/{task.id}").text
    assert '<label for="f-deal_sheet_url">Deal sheet link (required)</label>' in page
    assert 'name="f.deal_sheet_url" type="text" value="" required minlength="1"' in page
    before = snapshot(store)
    refused = web.post(f"/tasks/{task.id}/complete", data={"csrf_token": csrf_of(page), "f.deal_sheet_url": "",
                                                          "f.justification": "Competitor offered 20% on renewal"})
    assert refused.status_code == 400 and "&#39;deal_sheet_url&#39; is a required property" in refused.text
    assert 'id="f-deal_sheet_url-error"' in refused.text and "Competitor offered 20% on renewal" in refused.text
    assert snapshot(store) == before
    done = web.post(f"/tasks/{task.id}/complete", data={
        "csrf_token": csrf_of(page), "f.deal_sheet_url": "https://docs/1",
        "f.justification": "Competitor offered 20% on renewal"})
    assert "complete recorded" in done.text
    with store.read() as tx:
        assert tx.load_run(run.id).task(task.id).output == {  # type: ignore[union-attr]
            "deal_sheet_url": "https://docs/1", "justification": "Competitor offered 20% on renewal"}
