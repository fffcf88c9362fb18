"""The REST API (SPEC §7): `create_app(store)` builds the FastAPI application; nothing is global.

Everything lives under `/api/v1` and takes `Authorization: Bearer TOKEN`. Errors are problem documents
(`api/errors.py`). `/guest/{token}` is where guest links point: it answers the guest's task (the web UI
will render it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledgerflow.api import errors, operations
from ledgerflow.api.deps import StoreDep
from ledgerflow.api.expensive import Expensive
from ledgerflow.api.links import add_links
from ledgerflow.api.models import TaskContextOut
from ledgerflow.api.one_hop import PARSED_JSON
from ledgerflow.api.routes import accountability, approvals, attachments, oversight, playbooks, runs, tasks
from ledgerflow.domain import limits
from ledgerflow.domain.attachments import MAX_ATTACHMENT_BYTES
from ledgerflow.domain.errors import AttachmentTooLarge, InvalidInput, LedgerflowError, LimitExceeded
from ledgerflow.domain.limits import DEFAULT, Limits
from ledgerflow.engine import api_queries, tokens
from ledgerflow.ops import instruments
from ledgerflow.storage.store import Store

PREFIX = "/api/v1"
log = logging.getLogger("ledgerflow.api")
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiConfig:
    """Limits and timings of the HTTP adapter."""

    limits: Limits = DEFAULT
    """The input gate's limits; larger request bodies answer 413 (default: the store's settings)."""
    documents: int = MAX_ATTACHMENT_BYTES
    """How much larger than `limits` a multipart body (a form with files) may be: the attachment limit."""
    expensive_slots: int = 4
    """How many lint or publish requests run at once; more answer 503 `server-busy`."""
    expensive_seconds: float = 10.0
    """The time limit of a lint or publish request (503 `time-limit`)."""
    page_size: int = 50
    max_page_size: int = 200
    stream_poll_seconds: float = 0.5
    """How often an event stream looks for new events."""
    stream_max_seconds: float = 30.0
    """How long one event stream stays open; clients reconnect with Last-Event-ID."""


class InputGate:
    """The input gate (SPEC §10) at the HTTP edge, before any route runs: a body over `limits.max_bytes` answers
    413 (by Content-Length, or by counting what arrives, so no more than the limit is ever held), and a JSON
    body must pass `limits.parse_json` — NaN, 1e400, lone surrogates and deep nesting answer 400 with the
    limit's rule instead of reaching the engine. A multipart body (a form with files) may be larger by
    `documents` bytes, the attachment limit (SPEC §14): each document is then measured on its own."""

    def __init__(self, app: ASGIApp, limits: Limits, documents: int = 0) -> None:
        self.app = app
        self.limits = limits
        self.documents = documents

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            limits.check_location(scope.get("path", ""), scope.get("query_string", b""))
        except LimitExceeded as exc:
            await self._refuse(exc, scope, receive, send)
            return
        headers = dict(scope["headers"])
        kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        largest = self.limits.max_bytes + (self.documents if kind == b"multipart/form-data" else 0)
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > largest:
            await self._refuse(self._too_large(largest, kind), scope, receive, send)
            return
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > largest:
                await self._refuse(self._too_large(largest, kind), scope, receive, send)
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body, delivered = b"".join(chunks), False
        if body and (kind == b"application/json" or kind.endswith(b"+json")):
            try:
                scope[PARSED_JSON] = limits.parse_json(body, "the request body", self.limits)  # not parsed twice
            except LimitExceeded as exc:  # malformed JSON is left to the route, which says what it expected
                await self._refuse(exc, scope, receive, send)
                return
            except InvalidInput:
                pass

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _too_large(self, largest: int, kind: bytes) -> LimitExceeded:
        if kind == b"multipart/form-data" and self.documents:
            return AttachmentTooLarge(f"the request body is larger than {largest} bytes: a document may be "
                                      f"{self.documents} bytes", details={"limit": largest})
        return errors.BodyTooLarge(f"the request body is larger than {largest} bytes", details={"limit": largest})

    @staticmethod
    async def _refuse(exc: LedgerflowError, scope: Scope, receive: Receive, send: Send) -> None:
        await errors.error_response(exc)(scope, receive, send)


class Contained:
    """No exception leaves the app for the server: one that no handler took answers 500 as a problem document
    (or, once a response has started, ends it), and is logged. Starlette's own last-resort handler re-raises
    after answering, and uvicorn then closes the connection, so a keep-alive client lost its next request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            log.error("unexpected error answering %s %s", scope.get("method"), operations.route_template(scope),
                      exc_info=exc)  # the template: a path may hold a guest token
            if not started:
                # the server log has the traceback; the caller learns nothing about the internals
                body = errors.problem_body(500, "internal-error", "an unexpected error occurred")
                await errors.problem_response(500, body)(scope, receive, send)
            else:
                await send({"type": "http.response.body", "body": b"", "more_body": False})


def _guest_router() -> APIRouter:
    api = APIRouter(tags=["guests"], responses=errors.documented(401))

    @api.get("/guest/{token}", response_model=TaskContextOut)
    def guest_link(store: StoreDep, token: str) -> JSONResponse:
        """Where a guest link points: the guest's one task (the token is in the link)."""
        principal = tokens.authenticate(store, token)
        if not principal.is_guest or principal.task is None:
            raise tokens.AuthenticationFailed("this is not a guest link", rule="token-invalid")
        body = TaskContextOut.of(api_queries.task(store, principal, principal.task)).model_dump(mode="json")
        return JSONResponse(body, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})

    return api


def _problem_media_types(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """OpenAPI: error responses are `application/problem+json`; answers link to the operations they feed."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    for code, response in operation.get("responses", {}).items():
                        content = response.get("content", {})
                        if code == "422":  # FastAPI's default validation answer: ours is a problem document too
                            response["content"] = {errors.PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}
                        elif code.isdigit() and int(code) >= 400 and "application/json" in content:
                            response["content"] = {errors.PROBLEM: content["application/json"]}
            add_links(schema)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.setdefault("Problem", errors.Problem.model_json_schema())
            for unused in ("HTTPValidationError", "ValidationError"):
                components.pop(unused, None)
            app.openapi_schema = schema
        return app.openapi_schema

    return openapi


def create_app(store: Store, config: ApiConfig | None = None, *, lifespan: Lifespan | None = None,
               guest_links: bool = True, heartbeat: operations.Heartbeat | None = None) -> FastAPI:
    """The REST API over one store.

    Args:
        store: the database; its settings (`LEDGERFLOW_BASE_URL`...) were read when it was opened.
        config: limits and timings of the HTTP adapter.
        lifespan: what runs beside the app while it serves (`ledgerflow serve` passes the worker here).
        guest_links: answer `/guest/<token>` with the task as JSON; `ledgerflow serve` leaves that path to the
            web UI, which shows the guest their task as a page.
        heartbeat: how long ago the worker running beside the app finished a pass (`/readyz` checks it).
    """
    config = config or ApiConfig(limits=store.settings.limits, documents=store.settings.attachments.max_bytes)
    app = FastAPI(title="ledgerflow", version="1", lifespan=lifespan, redoc_url=None,
                  description="The ledgerflow REST API: runs, tasks, decisions and their audit trail. Every route "
                              "takes `Authorization: Bearer TOKEN`; errors are RFC 9457 problem documents whose "
                              "`rule` is the rule name the CLI prints.")
    app.state.store = store
    errors.install(app)
    instruments.install()
    tasks.add_commands(app.router, PREFIX + "/tasks")  # first: the most frequent requests match at once
    app.include_router(operations.router(store, heartbeat))
    api = APIRouter(prefix=PREFIX)
    api.include_router(playbooks.router(Expensive(config.expensive_slots, config.expensive_seconds)))
    api.include_router(runs.router(page_size=config.page_size, max_page_size=config.max_page_size,
                                   poll_seconds=config.stream_poll_seconds,
                                   stream_seconds=config.stream_max_seconds))
    api.include_router(tasks.router(max_page_size=config.max_page_size))
    api.include_router(oversight.router())
    api.include_router(accountability.router())
    api.include_router(approvals.router())
    api.include_router(attachments.router())
    app.include_router(api)
    if guest_links:
        app.include_router(_guest_router())
    app.add_middleware(InputGate, limits=config.limits, documents=config.documents)
    app.add_middleware(Contained)
    app.add_middleware(operations.RequestLog)  # outermost: its id is on every line and answer of the request
    app.openapi = _problem_media_types(app)  # type: ignore[method-assign]
    return app
