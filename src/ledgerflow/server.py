"""`ledgerflow serve`: the REST API, the MCP endpoint at `/mcp`, the web UI at `/` and the worker, in one
process."""

from __future__ import annotations

import gc
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import Match, Mount, Route

from ledgerflow.agents.http import McpEndpoint
from ledgerflow.api import slack
from ledgerflow.api.app import create_app
from ledgerflow.domain.errors import LedgerflowError
from ledgerflow.engine import tokens
from ledgerflow.engine.worker import Worker
from ledgerflow.ops import instruments, tracing
from ledgerflow.storage.store import Store
from ledgerflow.web.app import Identity, create_web_app


def web_identity(store: Store, token: str) -> Identity | None:
    """Sign-in for the web UI with the same tokens as the API (a guest link reaches its one task)."""
    try:
        principal = tokens.authenticate(store, token)
    except LedgerflowError:
        return None
    return Identity(actor=principal.actor, task=principal.task if principal.is_guest else None)


def create_server_app(store: Store, *, worker: bool = True, session_secret: str | None = None) -> FastAPI:
    """The API under /api/v1, MCP at /mcp and the web UI at /; with `worker`, the worker loop runs beside them
    (and `/readyz` watches its passes)."""
    loop = Worker(store)
    agents = McpEndpoint(store)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        thread = threading.Thread(target=loop.run, args=(stop,), name="ledgerflow-worker", daemon=True)
        if worker:
            thread.start()
        try:
            async with agents.running():
                yield
        finally:
            stop.set()
            if worker:
                thread.join(timeout=30)

    # A guest link is opened by a person, so `/guest/<token>` is the web UI's page; API clients use the guest
    # token as a bearer on GET /api/v1/tasks/<task>.
    app = create_app(store, lifespan=lifespan, guest_links=False, heartbeat=loop.since_last_pass if worker else None)
    _answer_unknown_api_paths(app)
    agents.mount(app)
    app.include_router(slack.router(store))
    app.mount("/", create_web_app(store, lambda token: web_identity(store, token), secret=session_secret))
    return app


_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def _answer_unknown_api_paths(app: FastAPI) -> None:
    """A path under /api/v1 that no API route serves answers the API's problem+json (404 `unknown-route`, or
    405 with `Allow` for a known path and another method), not the web UI's page behind the mount at /."""

    async def unknown(request: Request) -> None:
        routes = [route for route in app.router.routes if route is not catch_all and not isinstance(route, Mount)]
        allowed = [method for method in _METHODS
                   if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)]
        if allowed:
            raise HTTPException(405, headers={"Allow": ", ".join(allowed)})
        raise HTTPException(404, f"no API route {request.url.path}")

    catch_all = Route("/api/v1/{path:path}", unknown, methods=_METHODS, include_in_schema=False)
    app.router.routes.append(catch_all)


def serve(store: Store, host: str, port: int, **options: Any) -> None:
    import uvicorn

    instruments.configure_logging(json={"json": True, "console": False}.get(store.settings.log_format or ""))
    tracing.enable(store.settings, store.engine)  # its spans are sent as the process exits, too
    app = create_server_app(store, **options)
    # What start-up built (modules, the app's routes and models) lives as long as the process: frozen out of
    # the collector, a full collection walks only what requests made since, not the whole heap (those walks
    # were 40-90 ms pauses in the middle of requests, the slowest 1% of decisions under load).
    gc.collect()
    gc.freeze()
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)  # our request log says it
