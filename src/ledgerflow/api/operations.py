"""For whoever runs the server (SPEC §7, issue #24): `/healthz`, `/readyz`, `/metrics`, and one log line with a
request id per HTTP request.

The probes and the scrape take no token: they say nothing about a run or a person, and an orchestrator or
Prometheus has none to give. Keep them off the public network with the reverse proxy (docs/operations.md).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledgerflow.api.errors import problem_body, problem_response
from ledgerflow.domain.errors import LedgerflowError
from ledgerflow.ops import instruments, metrics, telemetry
from ledgerflow.storage.database import check_initialized
from ledgerflow.storage.store import Store

Heartbeat = Callable[[], float | None]
"""Seconds since the in-process worker last finished a pass; None before its first."""

WORKER_STALE_SECONDS = 60.0
"""A worker that polls every second and has not finished a pass for this long is stuck (a pass does at most a
batch of timers and twenty messages)."""

_GIVEN_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_UNTRACED = frozenset({"/healthz", "/readyz", "/metrics"})
"""The probes and the scrape: an orchestrator's and Prometheus's polls, a trace each every few seconds otherwise."""


def router(store: Store, heartbeat: Heartbeat | None) -> APIRouter:
    api = APIRouter(tags=["operations"])
    registry = metrics.registry_for(store)

    @api.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is alive and answering (it touches nothing else)."""
        return {"status": "ok"}

    @api.get("/readyz", responses={503: {"description": "Not ready: the checks say which part is not."}})
    def readyz() -> Response:
        """Ready for traffic: the database answers, its schema is the one this version needs, and the worker
        running in this process (if any) finished a pass within the last minute."""
        checks = readiness(store, heartbeat)
        if all(value == "ok" for value in checks.values()):
            return JSONResponse({"status": "ready", "checks": checks})
        failed = ", ".join(f"{name}: {value}" for name, value in checks.items() if value != "ok")
        return problem_response(503, problem_body(503, "not-ready", f"not ready: {failed}", {"checks": checks}))

    @api.get("/metrics", response_class=Response)
    def scrape() -> Response:
        """Prometheus text format: counters of this process and figures read from the database."""
        return Response(metrics.exposition(registry), media_type=metrics.CONTENT_TYPE)

    return api


def readiness(store: Store, heartbeat: Heartbeat | None) -> dict[str, str]:
    """Each check as `ok` or what is wrong with it."""
    checks = {"database": "ok", "schema": "ok"}
    try:
        with store.read() as tx:
            tx.now()
    except LedgerflowError as exc:
        checks["database"] = exc.message
        checks["schema"] = "unknown: the database does not answer"
    else:
        try:
            check_initialized(store.engine, store.url)
        except LedgerflowError as exc:
            checks["schema"] = exc.message
    if heartbeat is not None:
        age = heartbeat()
        if age is None:
            checks["worker"] = "has not finished a pass yet"
        elif age > WORKER_STALE_SECONDS:
            checks["worker"] = f"last pass {age:.0f} s ago"
        else:
            checks["worker"] = "ok"
    return checks


def route_template(scope: Scope) -> str:
    """The template of the route that answered (`/api/v1/tasks/{task_id}`), or `unmatched`: the request's path
    with each path parameter put back as its name, so that no id, and no token of a guest link, reaches a log
    line or a label."""
    if scope.get("route") is None:
        return "unmatched"
    path = str(scope.get("path", ""))
    params = scope.get("path_params") or {}
    for name, given in sorted(params.items(), key=lambda item: -len(str(item[1]))):
        if str(given):
            path = path.replace(f"/{given}", f"/{{{name}}}", 1)
    return path


class RequestLog:
    """Outermost middleware: a request id (the caller's `X-Request-ID` when it is a plain token, else a new
    one) on every log line of the request, in problem documents and in the answer's `X-Request-ID`; then one
    log line and the request metrics. The line names the route's template, never the path (a guest link's
    path holds its token), and no header, query or body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = given if _GIVEN_ID.match(given) else uuid.uuid4().hex
        fields: dict[str, Any] = {}
        id_token, fields_token = telemetry.request_id.set(rid), telemetry.request_fields.set(fields)
        started, status = time.perf_counter(), 500
        traced = None if scope["path"] in _UNTRACED else telemetry.start_request(str(scope.get("method", "")),
                                                                                 scope["headers"])

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", rid.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, answer)
        finally:
            seconds = time.perf_counter() - started
            route = route_template(scope)
            method = str(scope.get("method", ""))
            instruments.REQUESTS.labels(method=method, route=route, status=str(status)).inc()
            instruments.REQUEST_SECONDS.labels(method=method, route=route).observe(seconds)
            (instruments.log.warning if status >= 500 else instruments.log.info)(
                "request", method=method, route=route, status=status, duration_ms=round(seconds * 1000, 3),
                **fields)
            if traced is not None:
                traced(route, status, rid)
            telemetry.request_fields.reset(fields_token)
            telemetry.request_id.reset(id_token)

