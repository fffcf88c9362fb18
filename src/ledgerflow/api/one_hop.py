"""The task commands' route: one thread hop per request, the bearer token checked in the command's transaction.

A FastAPI route runs each sync dependency and the endpoint in the thread pool (two hops here: the token check,
then the command), checks the token in a read transaction of its own and solves the dependency graph on every
request. A `OneHopRoute` keeps the endpoint and its signature, so OpenAPI documents it as before, but answers
the request itself: it reads the body and the two headers, then in one hop opens the write transaction, checks
the token, the guest scope, the Idempotency-Key and the body in FastAPI's order (401, 404, 400, then 422) and
calls the endpoint, whose Mutation joins that transaction.
"""

from __future__ import annotations

import inspect
import json
import types
import typing
from collections.abc import Callable
from typing import Any

import anyio.to_thread
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ledgerflow.api import deps, errors
from ledgerflow.domain.errors import InvalidInput, LedgerflowError
from ledgerflow.engine import idempotency, tokens
from ledgerflow.storage.store import Store

PARSED_JSON = "ledgerflow.json"
"""The scope key under which the input gate leaves the JSON body it parsed (the route does not parse it again)."""
_MISSING = object()


class OneHopRoute(APIRoute):
    """A mutating route whose endpoint takes `call` (`ActorMutation` or `AnyoneMutation`), `str` path parameters
    and at most one body model (optional when it has a default). Its use case runs inside the route's transaction,
    so a refusal that is audited after the rollback (`after_rollback`, approvals) is recorded here once that
    transaction has rolled back, with or without an Idempotency-Key."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        hints = typing.get_type_hints(endpoint, include_extras=True)
        self._call = ""
        self._actors_only = True
        self._path_params: list[str] = []
        self._body: tuple[str, TypeAdapter[Any], Any] | None = None
        for name, parameter in inspect.signature(endpoint).parameters.items():
            hint = hints[name]
            if hint in (deps.ActorMutation, deps.AnyoneMutation):
                self._call, self._actors_only = name, hint == deps.ActorMutation
            elif hint is str and name in self.param_convertors:
                self._path_params.append(name)
            elif self._body is None and _is_model(hint) and parameter.default in (inspect.Parameter.empty, None):
                default = _MISSING if parameter.default is inspect.Parameter.empty else None
                self._body = (name, TypeAdapter(hint), default)
            else:
                raise TypeError(f"{endpoint.__name__}: a one-hop route cannot take {name}: {hint}")
        if not self._call:
            raise TypeError(f"{endpoint.__name__}: a one-hop route takes its Mutation as ActorMutation or "
                            "AnyoneMutation")

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in (self.methods or ()):
            await super().handle(scope, receive, send)  # 405 with Allow, as any route answers it
            return
        request = Request(scope, receive)
        try:
            raw = await request.body()
            response = await anyio.to_thread.run_sync(self._answer, request, raw, _body(request, raw))
        except LedgerflowError as exc:
            response = errors.error_response(exc)
        await response(scope, receive, send)

    def _answer(self, request: Request, raw: bytes, body: Any) -> Response:
        """On a worker thread: one write transaction holds the token check, the claim and the command."""
        store: Store = request.app.state.store
        scheme, given = get_authorization_scheme_param(request.headers.get("authorization"))
        token = given if scheme.lower() == "bearer" and given else None
        if token is None or not token.startswith(tokens.PREFIX):
            deps.authenticated(store, token)  # refused (401) before any transaction: no writer waits for it
        key = request.headers.get("idempotency-key")
        query = request.url.query
        try:
            with store.write():
                who = deps.authenticated(store, token)
                if self._actors_only:
                    deps.acting(who)
                call = deps.Mutation(store=store, principal=who, method=request.method,
                                     path=request.url.path + (f"?{query}" if query else ""), body=raw,
                                     key=idempotency.check_key(key) if key is not None else None)
                arguments: dict[str, Any] = {self._call: call, **{name: request.path_params[name]
                                                                   for name in self._path_params}}
                if self._body is not None:
                    name, adapter, default = self._body
                    arguments[name] = _validated(adapter, body, default)
                answer: Response = self.endpoint(**arguments)
                return answer
        except deps.KeptRefusal as refused:
            return refused.mutation.keep(refused.error)
        except LedgerflowError as exc:
            if exc.after_rollback is not None:
                with store.write():
                    exc.after_rollback()  # the refusal's own audit record, as `Mutation.keep` writes it
            raise


def _is_model(hint: Any) -> bool:
    """A pydantic model, or one or None."""
    return any(isinstance(kind, type) and issubclass(kind, BaseModel)
               for kind in (typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)))


def _body(request: Request, raw: bytes) -> Any:
    """The body as FastAPI reads it: nothing, parsed JSON (for a JSON media type), or the bytes themselves.

    Raises:
        InvalidInput: malformed JSON (400, before the token is checked, as FastAPI answers it).
    """
    if not raw:
        return _MISSING
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not (kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))):
        return raw
    if PARSED_JSON in request.scope:
        return request.scope[PARSED_JSON]
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise errors.request_error(RequestValidationError([{
            "type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error", "input": {},
            "ctx": {"error": exc.msg}}])) from None
    except (ValueError, RecursionError):  # a body the input gate could not read as UTF-8 (UTF-16, nested deep)
        raise InvalidInput("There was an error parsing the body", rule="http-error") from None


def _validated(adapter: TypeAdapter[Any], body: Any, default: Any) -> Any:
    """The body model, or a SchemaViolation (422) listing every failing path under `/body`, as FastAPI's."""
    if body is _MISSING:
        if default is _MISSING:
            raise errors.request_error(RequestValidationError([{"type": "missing", "loc": ("body",),
                                                                "msg": "Field required", "input": None}]))
        return default
    try:
        return adapter.validate_python(body)
    except ValidationError as exc:
        raise errors.request_error(RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()])) from None
