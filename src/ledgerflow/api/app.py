"""The REST API (SPEC §7): `create_app(store)` builds the FastAPI application; nothing is global.

Everything lives under `/api/v1` and takes `Authorization: Bearer TOKEN`. Errors are problem documents
(`api/errors.py`). `/guest/{token}` is where guest links point: it answers the guest's task (the web UI
will render it).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledgerflow import tokens, views
from ledgerflow.api import errors
from ledgerflow.api.deps import StoreDep
from ledgerflow.api.models import TaskContextOut
from ledgerflow.api.routes import accountability, oversight, playbooks, runs, tasks
from ledgerflow.storage.store import Store

PREFIX = "/api/v1"
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiConfig:
    """Limits and timings of the HTTP adapter."""

    max_body_bytes: int = 1 << 20
    """Larger request bodies answer 413."""
    page_size: int = 50
    max_page_size: int = 200
    stream_poll_seconds: float = 0.5
    """How often an event stream looks for new events."""
    stream_max_seconds: float = 30.0
    """How long one event stream stays open; clients reconnect with Last-Event-ID."""


class BodyLimit:
    """Refuse request bodies over `max_bytes` with 413, by Content-Length or by counting what arrives."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body, delivered = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        exc = errors.BodyTooLarge(f"the request body is larger than {self.max_bytes} bytes")
        await errors.error_response(exc)(scope, receive, send)


def _guest_router() -> APIRouter:
    api = APIRouter(tags=["guests"], responses=errors.documented(401))

    @api.get("/guest/{token}", response_model=TaskContextOut)
    def guest_link(store: StoreDep, token: str) -> JSONResponse:
        """Where a guest link points: the guest's one task (the token is in the link)."""
        principal = tokens.authenticate(store, token)
        if not principal.is_guest or principal.task is None:
            raise tokens.AuthenticationFailed("this is not a guest link", rule="token-invalid")
        body = TaskContextOut.of(views.task(store, principal, principal.task)).model_dump(mode="json")
        return JSONResponse(body, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})

    return api


def _problem_media_types(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """OpenAPI: error responses are `application/problem+json`."""

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
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.setdefault("Problem", errors.Problem.model_json_schema())
            for unused in ("HTTPValidationError", "ValidationError"):
                components.pop(unused, None)
            app.openapi_schema = schema
        return app.openapi_schema

    return openapi


def create_app(store: Store, config: ApiConfig | None = None, *, lifespan: Lifespan | None = None,
               guest_links: bool = True) -> FastAPI:
    """The REST API over one store.

    Args:
        store: the database; its settings (`LEDGERFLOW_BASE_URL`...) were read when it was opened.
        config: limits and timings of the HTTP adapter.
        lifespan: what runs beside the app while it serves (`ledgerflow serve` passes the worker here).
        guest_links: answer `/guest/<token>` with the task as JSON; `ledgerflow serve` leaves that path to the
            web UI, which shows the guest their task as a page.
    """
    config = config or ApiConfig()
    app = FastAPI(title="ledgerflow", version="1", lifespan=lifespan, redoc_url=None,
                  description="The ledgerflow REST API: runs, tasks, decisions and their audit trail. Every route "
                              "takes `Authorization: Bearer TOKEN`; errors are RFC 9457 problem documents whose "
                              "`rule` is the rule name the CLI prints.")
    app.state.store = store
    errors.install(app)
    api = APIRouter(prefix=PREFIX)
    api.include_router(playbooks.router())
    api.include_router(runs.router(page_size=config.page_size, max_page_size=config.max_page_size,
                                   poll_seconds=config.stream_poll_seconds,
                                   stream_seconds=config.stream_max_seconds))
    api.include_router(tasks.router(max_page_size=config.max_page_size))
    api.include_router(oversight.router())
    api.include_router(accountability.router())
    app.include_router(api)
    if guest_links:
        app.include_router(_guest_router())
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    app.openapi = _problem_media_types(app)  # type: ignore[method-assign]
    return app
