"""Approval grants on the server (SPEC §11): request, read and consume, for the MCP tools and the REST API.

A request starts a run of an approval playbook (`examples/agent-action-approval.yaml`) whose input holds the
action, its exact arguments and the reason, and stores the request beside it with a timer that cancels the
decision if nobody takes it in time. Consuming the grant is a conditional update of that row plus an
`approval.consumed` event on the run's chain, in one transaction, so exactly one consumer wins a race.

A refused use changes nothing of the request or its run. It is still recorded, as an `approval.refused` event
written in a transaction of its own after the refused one rolled back (STYLE §2: refusals that must be audited
get their own event type). Inside an enclosing transaction (the REST API's Idempotency-Key) that record is
left to whoever rolls the enclosing transaction back: it is attached to the error as `after_rollback`.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from ledgerflow.domain import grants
from ledgerflow.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, Refused
from ledgerflow.domain.events import Event, authority
from ledgerflow.domain.limits import check_value
from ledgerflow.domain.playbook import DecisionStep
from ledgerflow.domain.runs import RunState
from ledgerflow.domain.timers import Timer
from ledgerflow.domain.times import format_time
from ledgerflow.engine import access, service
from ledgerflow.engine.ids import new_id
from ledgerflow.engine.tokens import Principal
from ledgerflow.storage import grants as grant_rows
from ledgerflow.storage.store import Store, Tx


def request(store: Store, principal: Principal, playbook: str, *, action: str, arguments: Any, reason: str,
            channel: str) -> dict[str, Any]:
    """Ask for a person's approval of one action with exactly these arguments: `{approval, run, status}`.

    Raises:
        InvalidInput: arguments that are not a JSON object, or a playbook without a decision step.
        (and whatever starting the run raises: an unknown or paused playbook, input against its schema)
    """
    check_value({"action": action, "arguments": arguments, "reason": reason}, "the approval request",
                store.settings.limits)
    if not isinstance(arguments, dict):
        raise InvalidInput("arguments must be a JSON object", rule="invalid-input")
    caller = service.Caller(actor=principal.actor, channel=channel)
    with store.write() as tx:
        definition, _ = tx.playbook(playbook)
        if not any(isinstance(step, DecisionStep) for step in definition.steps):
            raise InvalidInput(f"playbook {playbook} has no decision step; request approvals with an approval "
                               "playbook such as agent-action-approval", rule="not-an-approval-playbook")
        run, _ = service.start_run(store, playbook, {"action": action, "arguments": arguments, "reason": reason,
                                                     "agent": principal.actor}, caller, why=reason)
        approval = new_id("ap")
        expires = format_time(tx.now() + grants.REQUEST_TTL)
        grant_rows.insert_approval(
            tx, id=approval, run=run.id, agent=principal.actor, action=action,
            arguments_hash=grants.arguments_hash(arguments), playbook=run.playbook, version=run.version,
            requested_at=format_time(tx.now()), expires_at=expires, consumed_at=None)
        tx.add_timers([Timer(due_at=expires, kind=grants.EXPIRE, run=run.id, task=None, data={"approval": approval})])
    return {"approval": approval, "run": run.id, "status": grants.PENDING}


def _load(tx: Tx, principal: Principal, approval: str) -> tuple[grants.Request, RunState]:
    """The request and its run, for a principal who sees the run; else the NotFound of an unknown id."""
    row = grant_rows.approval(tx, approval)
    if row is None:
        raise NotFound(f"unknown approval {approval!r}", rule="unknown-approval")
    try:
        run = access.visible_run(tx, row.run, principal)
    except NotFound:
        raise NotFound(f"unknown approval {approval!r}", rule="unknown-approval") from None
    return grants.Request(id=row.id, run=row.run, agent=row.agent, action=row.action,
                          arguments_hash=row.arguments_hash, playbook=row.playbook, version=row.version,
                          requested_at=row.requested_at, expires_at=row.expires_at,
                          consumed_at=row.consumed_at), run


def get(store: Store, principal: Principal, approval: str) -> dict[str, Any]:
    """`get_approval`: pending, approved (with the grant), rejected or expired."""
    with store.read() as tx:
        found, run = _load(tx, principal, approval)
        return grants.describe(found, grants.state(found, run, tx.now()))


def consume(store: Store, principal: Principal, approval: str, arguments: Any, *, channel: str) -> dict[str, Any]:
    """Use a grant once, for these exact arguments; records `approval.consumed`.

    Raises:
        NotFound: an approval the principal does not see.
        Forbidden: `approval-mismatch` for an actor other than the agent that asked (not recorded).
        Conflict: `approval-used`, `approval-expired`, `approval-pending`, `approval-rejected`,
            `approval-mismatch` (see `grants.check_use`): the agent's own misuse, recorded as `approval.refused`.
    """
    check_value({"arguments": arguments}, "the arguments", store.settings.limits)
    found: grants.Request | None = None
    try:
        with store.write() as tx:
            request_, run = _load(tx, principal, approval)
            if request_.agent != principal.actor:  # a rights refusal like any other: nothing to record
                raise Forbidden(f"approval {approval} is bound to {request_.agent}, not {principal.actor}",
                                rule="approval-mismatch")
            found = request_
            current = grants.state(found, run, tx.now())
            grants.check_use(found, current, arguments)
            at = format_time(tx.now())
            if not grant_rows.consume_approval(tx, approval, at):
                raise Conflict(f"approval {approval} was used by another call just now; a grant is single-use",
                               rule="approval-used")
            decision = current.decision
            if decision is None:
                raise RuntimeError(f"approval {approval} is approved without a decision")
            tx.append([Event(type="approval.consumed", at=at, actor=principal.actor, channel=channel, run=run.id,
                             task=decision.id, step=decision.step,
                             authority=authority("grant", {"approval": approval, "approver": decision.assignee}),
                             data={"approval": approval, "action": found.action,
                                   "arguments_sha256": found.arguments_hash, "version": found.version})])
            used = grants.Request(**{**_fields(found), "consumed_at": at})
            return grants.describe(used, grants.state(used, run, tx.now()))
    except Refused as exc:
        if found is not None:
            record = partial(_record_refusal, store, principal, found, exc, arguments, channel)
            if store.in_transaction():
                exc.after_rollback = record
            else:
                record()
        raise


def _fields(request: grants.Request) -> dict[str, Any]:
    return {name: getattr(request, name) for name in grants.Request.__dataclass_fields__}


def _record_refusal(store: Store, principal: Principal, request: grants.Request, exc: Refused, arguments: Any,
                    channel: str) -> None:
    """`approval.refused` on the request's run, in a transaction of its own."""
    with store.write() as tx:
        tx.append([Event(type="approval.refused", at=format_time(tx.now()), actor=principal.actor, channel=channel,
                         run=request.run, authority=authority("person", principal.actor),
                         data={"approval": request.id, "rule": exc.rule, "action": request.action,
                               "arguments_sha256": grants.arguments_hash(arguments)})])
