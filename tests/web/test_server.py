"""`ledgerflow serve` in one process: the API, the web UI at / with real tokens, and the worker beside them."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from ledgerflow.engine import tokens
from ledgerflow.ops.config import Settings
from ledgerflow.server import create_server_app
from ledgerflow.storage.store import Store
from tests.conftest import ADMIN
from tests.coordination.conftest import Smtp
from tests.engine.helpers import start
from tests.web.conftest import csrf_of


def test_one_app_serves_the_api_the_web_ui_and_runs_the_worker(store: Store, smtp: Smtp) -> None:
    db = Store(store.url, settings=Settings(smtp_url=smtp.url))
    token = tokens.create(db, "alice", ADMIN)["token"]
    with TestClient(create_server_app(db, session_secret="s")) as client:
        assert client.get("/api/v1/tasks").status_code == 401
        assert client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {token}"}).json() == []
        run = start(db)
        signin = client.get("/signin")
        inbox = client.post("/signin", data={"token": token, "csrf_token": csrf_of(signin.text)})
        assert 'id="actor">alice<' in inbox.text and 'id="waiting-on-you">1<' in inbox.text
        forged = client.post("/signin", data={"token": "lf_forged", "csrf_token": csrf_of(signin.text)})
        assert forged.status_code in (400, 401)
        deadline = time.monotonic() + 20
        while not smtp.inbox.messages and time.monotonic() < deadline:
            time.sleep(0.05)
    assert smtp.inbox.messages and smtp.inbox.messages[0]["To"] == "alice@example.com"
    assert run.id
    db.close()


def test_a_guest_link_opens_the_one_task_page_and_nothing_else(store: Store) -> None:
    from ledgerflow.engine import service
    from tests.engine.helpers import only_open

    run = start(store)
    task = only_open(store, run.id)
    link = tokens.invite_guest(store, task.id, "buyer@customer.example", service.Caller(actor=str(task.assignee)))
    with TestClient(create_server_app(store, worker=False, session_secret="s")) as client:
        page = client.get(link["link"].replace("http://127.0.0.1:8000", ""))
        assert page.status_code == 200 and page.url.path == f"/tasks/{task.id}" and "(guest)" in page.text
        assert "Acme" not in page.text  # the case data stays hidden from a guest
        assert client.get("/").status_code == 404 and client.get(f"/runs/{run.id}").status_code == 404


def test_the_server_is_ready_once_its_worker_has_made_a_pass_and_a_scrape_says_when(store: Store) -> None:
    with TestClient(create_server_app(store, session_secret="s")) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        deadline = time.monotonic() + 20
        ready = client.get("/readyz")
        while ready.status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
            ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"]["worker"] == "ok"
        scraped = {sample.name: sample.value for family in text_string_to_metric_families(client.get("/metrics").text)
                   for sample in family.samples}
    assert scraped["ledgerflow_worker_last_tick_timestamp_seconds"] > 0 and scraped["ledgerflow_database_up"] == 1


def test_an_api_path_no_route_serves_answers_problem_json_not_the_web_page(store: Store) -> None:
    token = tokens.create(store, "alice", ADMIN)["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    with TestClient(create_server_app(store, worker=False, session_secret="s")) as client:
        for method, path in (("GET", "/api/v1/nope"), ("POST", "/api/v1/runs/r-1/nope"), ("GET", "/api/v1/")):
            answer = client.request(method, path, headers=bearer)
            assert answer.status_code == 404, (method, path)
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert answer.json()["rule"] == "unknown-route"
        wrong = client.request("DELETE", "/api/v1/tasks", headers=bearer)
        assert wrong.status_code == 405 and wrong.json()["rule"] == "method-not-allowed"
        assert "GET" in wrong.headers["allow"]
        assert client.get("/api/v1/tasks", headers=bearer).status_code == 200  # the real routes still answer
        assert client.get("/nope").status_code == 404 and "problem" not in client.get("/nope").headers[
            "content-type"]  # the web UI keeps its own pages
