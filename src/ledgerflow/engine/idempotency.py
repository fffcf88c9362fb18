"""Idempotency keys of the REST API: the first answer to a mutating call, replayed on a retry.

A key belongs to one actor. The first call claims it (a row with no status, "in flight"), runs its use case
and records the answer, all in one transaction: either the key, the command's effects and its answer are
kept together, or nothing is (a process that dies mid-way leaves the key free for the retry). A retry with
the same request gets the recorded answer and writes nothing; the same key with another request is
refused; while the first request's transaction is open, another with the same key waits for it or is told
it is in flight (409). A refusal (4xx) is recorded too, in a transaction of its own, since the refused
use case wrote nothing; a failure that may pass on a retry (5xx) keeps nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ledgerflow.domain.errors import Conflict, InvalidInput
from ledgerflow.domain.times import format_time
from ledgerflow.storage import idempotency as keys
from ledgerflow.storage.store import Store

MAX_KEY = 255


class KeyReused(InvalidInput):
    """Raised when an Idempotency-Key comes back with a different request (HTTP 422, as the IETF
    Idempotency-Key draft asks; CLI exit 2)."""

    default_rule = "idempotency-key-reused"


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """A recorded answer: its HTTP status and JSON body."""

    status: int
    body: Any


def request_hash(method: str, path: str, body: bytes) -> str:
    """What makes two requests "the same": method, path with query, and the exact body bytes."""
    digest = hashlib.sha256()
    for part in (method.upper().encode(), b"\n", path.encode(), b"\n", body):
        digest.update(part)
    return digest.hexdigest()


def check_key(key: str) -> str:
    """Raises InvalidInput unless the key is 1-255 visible ASCII characters."""
    if not 0 < len(key) <= MAX_KEY or not all(33 <= ord(c) <= 126 for c in key):
        raise InvalidInput("Idempotency-Key must be 1 to 255 visible ASCII characters (a UUID is a good key)",
                           rule="bad-idempotency-key")
    return key


def claim(store: Store, *, actor: str, key: str, method: str, path: str, fingerprint: str) -> Answer | None:
    """Claim a key for a new request, or return the answer recorded for the same request.

    Raises:
        KeyReused: the key was used for a different request.
        Conflict: the first request with this key has not answered yet (rule `idempotency-key-in-flight`).
    """
    try:
        with store.write() as tx:
            row = keys.find_key(tx, actor, key)
            if row is None:
                keys.claim_key(tx, actor=actor, key=key, method=method, path=path, request_hash=fingerprint,
                               created_at=format_time(datetime.now(UTC)))
                return None
    except Conflict:  # another request inserted the same key between our read and our insert
        raise _in_flight(key) from None
    if row.request_hash != fingerprint:
        raise KeyReused(f"Idempotency-Key {key!r} was first used for {row.method} {row.path} with another body; "
                        "use a new key for a new request", details={"method": row.method, "path": row.path})
    if row.status is None:
        raise _in_flight(key)
    return Answer(status=int(row.status), body=row.response)


def _in_flight(key: str) -> Conflict:
    return Conflict(f"the request with Idempotency-Key {key!r} is still being processed; retry later",
                    rule="idempotency-key-in-flight")


def record(store: Store, *, actor: str, key: str, answer: Answer) -> None:
    """Keep the first answer for replays."""
    with store.write() as tx:
        keys.record_answer(tx, actor=actor, key=key, status=answer.status, response=answer.body)


def once(store: Store, *, actor: str, key: str, method: str, path: str, fingerprint: str,
         call: Callable[[], Any]) -> tuple[Any, bool]:
    """Run `call` once per key: the claim, what `call` writes and the JSON answer it returns commit together.

    Returns:
        The answer, and whether it is the one recorded by an earlier call (nothing was written then).

    Raises:
        KeyReused: the key was used for a different request.
        Conflict: the first call with this key has not committed yet.
    """
    with store.write():
        kept = claim(store, actor=actor, key=key, method=method, path=path, fingerprint=fingerprint)
        if kept is not None:
            return kept.body, True
        body = call()
        record(store, actor=actor, key=key, answer=Answer(status=200, body=body))
    return body, False
