"""Operating the server (SPEC §7, issue #24): `/metrics` read back with Prometheus' own text parser, `/healthz`,
`/readyz`, and the JSON log lines of requests and commands, with request ids and never a token."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from ruamel.yaml import YAML
from sqlalchemy import text

from ledgerflow.api.app import create_app
from ledgerflow.api.operations import readiness
from ledgerflow.engine import service, tokens
from ledgerflow.ops import instruments
from ledgerflow.ops.metrics import serve_metrics
from ledgerflow.storage.store import Store
from ledgerflow.trust import checkpoints, evidence
from tests.api.conftest import CONFIG
from tests.api.helpers import INPUT, Login, bearer, start
from tests.conftest import ADMIN
from tests.engine.helpers import changes_nothing

ID_LIKE = re.compile(r"^[rt]-[a-z0-9]{6,}$")


def scrape(text_: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, by name and labels, as Prometheus' parser reads it."""
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text_) for sample in family.samples}


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_a_scrape_sees_the_commands_the_open_work_and_no_ids_in_labels(client: TestClient, login: Login,
                                                                        store: Store) -> None:
    before = scrape(client.get("/metrics").text)
    run = start(client, login)
    refused = client.post("/api/v1/runs", headers=login("bob"),
                          json={"playbook": "pricing-exception", "input": {**INPUT, "discount_pct": 101}})
    assert refused.status_code == 422 and run["tasks"][0]["step"] == "prepare"
    service.advance_clock(store, "2d", ADMIN)  # the prepare task is overdue now
    answer = client.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    after = scrape(answer.text)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("ledgerflow_commands_total", command="run.start", outcome="ok", rule="") == 1
    assert moved("ledgerflow_commands_total", command="run.start", outcome="refused", rule="schema-violation") == 1
    assert moved("ledgerflow_command_duration_seconds_count", command="run.start") == 2
    assert moved("ledgerflow_http_requests_total", method="POST", route="/api/v1/runs", status="201") == 1
    assert value(after, "ledgerflow_open_tasks", playbook="pricing-exception", step="prepare") == 1
    assert value(after, "ledgerflow_overdue_tasks", playbook="pricing-exception", step="prepare") == 1
    assert value(after, "ledgerflow_blocked_tasks", playbook="pricing-exception", step="prepare") == 0
    assert value(after, "ledgerflow_database_up") == 1
    assert ("ledgerflow_timers_due", ()) in after and ("ledgerflow_timer_lag_seconds", ()) in after
    for (_, labels), _ in after.items():
        assert not any(ID_LIKE.match(label) for _, label in labels), labels


def test_the_outbox_timers_and_checkpoint_age_are_read_from_the_database(client: TestClient, store: Store) -> None:
    with store.write() as tx:
        at = "2026-03-02T08:00:00.000000Z"
        tx.add_outbox([{"channel": "email", "recipient": "a@example.com", "subject": "s", "body": "b", "payload": {},
                        "status": status, "attempts": 0, "next_attempt_at": at, "created_at": at}
                       for status in ("pending", "pending", "failed")])
        tx.conn.execute(text("INSERT INTO timers (due_at, kind, data) VALUES "
                             "('2026-03-02T07:00:00.000000Z', 'nudge', '{}')"))
    seed, _ = evidence.new_key()
    checkpoints.publish(store, evidence.load_key(seed), actor="admin", channel="cli")
    service.advance_clock(store, "1h", ADMIN)
    samples = scrape(client.get("/metrics").text)
    assert value(samples, "ledgerflow_outbox_backlog_messages", channel="email") >= 2
    assert value(samples, "ledgerflow_outbox_failed_messages", channel="email") == 1
    assert value(samples, "ledgerflow_checkpoint_age_seconds") == 3600


def test_group_commit_sizes_are_observed_on_sqlite(client: TestClient, login: Login, store: Store) -> None:
    before = value(scrape(client.get("/metrics").text), "ledgerflow_group_commit_size_commands_count")
    start(client, login)
    after = value(scrape(client.get("/metrics").text), "ledgerflow_group_commit_size_commands_count")
    assert after > before if store.engine.dialect.name == "sqlite" else after == before


# ------------------------------------------------------------------------------------------- probes


def test_healthz_answers_while_the_process_lives(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_checks_the_database_the_schema_and_the_worker(store: Store) -> None:
    with TestClient(create_app(store, CONFIG, heartbeat=lambda: 3.0)) as client:
        ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "schema": "ok", "worker": "ok"}}
    for beat, said in ((lambda: None, "has not finished a pass yet"), (lambda: 125.0, "last pass 125 s ago")):
        with TestClient(create_app(store, CONFIG, heartbeat=beat)) as client:
            stale = client.get("/readyz")
        assert stale.status_code == 503 and stale.headers["content-type"] == "application/problem+json"
        assert stale.json()["rule"] == "not-ready" and stale.json()["checks"]["worker"] == said


def test_readyz_is_not_ready_on_an_old_schema_or_an_unreachable_database(store: Store) -> None:
    with store.write() as tx:
        tx.conn.execute(text("UPDATE alembic_version SET version_num = '0013'"))
    checks = readiness(store, None)
    assert checks["database"] == "ok" and "run `ledgerflow migrate`" in checks["schema"]
    gone = Store("postgresql://127.0.0.1:9/nowhere", check=False)
    try:
        checks = readiness(gone, None)
    finally:
        gone.close()
    assert checks["database"] != "ok" and checks["schema"].startswith("unknown")


# --------------------------------------------------------------------------------------------- logs


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """The JSON log of what the test does, put back as it was afterwards."""
    stream = io.StringIO()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    instruments.configure_logging(json=True, stream=stream)
    try:
        yield stream
    finally:
        structlog.reset_defaults()
        root.handlers, root.level = handlers, level
        logging.getLogger("uvicorn.access").disabled = False


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_request_and_command_is_one_json_line_with_its_request_id(client: TestClient, login: Login,
                                                                       log_lines: io.StringIO) -> None:
    bob = login("bob")
    started = client.post("/api/v1/runs", headers={**bob, "X-Request-ID": "req-1"},
                          json={"playbook": "pricing-exception", "input": INPUT})
    assert started.headers["x-request-id"] == "req-1"
    refused = client.post("/api/v1/runs", headers=bob, json={"playbook": "pricing-exception",
                                                              "input": {**INPUT, "discount_pct": 101}})
    assert refused.status_code == 422
    lines = _lines(log_lines)
    command = next(line for line in lines if line["event"] == "command" and line["request_id"] == "req-1")
    assert command["command"] == "run.start" and command["outcome"] == "ok" and command["actor"] == "bob"
    assert command["channel"] == "api" and command["playbook"] == "pricing-exception"
    assert command["run"] == started.json()["run"] and command["duration_ms"] >= 0
    request = next(line for line in lines if line["event"] == "request" and line["request_id"] == "req-1")
    assert request | {"duration_ms": 0} == {
        "event": "request", "method": "POST", "route": "/api/v1/runs", "status": 201, "actor": "bob",
        "request_id": "req-1", "level": "info", "timestamp": request["timestamp"], "duration_ms": 0}
    rid = refused.json()["request_id"]
    assert refused.headers["x-request-id"] == rid and len(rid) == 32
    failed = next(line for line in lines if line["event"] == "command" and line["request_id"] == rid)
    assert (failed["outcome"], failed["rule"]) == ("refused", "schema-violation")
    assert next(line for line in lines if line["event"] == "request" and line["request_id"] == rid)["status"] == 422


def test_a_task_commands_request_line_names_its_actor_and_route_template(client: TestClient, login: Login,
                                                                          log_lines: io.StringIO) -> None:
    prepare = start(client, login)["tasks"][0]
    client.post(f"/api/v1/tasks/{prepare['task']}/complete", json={"output": {}}, headers={
        **login(prepare["assignee"]), "X-Request-ID": "req-2"})
    client.post(f"/api/v1/tasks/{prepare['task']}/start", headers={"X-Request-ID": "req-3"})
    lines = [line for line in _lines(log_lines) if line["event"] == "request"]
    refused = next(line for line in lines if line["request_id"] == "req-2")
    assert (refused["route"], refused["status"], refused["actor"]) == (
        "/api/v1/tasks/{task_id}/complete", 422, prepare["assignee"])
    anonymous = next(line for line in lines if line["request_id"] == "req-3")
    assert (anonymous["route"], anonymous["status"], "actor" in anonymous) == ("/api/v1/tasks/{task_id}/start", 401,
                                                                                False)
    assert not any(prepare["task"] in json.dumps(line) for line in lines)  # the template, never the path


def test_tokens_and_secrets_never_reach_the_log(client: TestClient, login: Login, store: Store,
                                                log_lines: io.StringIO) -> None:
    sam = login("sam")
    task = start(client, login)["tasks"][0]
    guest = tokens.invite_guest(store, str(task["task"]), "buyer@customer.example",
                                service.Caller(actor=str(task["assignee"])))["link"].rsplit("/", 1)[1]
    made = tokens.create(store, "erin", ADMIN)["token"]
    client.get("/api/v1/tasks", headers=bearer(made))
    client.get(f"/guest/{guest}")
    client.get("/api/v1/tasks", headers=bearer("lf_not_a_real_token_but_secret_looking"))
    client.get("/guest/lf_guest_secret_in_the_path")
    client.get("/api/v1/runs?secret=query-secret-value", headers=sam)
    logged = log_lines.getvalue()
    for secret in (made, guest, sam["Authorization"].split()[1], "lf_not_a_real_token_but_secret_looking",
                   "lf_guest_secret_in_the_path", "query-secret-value"):
        assert secret not in logged
    lines = _lines(log_lines)
    assert any(line.get("route") == "/guest/{token}" for line in lines)
    assert any(line.get("status") == 401 for line in lines)


# ------------------------------------------------------------------------------------- worker port


def test_the_worker_metrics_port_answers_a_scrape(store: Store) -> None:
    with changes_nothing(store):
        server = serve_metrics(store, 0)
        try:
            answer = httpx.get(f"http://127.0.0.1:{server.server_port}/metrics", timeout=10)
        finally:
            server.shutdown()
            server.server_close()
    samples = scrape(answer.text)
    assert value(samples, "ledgerflow_database_up") == 1
    assert any(name == "ledgerflow_commands_total" or name == "ledgerflow_worker_last_tick_timestamp_seconds"
               for name, _ in samples)


def test_an_unknown_route_is_logged_by_no_path(client: TestClient, log_lines: io.StringIO, tmp_path: Path) -> None:
    client.get("/api/v1/nothing-here/s3cr3t")
    line = next(entry for entry in _lines(log_lines) if entry["event"] == "request")
    assert line["route"] == "unmatched" and "s3cr3t" not in log_lines.getvalue()


def test_the_dashboard_and_the_alert_rules_name_only_metrics_a_scrape_has(client: TestClient, login: Login,
                                                                          store: Store) -> None:
    start(client, login)
    seed, _ = evidence.new_key()
    checkpoints.publish(store, evidence.load_key(seed), actor="admin", channel="cli")
    scraped = {family.name for family in text_string_to_metric_families(client.get("/metrics").text)}
    docs = Path(__file__).parents[2] / "docs"
    dashboard = json.loads((docs / "grafana-dashboard.json").read_text(encoding="utf-8"))
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    rules = YAML(typ="safe").load((docs / "alert-rules.yaml").read_text(encoding="utf-8"))
    exprs += [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    named = {re.sub(r"_(bucket|sum|count|total)$", "", name)
             for expr in exprs for name in re.findall(r"ledgerflow_[a-z_]+", expr)}
    families = {re.sub(r"_total$", "", name) for name in scraped}
    assert named and named <= families, named - families
