"""Runs in the web UI (issue #21 §3, §4): the list with search, filters and pages; the run page; starting a
run from the form generated from the input schema, a bad field answered with the API's message."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ledgerflow.api.app import create_app
from ledgerflow.engine import service, tokens
from ledgerflow.storage.store import Store
from tests.api.helpers import bearer
from tests.conftest import ADMIN
from tests.engine.helpers import GOOD_OUTPUT, act, only_open, snapshot, start
from tests.web.conftest import csrf_of, sign_in
from tests.web.helpers import publish_rich


def _listed(page: str) -> list[str]:
    return [part.split('"')[0] for part in page.split('data-run="')[1:]]


def test_the_runs_list_searches_summaries_ids_and_people_and_filters(store: Store, web: TestClient,
                                                                     tmp_path: Path) -> None:
    publish_rich(store, tmp_path)
    stark = start(store, by="bob", customer="Stark Industries", deal_value=400000)
    service.advance_clock(store, "1h", service.Caller())
    acme = start(store, by="alice", customer="Acme")
    act(store, "complete", only_open(store, acme.id), output=GOOD_OUTPUT)
    sign_in(web, "sam")
    page = web.get("/runs").text
    assert _listed(page) == [acme.id, stark.id] and "Stark Industries: 400000 at 18%" in page
    assert _listed(web.get("/runs", params={"q": "Stark Industries, 400,000"}).text) == [stark.id]
    assert _listed(web.get("/runs", params={"q": stark.id}).text) == [stark.id]
    assert acme.id in _listed(web.get("/runs", params={"q": "Alice Ng"}).text)  # she started it
    assert _listed(web.get("/runs", params={"q": "Lena"}).text) == []  # on neither run
    assert _listed(web.get("/runs", params={"started_by": "bob"}).text) == [stark.id]
    assert _listed(web.get("/runs", params={"status": "running", "period": "2026-W10"}).text) == [acme.id, stark.id]
    assert _listed(web.get("/runs", params={"period": "2026-W11"}).text) == []
    assert _listed(web.get("/runs", params={"q": "100%_"}).text) == []  # LIKE wildcards are literal text
    bad = web.get("/runs", params={"period": "last year"})
    assert bad.status_code == 400 and "bad-period" in bad.text


def test_the_runs_list_comes_in_pages_newest_first(store: Store, web: TestClient,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from ledgerflow.web import runs as web_runs

    monkeypatch.setattr(web_runs, "PAGE", 2)
    ids = []
    for index in range(3):
        ids.append(start(store, by="sam", customer=f"c{index}").id)
        service.advance_clock(store, "1m", service.Caller())
    sign_in(web, "sam")
    first = web.get("/runs").text
    assert _listed(first) == [ids[2], ids[1]]
    following = first.split('id="next-page" href="')[1].split('"')[0].replace("&amp;", "&")
    assert _listed(web.get(following).text) == [ids[0]]


def test_a_person_who_may_not_see_a_run_finds_it_nowhere(store: Store, web: TestClient) -> None:
    run = start(store, customer="Secret Corp")
    sign_in(web, "lena")
    assert _listed(web.get("/runs").text) == [] and _listed(web.get("/runs", params={"q": run.id}).text) == []
    assert web.get(f"/runs/{run.id}").status_code == 404
    sign_in(web, "sam")  # the workflow owner sees it
    assert _listed(web.get("/runs", params={"q": "Secret"}).text) == [run.id]


def test_the_run_page_shows_tasks_timeline_and_labelled_data(store: Store, web: TestClient, tmp_path: Path) -> None:
    publish_rich(store, tmp_path)
    run = start(store, customer="Stark Industries", deal_value=400000)
    sign_in(web, "bob")
    page = web.get(f"/runs/{run.id}").text
    assert "<h1>Stark Industries: 400000 at 18%" in page and "<dt>Deal value</dt><dd>400,000</dd>" in page
    assert "Bob Reyes" in page and '<a href="/tasks/' in page and "history verifies" in page and "cli" in page


def test_the_start_form_is_generated_from_the_input_schema(store: Store, web: TestClient, tmp_path: Path) -> None:
    publish_rich(store, tmp_path)
    sign_in(web, "bob")
    page = web.get("/runs/new", params={"playbook": "pricing-exception"}).text
    assert '<label for="f-customer">Customer (required)</label>' in page
    assert 'aria-describedby="f-customer-help"' in page and "The account as it is named in the CRM" in page
    assert 'name="f.deal_value" type="number" value="" required min="0" step="any"' in page
    assert 'name="f.discount_pct" type="number" value="" required min="0" max="100" step="any"' in page
    assert "<option>APAC</option>" in page and 'name="f.contact" type="email"' in page
    assert web.get("/runs/new", params={"playbook": "nope"}).status_code == 404
    assert "Choose…" in web.get("/runs/new").text


def test_a_bad_field_gets_the_apis_message_and_starts_nothing(store: Store, web: TestClient,
                                                              tmp_path: Path) -> None:
    publish_rich(store, tmp_path)
    sign_in(web, "bob")
    page = web.get("/runs/new", params={"playbook": "pricing-exception"}).text
    form = {"csrf_token": csrf_of(page), "playbook": "pricing-exception", "f.customer": "Stark Industries",
            "f.deal_value": "lots", "f.discount_pct": "18", "f.region": "", "f.contact": ""}
    before = snapshot(store)
    refused = web.post("/runs/new", data=form)
    assert refused.status_code == 400 and snapshot(store) == before
    assert 'id="f-deal_value-error">&#39;lots&#39; is not of type &#39;number&#39;<' in refused.text
    assert 'value="Stark Industries"' in refused.text  # what was typed stays
    with TestClient(create_app(store)) as api:  # the API answers the same document with the same words
        answer = api.post("/api/v1/runs", headers=bearer(tokens.create(store, "bob", ADMIN)["token"]), json={
            "playbook": "pricing-exception",
            "input": {"customer": "Stark Industries", "deal_value": "lots", "discount_pct": 18}})
    assert answer.status_code == 422 and answer.json()["detail"] in refused.text.replace("&#39;", "'")
    started = web.post("/runs/new", data={**form, "f.deal_value": "400,000", "why": "Renewal at risk"})
    assert "run started" in started.text and "Stark Industries: 400000 at 18%" in started.text
    assert "Renewal at risk" in started.text

