"""OpenTelemetry traces (issue #24): a span per HTTP request, per command and per SQL statement, sent to an OTLP
collector. Off unless `LEDGERFLOW_TRACES=otlp`; the collector's address and headers come from the standard
`OTEL_EXPORTER_OTLP_*` variables (default `http://localhost:4318`), the service's name from `OTEL_SERVICE_NAME`
(default `ledgerflow`), and a caller's `traceparent` header makes its trace the parent of the request's.

The spans are opened here rather than by the instrumentation packages, for two reasons. The request span is opened
by the request log's middleware, which names the route's template: a guest link's or an e-mail action link's path
holds its token, and the instrumentations record paths and query strings. And the engine's hot statements go to
the driver directly, where SQLAlchemy's instrumentation cannot see them, so one statement span serves them and
SQLAlchemy's other statements alike. A statement span carries the SQL with its placeholders, never a value.

Only this module imports OpenTelemetry, and only when traces are on: the command line and a server without traces
load none of it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from typing import Any

from ledgerflow.domain.errors import InvalidInput
from ledgerflow.ops import telemetry
from ledgerflow.ops.config import Settings
from ledgerflow.storage import hot


class Tracing:
    """Spans for one process: installed by `enable`, removed by `close` (which also sends what is pending)."""

    def __init__(self, engine: Any, exporter: Any = None) -> None:
        try:
            from opentelemetry import context, propagate, trace
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
        except ImportError:
            raise InvalidInput("LEDGERFLOW_TRACES=otlp needs OpenTelemetry: pip install 'ledgerflow[traces]'",
                               rule="bad-config") from None
        self._context, self._propagate, self._trace = context, propagate, trace
        service, release = os.environ.get("OTEL_SERVICE_NAME") or "ledgerflow", version("ledgerflow")
        self.provider = TracerProvider(resource=Resource.create({"service.name": service, "service.version": release}))
        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        else:  # a test's exporter sees each span as it ends
            self.provider.add_span_processor(SimpleSpanProcessor(exporter))
        self.tracer = self.provider.get_tracer("ledgerflow", release)
        self._engine = engine
        hot.trace_statements(engine, self.statement)
        telemetry.trace(self)

    def close(self) -> None:
        """Stop tracing in this process and send the spans not yet sent."""
        telemetry.trace(None)
        hot.trace_statements(self._engine, None)
        self.provider.shutdown()

    # ------------------------------------------------------------------------------------------ commands

    def start(self, name: str) -> telemetry.Finish:
        """A command's span, current until it ends (telemetry.Tracer)."""
        span = self.tracer.start_span(f"command {name}", attributes={"ledgerflow.command": name})
        token = self._context.attach(self._trace.set_span_in_context(span))

        def finish(outcome: str, rule: str, fields: dict[str, Any], failure: BaseException | None) -> None:
            span.set_attributes({f"ledgerflow.{key}": str(value) for key, value in fields.items()})
            span.set_attribute("ledgerflow.outcome", outcome)
            if rule:
                span.set_attribute("ledgerflow.rule", rule)
            if outcome == "error":  # a rule's refusal is an answer, not a failure of the service
                span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, rule))
                if failure is not None:
                    span.record_exception(failure)
            span.end()
            self._context.detach(token)

        return finish

    # ------------------------------------------------------------------------------------------ requests

    def request(self, method: str, headers: list[tuple[bytes, bytes]]) -> telemetry.RequestFinish:
        """An HTTP request's span (telemetry.Tracer), child of the caller's `traceparent` when it sends one."""
        carrier = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in headers
                   if k.lower() in (b"traceparent", b"tracestate")}
        span = self.tracer.start_span(method, context=self._propagate.extract(carrier),
                                      kind=self._trace.SpanKind.SERVER,
                                      attributes={"http.request.method": method})
        token = self._context.attach(self._trace.set_span_in_context(span))

        def finish(route: str, status: int, request_id: str) -> None:
            span.update_name(f"{method} {route}")
            span.set_attributes({"http.route": route, "http.response.status_code": status,
                                 "ledgerflow.request_id": request_id})
            if status >= 500:
                span.set_status(self._trace.Status(self._trace.StatusCode.ERROR))
            span.end()
            self._context.detach(token)

        return finish

    # ------------------------------------------------------------------------------------------ statements

    @contextmanager
    def statement(self, sql: str, dialect: str) -> Iterator[None]:
        """A span around one statement (storage/hot.py wraps every statement of the store's engine in it), inside
        a request's or a command's span only: the worker's poll for due timers, once a second, is no trace."""
        if not self._trace.get_current_span().get_span_context().is_valid:
            yield
            return
        with self.tracer.start_as_current_span(_operation(sql), kind=self._trace.SpanKind.CLIENT,
                                               attributes=_statement_attributes(sql, dialect)):
            yield


def _operation(sql: str) -> str:
    return sql.lstrip().split(None, 1)[0].upper() if sql.strip() else "SQL"


def _statement_attributes(sql: str, dialect: str) -> dict[str, str]:
    return {"db.system.name": dialect, "db.operation.name": _operation(sql), "db.query.text": sql}


def enable(settings: Settings, engine: Any) -> Tracing | None:
    """Traces for this process (the server or the worker), when the settings turn them on."""
    return Tracing(engine) if settings.traces == "otlp" else None
