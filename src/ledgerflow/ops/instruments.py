"""The server's and the worker's instruments (issue #24): Prometheus counters and histograms, and structured logs
with `structlog`, one JSON line per request and per command.

The metrics live in one registry of this module, as `prometheus_client` means them to: a counter belongs to the
process, whichever app or worker moved it. `ledgerflow.ops.metrics` adds what is read from the database at scrape
time. Label values are bounded sets (command names, outcomes, rule names, route templates, channels): never a
run, task or person. Log lines carry named fields only: never a token, a secret, a header or a request body.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import orjson
import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ledgerflow.ops import telemetry
from ledgerflow.storage import group_commit

REGISTRY = CollectorRegistry(auto_describe=True)
_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

COMMANDS = Counter("ledgerflow_commands_total", "Commands run, by command, outcome (ok, refused, error) and the "
                   "rule that refused or failed them.", ["command", "outcome", "rule"], registry=REGISTRY)
COMMAND_SECONDS = Histogram("ledgerflow_command_duration_seconds", "How long commands took, refused ones included.",
                            ["command"], buckets=_SECONDS, registry=REGISTRY)
REQUESTS = Counter("ledgerflow_http_requests_total", "HTTP requests answered, by method, route template and status.",
                   ["method", "route", "status"], registry=REGISTRY)
REQUEST_SECONDS = Histogram("ledgerflow_http_request_duration_seconds", "How long HTTP requests took to answer.",
                            ["method", "route"], buckets=_SECONDS, registry=REGISTRY)
GROUP_COMMIT = Histogram("ledgerflow_group_commit_size_commands", "Commands that shared one SQLite commit.",
                         buckets=(1, 2, 4, 8, 16), registry=REGISTRY)
DELIVERIES = Counter("ledgerflow_deliveries_total", "Outbox messages the worker tried, by channel and outcome "
                     "(delivered, retried, failed).", ["channel", "outcome"], registry=REGISTRY)
VERIFICATIONS = Counter("ledgerflow_audit_verifications_total", "`audit verify` runs, by result (ok, failed).",
                        ["result"], registry=REGISTRY)
WORKER_TICK = Gauge("ledgerflow_worker_last_tick_timestamp_seconds", "When a worker of this process last finished "
                    "a pass (Unix time); 0 before the first.", registry=REGISTRY)


def _add_request_id(_logger: Any, _method: str, event: Any) -> Any:
    current = telemetry.request_id.get()
    if current is not None:
        event.setdefault("request_id", current)
    return event


def _json(event: Any, **_: Any) -> str:
    return orjson.dumps(event, default=str).decode()


_JSON: Any = structlog.processors.JSONRenderer(serializer=_json)
_renderer: Any = _JSON


def _render(logger: Any, method: str, event: Any) -> Any:
    return _renderer(logger, method, event)


_OURS = "ledgerflow_lines"


class _Lines:
    """Where this module's own lines go: the stream of the handler `configure_logging` gave the root logger, under
    that handler's lock (a line never interleaves with uvicorn's), at the root logger's level, or nowhere before
    it has. Not through the standard library's records: a record, its caller lookup and the formatter cost more
    than the line itself, twice per request (a request line and a command line)."""

    def info(self, line: str) -> None:
        self._write(logging.INFO, line)

    def warning(self, line: str) -> None:
        self._write(logging.WARNING, line)

    def error(self, line: str) -> None:
        self._write(logging.ERROR, line)

    @staticmethod
    def _write(level: int, line: str) -> None:
        root = logging.getLogger()
        if not root.isEnabledFor(level):
            return
        for handler in root.handlers:
            if getattr(handler, _OURS, False):
                handler.acquire()
                try:
                    handler.stream.write(line + "\n")  # type: ignore[attr-defined]
                    handler.flush()
                finally:
                    handler.release()
                return


_SHARED: list[Any] = [structlog.contextvars.merge_contextvars, _add_request_id, structlog.processors.add_log_level,
                      structlog.processors.TimeStamper(fmt="iso", utc=True)]
log = structlog.wrap_logger(_Lines(), wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
                            processors=[*_SHARED, _render])
"""One line per request and per command. Until `configure_logging` gives the root logger its handler (the server,
the worker), the lines go nowhere, so importing this never writes to stdout."""


class Instruments:
    """The listener that counts every command and logs it (`telemetry.listen`)."""

    def command(self, name: str, outcome: str, rule: str, seconds: float, fields: dict[str, Any]) -> None:
        COMMANDS.labels(command=name, outcome=outcome, rule=rule).inc()
        COMMAND_SECONDS.labels(command=name).observe(seconds)
        (log.warning if outcome == "error" else log.info)(
            "command", command=name, outcome=outcome, rule=rule or None, duration_ms=round(seconds * 1000, 3),
            **fields)


INSTRUMENTS = Instruments()


def install() -> None:
    """Count and log every command of this process from now on (idempotent)."""
    telemetry.listen(INSTRUMENTS)
    if GROUP_COMMIT.observe not in group_commit.COMMIT_SIZES:
        group_commit.COMMIT_SIZES.append(GROUP_COMMIT.observe)


def configure_logging(*, json: bool | None = None, stream: TextIO | None = None, level: int = logging.INFO) -> None:
    """Log one JSON object per line (`json`, or when the stream is not a terminal), else readable lines.

    Standard-library loggers (uvicorn's, SQLAlchemy's) go through the same renderer, so a log store receives
    one format.
    """
    global _renderer
    target = stream or sys.stderr
    as_json = json if json is not None else not target.isatty()
    renderer: Any = _JSON if as_json else structlog.dev.ConsoleRenderer(colors=False)
    _renderer = renderer
    handler = logging.StreamHandler(target)
    setattr(handler, _OURS, True)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, structlog.processors.format_exc_info,
                    renderer], foreign_pre_chain=_SHARED))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # the request log says more, and never a query string
    for client in ("httpx", "httpx2", "httpcore"):  # their lines name every URL: a Slack webhook's is a secret
        logging.getLogger(client).setLevel(logging.WARNING)
