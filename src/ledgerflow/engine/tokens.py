"""Bearer tokens (SPEC §6, §7): create, revoke, invite a guest to one task, authenticate.

A token is `lf_` + 32 random bytes (URL-safe base64) and is shown once; the database keeps only its SHA-256,
so a copy of the database lets nobody act. `token.created` and `token.revoked` events name the token by its
id, never by its value or hash.

Expiry is measured on the database clock, like every other time in ledgerflow: on a simulated-clock
database a token expires when `clock advance` passes its `expires_at`.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ledgerflow.domain.durations import parse_duration
from ledgerflow.domain.errors import Forbidden, InvalidInput, InvalidTransition, NotFound
from ledgerflow.domain.events import Event, authority
from ledgerflow.domain.runs import TaskState
from ledgerflow.domain.times import display_time, format_time
from ledgerflow.engine.ids import new_id
from ledgerflow.engine.service import Caller
from ledgerflow.storage import tokens as token_rows
from ledgerflow.storage.store import Store, Tx

PREFIX = "lf_"
ACTOR = "actor"
GUEST = "guest"
ADMIN = "admin"
"""The CLI without `--as`: a trusted local channel that reads every run (SPEC §6); no token has this kind."""
GUEST_TTL = timedelta(days=14)
"""How long a guest link works unless `--expires` says otherwise."""
GUEST_TYPES = ("task", "action", "follow_up")
"""Task types a guest may be invited to: work that produces data, never a decision or a review."""
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class AuthenticationFailed(Forbidden):
    """Raised when a bearer token is missing, unknown, revoked or expired, or its actor left the directory
    (HTTP 401; CLI exit 3 for a bad LEDGERFLOW_TOKEN)."""

    default_rule = "unauthenticated"


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """Who a valid token speaks for."""

    token_id: str
    actor: str
    """The token's actor; for a guest token, the actor who invited the guest (the guest acts on the task's
    assignee's behalf)."""
    kind: str = ACTOR
    task: str | None = None
    """The one task a guest token reaches."""
    email: str | None = None
    """The guest's e-mail address."""

    @property
    def is_guest(self) -> bool:
        return self.kind == GUEST


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _expiry(tx: Tx, expires: str | None, default: timedelta | None) -> str | None:
    if expires is None:
        return format_time(tx.now() + default) if default is not None else None
    try:
        return format_time(tx.now() + parse_duration(expires))
    except ValueError as exc:
        raise InvalidInput(f"--expires: {exc}", rule="bad-duration") from None


def _authority(caller: Caller) -> dict[str, Any]:
    return authority("admin", caller.os_user) if caller.actor == "admin" else authority("person", caller.actor)


def _insert(tx: Tx, *, kind: str, actor: str, created_by: str, expires_at: str | None, task: str | None = None,
            email: str | None = None) -> tuple[str, str]:
    token, token_id = PREFIX + secrets.token_urlsafe(32), new_id("tok")
    token_rows.insert_token(
        tx, id=token_id, hash=hash_token(token), actor=actor, kind=kind, task=task, email=email, created_by=created_by,
        created_at=format_time(tx.now()), expires_at=expires_at, revoked_at=None, revoked_by=None)
    return token, token_id


def create(store: Store, actor: str, caller: Caller, *, expires: str | None = None) -> dict[str, Any]:
    """`token create --actor ID [--expires D]`: a bearer token acting as a directory actor, shown once.

    Raises:
        NotFound: the actor is not a person or agent in the directory.
        InvalidInput: `expires` is not a duration.
        Forbidden: a token holder (LEDGERFLOW_TOKEN) asks for another actor's token.
    """
    with store.write() as tx:
        directory = tx.directory()
        if directory is None or not directory.is_actor(actor):
            raise NotFound(f"unknown actor {actor!r}: a token acts as a person or agent in the directory",
                           rule="unknown-actor")
        if caller.actor not in ("admin", actor):
            raise Forbidden(f"{caller.actor} may create tokens for themselves only, not for {actor}",
                            rule="token-for-another-actor")
        expires_at = _expiry(tx, expires, None)
        token, token_id = _insert(tx, kind=ACTOR, actor=actor, created_by=caller.actor, expires_at=expires_at)
        tx.append([Event(type="token.created", at=format_time(tx.now()), actor=caller.actor, channel=caller.channel,
                         authority=_authority(caller),
                         data={"token_id": token_id, "kind": ACTOR, "actor": actor, "expires_at": expires_at})])
    return {"id": token_id, "actor": actor, "token": token, "expires_at": display_time(expires_at)}


def revoke(store: Store, token_id: str, caller: Caller) -> dict[str, Any]:
    """`token revoke ID`: the token stops working at once.

    Raises:
        NotFound: no token has that id.
        Conflict: it was revoked already.
        Forbidden: a token holder revokes a token that is neither theirs nor a guest link they sent.
    """
    with store.write() as tx:
        row = token_rows.token(tx, token_id)
        if row is None:
            raise NotFound(f"unknown token {token_id!r}", rule="unknown-token")
        if caller.actor not in ("admin", row.actor):
            raise Forbidden(f"{caller.actor} may revoke only their own tokens and the guest links they sent",
                            rule="token-for-another-actor")
        if row.revoked_at is not None:
            raise InvalidTransition(f"token {token_id} was revoked at {display_time(row.revoked_at)}",
                                    rule="token-revoked")
        at = format_time(tx.now())
        token_rows.revoke_token(tx, token_id, at=at, by=caller.actor)
        tx.append([Event(type="token.revoked", at=at, actor=caller.actor, channel=caller.channel,
                         run=_run_of(tx, row.task), task=row.task, authority=_authority(caller),
                         data={"token_id": token_id, "kind": row.kind, "actor": row.actor})])
    return {"id": token_id, "actor": row.actor, "kind": row.kind, "revoked_at": display_time(at)}


def listing(store: Store, caller: Caller, *, actor: str | None = None) -> list[dict[str, Any]]:
    """`token list [--actor ID]`: tokens and guest links by id, never their value or hash, oldest first.

    A token holder (LEDGERFLOW_TOKEN) sees the tokens it could revoke: its own and the guest links it sent.
    """
    with store.read() as tx:
        now = format_time(tx.now())
        found = token_rows.tokens(tx, actor=actor, held_by=None if caller.actor == "admin" else caller.actor)
    return [{"id": row.id, "actor": row.actor, "kind": row.kind, "task": row.task, "email": row.email,
             "created_by": row.created_by, "created_at": display_time(row.created_at),
             "expires_at": display_time(row.expires_at), "revoked_at": display_time(row.revoked_at),
             "state": ("revoked" if row.revoked_at is not None
                       else "expired" if row.expires_at is not None and row.expires_at <= now else "active")}
            for row in found]


def _run_of(tx: Tx, task_id: str | None) -> str | None:
    return None if task_id is None else tx.run_of_task(task_id)


def _task(tx: Tx, task_id: str) -> tuple[TaskState, str | None, str | None]:
    """The task with its playbook's workflow owner and outcome owner (of the run's version)."""
    run_id = tx.run_of_task(task_id)
    if run_id is None:
        task = tx.standalone(ids=[task_id])[task_id]
        playbook, _ = tx.playbook(task.playbook)
    else:
        run = tx.load_run(run_id)
        found = run.task(task_id)
        if found is None:
            raise NotFound(f"unknown task {task_id!r}", rule="unknown-task")
        task = found
        playbook, _ = tx.playbook(run.playbook, run.version)
    return task, playbook.workflow_owner, playbook.outcome.owner


def invite_guest(store: Store, task_id: str, email: str, caller: Caller, *,
                 expires: str | None = None) -> dict[str, Any]:
    """`guest invite TASK --as ACTOR --email ADDR`: a link whose token reaches this one task only.

    The inviter is the task's assignee, the workflow owner or the outcome owner. The guest reads the task
    and completes it; the completion is recorded on the assignee's behalf (see README, REST API).

    Raises:
        NotFound: an unknown task or inviter.
        InvalidInput: a task type that takes no guest, a malformed address or duration.
        Forbidden: a decision or review task, or an inviter who is neither the assignee nor an owner.
        InvalidTransition: the task is not open.
    """
    if not _EMAIL.match(email):
        raise InvalidInput(f"--email {email!r} is not an e-mail address", rule="bad-email")
    with store.write() as tx:
        directory = tx.directory()
        if directory is None or not directory.is_actor(caller.actor):
            raise NotFound(f"unknown actor {caller.actor!r}: say who invites with --as (the assignee or an owner)",
                           rule="unknown-actor")
        task, workflow_owner, outcome_owner = _task(tx, task_id)
        if task.type in ("decision", "review"):
            raise Forbidden(f"task {task_id} is a {task.type}: judgment stays with the people who hold the right; "
                            "a guest is never invited to it", rule="guest-on-decision")
        if task.type not in GUEST_TYPES:
            raise InvalidInput(f"task {task_id} is a {task.type}; guests are invited to task, action or follow_up "
                               "tasks", rule="wrong-task-type")
        if not task.is_open or task.assignee is None:
            raise InvalidTransition(f"task {task_id} is {task.status}; a guest is invited to an open, assigned task",
                                    rule="task-state")
        if caller.actor == task.assignee:
            held = authority("assignee")
        elif caller.actor in (workflow_owner, outcome_owner):
            held = authority("owner", "workflow owner" if caller.actor == workflow_owner else "outcome owner")
        else:
            raise Forbidden(f"only the assignee ({task.assignee}), the workflow owner ({workflow_owner}) or the "
                            f"outcome owner ({outcome_owner}) may invite a guest to task {task_id}",
                            rule="guest-invite-not-allowed")
        expires_at = _expiry(tx, expires, GUEST_TTL)
        token, token_id = _insert(tx, kind=GUEST, actor=caller.actor, created_by=caller.actor,
                                  expires_at=expires_at, task=task_id, email=email)
        tx.append([Event(type="token.created", at=format_time(tx.now()), actor=caller.actor, channel=caller.channel,
                         run=task.run, task=task_id, step=task.step, authority=held,
                         data={"token_id": token_id, "kind": GUEST, "email": email, "expires_at": expires_at})])
        base_url = tx.settings.base_url
    return {"task": task_id, "email": email, "id": token_id, "link": f"{base_url}/guest/{token}",
            "expires_at": display_time(expires_at)}


def authenticate(store: Store, token: str) -> Principal:
    """The principal a token speaks for.

    Raises:
        AuthenticationFailed: unknown, revoked or expired, or its actor is no longer in the directory.
    """
    if not token.startswith(PREFIX):
        raise AuthenticationFailed("the bearer token is not a ledgerflow token", rule="token-invalid")
    with store.read() as tx:
        row = token_rows.token_by_hash(tx, hash_token(token))
        if row is None:
            raise AuthenticationFailed("the bearer token is unknown", rule="token-invalid")
        if row.revoked_at is not None:
            raise AuthenticationFailed(f"the bearer token was revoked at {display_time(row.revoked_at)}",
                                       rule="token-revoked")
        if row.expires_at is not None and row.expires_at <= format_time(tx.now()):
            raise AuthenticationFailed(f"the bearer token expired at {display_time(row.expires_at)}",
                                       rule="token-expired")
        directory = tx.directory()
        if directory is None or not directory.is_actor(row.actor):
            raise AuthenticationFailed(f"the token's actor {row.actor!r} is no longer in the directory",
                                       rule="token-actor-unknown")
    return Principal(token_id=row.id, actor=row.actor, kind=row.kind, task=row.task, email=row.email)
