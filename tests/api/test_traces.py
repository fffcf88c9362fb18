"""OpenTelemetry traces: a request's span holds its command's, which holds the command's statements; no token,
path or value reaches a span; off unless configured, and then sent to a real OTLP receiver."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ledgerflow.api.app import create_app
from ledgerflow.engine import service, tokens
from ledgerflow.ops.config import load_settings
from ledgerflow.ops.tracing import Tracing
from ledgerflow.storage.store import Store
from tests.api.conftest import CONFIG
from tests.api.helpers import INPUT, Login, bearer, start, to_decision
from tests.servers import serve_process

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture
def traced(store: Store) -> Iterator[tuple[TestClient, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    tracing = Tracing(store.engine, exporter)
    try:
        with TestClient(create_app(store, CONFIG)) as client:
            yield client, exporter
    finally:
        tracing.close()


def _children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    assert parent.context is not None
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


def _decided(traced: tuple[TestClient, InMemorySpanExporter], login: Login,
             **body: str) -> tuple[Any, dict[str, Any], list[ReadableSpan]]:
    """A run taken to its decision, then the decision with this body: the answer, the task and the spans of
    that one request."""
    client, exporter = traced
    _, _, decision = to_decision(client, login)
    approver = login(decision["assignee"])
    exporter.clear()
    answer = client.post(f"/api/v1/tasks/{decision['task']}/decide", headers=approver, json=body)
    return answer, decision, list(exporter.get_finished_spans())


def test_a_decision_is_one_trace_request_then_command_then_its_statements(
        traced: tuple[TestClient, InMemorySpanExporter], login: Login) -> None:
    answer, decision, spans = _decided(traced, login, outcome="approve", rationale="Within policy")
    assert answer.status_code == 200, answer.text
    (request,) = [s for s in spans if s.name == "POST /api/v1/tasks/{task_id}/decide"]
    assert request.parent is None and request.attributes is not None
    assert request.attributes["http.route"] == "/api/v1/tasks/{task_id}/decide"
    assert request.attributes["http.response.status_code"] == 200
    assert request.attributes["ledgerflow.request_id"] == answer.headers["x-request-id"]
    (command,) = [s for s in _children(spans, request) if s.name == "command task.decide"]
    assert command.attributes is not None
    assert command.attributes["ledgerflow.outcome"] == "ok"
    assert command.attributes["ledgerflow.task"] == decision["task"]
    assert command.attributes["ledgerflow.channel"] == "api"
    statements = _children(spans, command)
    assert {"SELECT", "INSERT", "UPDATE"} <= {s.name for s in statements}
    inserts = [s.attributes["db.query.text"] for s in statements if s.name == "INSERT" and s.attributes]
    assert any("INSERT INTO events" in str(sql) for sql in inserts)
    assert request.context is not None  # one trace: the token check, the command and its statements
    assert {s.context.trace_id for s in spans if s.context} == {request.context.trace_id}


def test_a_refusal_is_an_answer_on_its_span_not_a_failure(
        traced: tuple[TestClient, InMemorySpanExporter], login: Login) -> None:
    refused, _, spans = _decided(traced, login, outcome="reject", rationale=" ")
    assert refused.status_code == 403, refused.text
    (command,) = [s for s in spans if s.name == "command task.decide"]
    assert command.attributes is not None and command.attributes["ledgerflow.outcome"] == "refused"
    assert command.attributes["ledgerflow.rule"] == refused.json()["rule"]
    assert command.status.status_code.name == "UNSET"


def test_a_callers_traceparent_makes_its_trace_the_parent(traced: tuple[TestClient, InMemorySpanExporter],
                                                         login: Login) -> None:
    client, exporter = traced
    bob = login("bob")
    exporter.clear()
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    listed = client.get("/api/v1/tasks", headers={**bob, "traceparent": f"00-{trace_id}-{parent_id}-01"})
    assert listed.status_code == 200 and client.get("/healthz").status_code == 200  # a probe: no trace
    (request,) = [s for s in exporter.get_finished_spans() if s.kind.name == "SERVER"]
    assert request.name == "GET /api/v1/tasks"
    assert request.context is not None and request.parent is not None
    assert (request.context.trace_id, request.parent.span_id) == (int(trace_id, 16), int(parent_id, 16))


def test_statements_outside_a_request_or_command_make_no_trace(traced: tuple[TestClient, InMemorySpanExporter],
                                                               store: Store) -> None:
    _, exporter = traced
    exporter.clear()
    with store.read() as tx:  # as the worker polls for due timers
        tx.due_timers("2100-01-01T00:00:00Z", 10)
    assert exporter.get_finished_spans() == ()


def test_no_token_path_or_value_reaches_a_span(traced: tuple[TestClient, InMemorySpanExporter], login: Login,
                                               store: Store) -> None:
    client, exporter = traced
    prepare = start(client, login, customer="Stark-4200-quote")["tasks"][0]
    invited = tokens.invite_guest(store, str(prepare["task"]), "buyer@customer.example",
                                  service.Caller(actor=str(prepare["assignee"])))
    guest_token = invited["link"].rsplit("/", 1)[1]
    assert client.get(f"/guest/{guest_token}").status_code == 200
    assert client.get(f"/api/v1/tasks/{prepare['task']}", headers=bearer(guest_token)).status_code == 200
    every = json.dumps([{"name": s.name, "attributes": dict(s.attributes or {})}
                        for s in exporter.get_finished_spans()])
    bob = login("bob")["Authorization"].split()[1]
    assert guest_token not in every and bob not in every and "Stark-4200-quote" not in every
    assert '"/guest/{token}"' in every  # the route's template stands for the path


def test_traces_are_off_unless_configured_and_load_no_tracer(store: Store, tmp_path: Path) -> None:
    probe = ("import sys\nfrom ledgerflow.server import create_server_app\nfrom ledgerflow.storage.store import Store\n"
             "from ledgerflow.ops import tracing\n"
             f"store = Store({store.url!r})\nassert tracing.enable(store.settings, store.engine) is None\n"
             "create_server_app(store, worker=False)\n"
             "print(sorted(m for m in sys.modules if m.startswith('opentelemetry.sdk')))\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEDGERFLOW_", "OTEL_"))}
    shown = subprocess.run([sys.executable, "-c", probe], env={**env, "PYTHONPATH": SRC}, cwd=tmp_path,
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == "[]"


def test_an_unknown_traces_setting_is_refused_naming_the_choices() -> None:
    from ledgerflow.domain.errors import InvalidInput

    with pytest.raises(InvalidInput) as refused:
        load_settings({"LEDGERFLOW_TRACES": "zipkin"}, Path("/nonexistent/ledgerflow.toml"))
    assert (refused.value.rule, refused.value.message) == ("bad-config", "LEDGERFLOW_TRACES is otlp or off, not "
                                                                         "'zipkin'")


class _Receiver(BaseHTTPRequestHandler):
    """An OTLP/HTTP trace receiver: keeps every export request it is sent."""

    received: list[ExportTraceServiceRequest]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/v1/traces":
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            self.received.append(request)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Received]:
    received: list[ExportTraceServiceRequest] = []
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


Received = tuple[str, list[ExportTraceServiceRequest]]


def test_the_server_sends_its_spans_to_an_otlp_collector(store: Store, login: Login, tmp_path: Path,
                                                          receiver: Received) -> None:
    url, received = receiver
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEDGERFLOW_", "OTEL_"))}
    env.update(PYTHONPATH=SRC, LEDGERFLOW_TRACES="otlp", OTEL_EXPORTER_OTLP_ENDPOINT=url,
               OTEL_SERVICE_NAME="ledgerflow-test", OTEL_BSP_SCHEDULE_DELAY="50")
    with serve_process(store.url, env=env, log=tmp_path / "serve.log") as (base, process):
        started = httpx.post(f"{base}/api/v1/runs", headers=login("bob"), timeout=30,
                             json={"playbook": "pricing-exception", "input": INPUT})
        assert started.status_code in (200, 201), started.text
        deadline = time.monotonic() + 30
        names: set[str] = set()
        while "command run.start" not in names:  # the batch goes out 50 ms after the span ends
            assert time.monotonic() < deadline and process.poll() is None, sorted(names)
            time.sleep(0.05)
            names = {span.name for request in list(received) for scopes in request.resource_spans
                     for scope in scopes.scope_spans for span in scope.spans}
    spans = [span for request in received for scopes in request.resource_spans
             for scope in scopes.scope_spans for span in scope.spans]
    services = {attribute.value.string_value for request in received for scopes in request.resource_spans
                for attribute in scopes.resource.attributes if attribute.key == "service.name"}
    assert services == {"ledgerflow-test"}
    (command,) = [s for s in spans if s.name == "command run.start"]
    (request,) = [s for s in spans if s.name == "POST /api/v1/runs"]
    assert command.trace_id == request.trace_id and command.parent_span_id == request.span_id
    assert any(s.parent_span_id == command.span_id and s.name == "INSERT" for s in spans)
    assert login("bob")["Authorization"].split()[1].encode() not in b"".join(r.SerializeToString() for r in received)
