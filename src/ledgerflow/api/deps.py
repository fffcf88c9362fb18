"""Request dependencies: the store, bearer authentication, YAML bodies, and idempotent mutations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from ledgerflow.api.errors import PROBLEM, UnsupportedMediaType, problem_of, problem_response, status_of
from ledgerflow.api.responses import JsonResponse
from ledgerflow.domain.errors import InvalidInput, LedgerflowError, NotFound
from ledgerflow.engine import idempotency, tokens
from ledgerflow.engine.tokens import AuthenticationFailed, Principal
from ledgerflow.ops import telemetry
from ledgerflow.storage.store import Store

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain")
YAML_BODY: dict[str, Any] = {"requestBody": {
    "required": True, "description": f"A playbook as YAML text ({', '.join(YAML_TYPES)}).",
    "content": {"application/yaml": {"schema": {"type": "string"}}}}}

bearer = HTTPBearer(auto_error=False, scheme_name="bearer",
                    description="A token from `ledgerflow token create`, or the token of a guest link.")


async def get_store(request: Request) -> Store:
    """The app's store. `async` because it does no I/O: FastAPI runs plain `def` dependencies in the thread
    pool, a hop per dependency per request; only those that touch the database should pay it."""
    store: Store = request.app.state.store
    return store


StoreDep = Annotated[Store, Depends(get_store)]


def authenticated(store: Store, token: str | None) -> Principal:
    """Whoever a bearer token speaks for, named on the request's log line (`actor`).

    Raises:
        AuthenticationFailed: no token, or one that is unknown, revoked or expired (401).
    """
    if token is None:
        raise AuthenticationFailed("send `Authorization: Bearer TOKEN` (see `ledgerflow token create`)",
                                   rule="token-missing")
    found = tokens.authenticate(store, token)
    fields = telemetry.request_fields.get()
    if fields is not None:
        fields["actor"] = found.actor
    return found


def acting(who: Principal) -> Principal:
    """An actor of the directory; a guest token reaches nothing but its task (404 `guest-scope`)."""
    if who.is_guest:
        raise NotFound("a guest link reaches its one task only", rule="guest-scope")
    return who


def principal(store: StoreDep,
              credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Principal:
    """Whoever the bearer token speaks for: an actor, or a guest."""
    return authenticated(store, credentials.credentials if credentials is not None else None)


async def actor(who: Annotated[Principal, Depends(principal)]) -> Principal:
    """An actor of the directory (no I/O: see `get_store`)."""
    return acting(who)


Anyone = Annotated[Principal, Depends(principal)]
"""An actor or a guest: routes that serve a guest's task."""
Actor = Annotated[Principal, Depends(actor)]


async def yaml_text(request: Request) -> str:
    """The request body as YAML text (the routes that take a playbook)."""
    kind = request.headers.get("content-type", "application/yaml").split(";")[0].strip().lower()
    if kind not in YAML_TYPES:
        raise UnsupportedMediaType(f"send the playbook as YAML ({', '.join(YAML_TYPES)}), not {kind}")
    try:
        return (await request.body()).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("the request body is not UTF-8 text", rule="bad-encoding") from None


YamlText = Annotated[str, Depends(yaml_text)]


@dataclass(frozen=True, slots=True, kw_only=True)
class Mutation:
    """A mutating call: who makes it, and the Idempotency-Key that makes a retry safe."""

    store: Store
    principal: Principal
    method: str
    path: str
    body: bytes
    key: str | None

    @property
    def scope(self) -> str:
        """Keys belong to one actor; a guest's keys to its token."""
        return f"guest:{self.principal.token_id}" if self.principal.is_guest else self.principal.actor

    def answer(self, call: Callable[[], BaseModel], status: int | Callable[[BaseModel], int] = 200) -> Response:
        """Run the use case once per key; a retry gets the first answer (its status and body) back.

        Inside an open write transaction (a one-hop route's, which checked the token in it) the claim, the use
        case and its answer join that transaction, and a refusal after the claim is raised as `KeptRefusal`:
        whoever rolls the transaction back keeps it (`keep`).
        """
        if self.key is None:
            result = call()
            return JsonResponse(result.model_dump(mode="json"), status_code=_status(status, result))
        if self.store.in_transaction():
            return self._once(self.key, call, status)
        try:
            with self.store.write():  # the claim, the use case and the answer it records: one commit
                return self._once(self.key, call, status)
        except KeptRefusal as refused:
            return refused.mutation.keep(refused.error)

    def _once(self, key: str, call: Callable[[], BaseModel], status: int | Callable[[BaseModel], int]) -> Response:
        kept = idempotency.claim(self.store, **self._claim(key))
        if kept is not None:
            return _replay(kept)
        try:
            result = call()
        except LedgerflowError as exc:
            if status_of(exc) >= 500:
                raise  # may pass on a retry: nothing is kept
            raise KeptRefusal(self, exc) from exc
        body, code = result.model_dump(mode="json"), _status(status, result)
        idempotency.record(self.store, actor=self.scope, key=key, answer=idempotency.Answer(status=code, body=body))
        return JsonResponse(body, status_code=code)

    def keep(self, exc: LedgerflowError) -> Response:
        """After the refused use case's transaction rolled back (it wrote nothing): keep its refusal for replays."""
        if self.key is None:
            raise RuntimeError("a refusal is kept under an Idempotency-Key only")
        code, problem = problem_of(exc)
        with self.store.write():
            if exc.after_rollback is not None:
                exc.after_rollback()  # the refusal's own audit record
            kept = idempotency.claim(self.store, **self._claim(self.key))
            if kept is None:
                idempotency.record(self.store, actor=self.scope, key=self.key,
                                   answer=idempotency.Answer(status=code, body=problem))
                return problem_response(code, problem)
        return _replay(kept)

    def _claim(self, key: str) -> dict[str, str]:
        return {"actor": self.scope, "key": key, "method": self.method, "path": self.path,
                "fingerprint": idempotency.request_hash(self.method, self.path, self.body)}


class KeptRefusal(Exception):
    """A use case refused after its Idempotency-Key was claimed, inside a transaction that must roll back before
    the refusal is kept for replays (`Mutation.keep`). Not a ledgerflow error: uncaught, it is a bug (500)."""

    def __init__(self, mutation: Mutation, error: LedgerflowError) -> None:
        super().__init__(error.message)
        self.mutation = mutation
        self.error = error


def _replay(kept: idempotency.Answer) -> Response:
    media = PROBLEM if kept.status >= 400 else "application/json"
    return JsonResponse(kept.body, status_code=kept.status, media_type=media, headers={"Idempotent-Replayed": "true"})


def _status(status: int | Callable[[BaseModel], int], result: BaseModel) -> int:
    return status if isinstance(status, int) else status(result)


IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key",
    description="Makes a retry safe: the first answer to this key is returned again and nothing is written "
                "twice. A different request with the same key answers 422 `idempotency-key-reused`.")]


async def _mutation(request: Request, store: Store, who: Principal, key: str | None) -> Mutation:
    query = request.url.query
    return Mutation(store=store, principal=who, method=request.method,
                    path=request.url.path + (f"?{query}" if query else ""), body=await request.body(),
                    key=idempotency.check_key(key) if key is not None else None)


async def actor_mutation(request: Request, store: StoreDep, who: Actor, key: IdempotencyKey = None) -> Mutation:
    return await _mutation(request, store, who, key)


async def anyone_mutation(request: Request, store: StoreDep, who: Anyone, key: IdempotencyKey = None) -> Mutation:
    return await _mutation(request, store, who, key)


ActorMutation = Annotated[Mutation, Depends(actor_mutation)]
AnyoneMutation = Annotated[Mutation, Depends(anyone_mutation)]
