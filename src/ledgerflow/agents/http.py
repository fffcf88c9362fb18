"""The MCP server over streamable HTTP at `/mcp` in `ledgerflow serve`, behind the API's bearer tokens.

Every request is authenticated like a REST call (the same token table, `tokens.authenticate`); the principal
rides on the request's ASGI scope to the tool, so a session carries no identity of its own. The transport is
stateless with JSON answers: each POST stands alone, which suits agents that call a tool and wait.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from mcp.server.mcpserver import Context
from mcp.server.transport_security import TransportSecuritySettings
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ledgerflow.agents.server import build_server
from ledgerflow.api import errors
from ledgerflow.domain.errors import LedgerflowError, NotFound
from ledgerflow.engine import tokens
from ledgerflow.engine.tokens import AuthenticationFailed, Principal
from ledgerflow.storage.store import Store

PATH = "/mcp"
SCOPE_KEY = "ledgerflow.principal"


def _principal(ctx: Context) -> Principal:
    request = ctx.request_context.request
    principal = getattr(request, "scope", {}).get(SCOPE_KEY)
    if not isinstance(principal, Principal):
        raise AuthenticationFailed("send `Authorization: Bearer TOKEN`", rule="token-missing")
    return principal


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            kind, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if kind.lower() == "bearer" else None
    return None


class McpEndpoint:
    """The ASGI endpoint at `/mcp`: a bearer token of an actor (not a guest), then the SDK's transport."""

    def __init__(self, store: Store) -> None:
        self.store = store
        server = build_server(store, _principal)
        # Tokens are sent explicitly, never by the browser, so DNS rebinding gains a page nothing; the host
        # check would also refuse every proxy and non-loopback address `serve` may listen on.
        server.streamable_http_app(streamable_http_path=PATH, stateless_http=True, json_response=True,
                                   max_request_body_size=store.settings.limits.max_bytes,
                                   transport_security=TransportSecuritySettings(
                                       enable_dns_rebinding_protection=False))
        self.manager = server.session_manager

    def running(self) -> AbstractAsyncContextManager[None]:
        """The transport's task group: entered for as long as the app serves."""
        @asynccontextmanager
        async def run() -> AsyncIterator[None]:
            async with self.manager.run():
                yield
        return run()

    def mount(self, app: Any) -> None:
        """Answer `/mcp` in a Starlette or FastAPI app (ahead of its other routes and mounts)."""
        app.router.routes.insert(0, Route(PATH, endpoint=self, methods=["GET", "POST", "DELETE"]))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            principal = await _authenticate(self.store, _bearer(scope))
        except LedgerflowError as exc:
            await errors.error_response(exc)(scope, receive, send)
            return
        scope[SCOPE_KEY] = principal
        await self.manager.asgi_app(scope, receive, send)


async def _authenticate(store: Store, token: str | None) -> Principal:
    if token is None:
        raise AuthenticationFailed("send `Authorization: Bearer TOKEN` (see `ledgerflow token create`)",
                                   rule="token-missing")
    principal: Principal = await run_in_threadpool(tokens.authenticate, store, token)
    if principal.is_guest:
        raise NotFound("a guest link reaches its one task only", rule="guest-scope")
    return principal
