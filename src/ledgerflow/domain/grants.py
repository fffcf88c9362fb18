"""Approval grants (SPEC §11): what a person's approval of one agent action allows, worked out from the run.

A request is a run of an approval playbook whose first decision step is the approval. Its grant is bound to
the agent that asked, the action's name, the SHA-256 of the canonical JSON of its arguments, the playbook
version and an expiry, and it may be used once. Everything here is pure: the service reads the run and the
request's row and asks these functions what the state is and whether a use is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ledgerflow.domain.canonical import digest
from ledgerflow.domain.errors import Conflict
from ledgerflow.domain.runs import RunState, TaskState
from ledgerflow.domain.states import RunStatus, TaskStatus
from ledgerflow.domain.times import display_time, format_time, parse_time

PENDING, APPROVED, REJECTED, EXPIRED = "pending", "approved", "rejected", "expired"
EXPIRE = "approval-expiry"
"""The timer kind that cancels a request still undecided at its expiry."""
REQUEST_TTL = timedelta(hours=24)
"""How long a request waits for its decision before it expires and its decision task is cancelled."""
GRANT_TTL = timedelta(hours=1)
"""How long an approved grant may be used after the decision."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """One approval request as stored beside its run."""

    id: str
    run: str
    agent: str
    action: str
    arguments_hash: str
    playbook: str
    version: int
    requested_at: str
    expires_at: str
    consumed_at: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class State:
    """What `get_approval` answers: the status, and once decided, the decision it rests on."""

    status: str
    decision: TaskState | None
    grant_expires_at: str | None
    detail: str | None = None


def arguments_hash(arguments: Any) -> str:
    """SHA-256 of the RFC 8785 canonical JSON of an action's arguments."""
    return digest(arguments)


def _approval_step(run: RunState) -> list[TaskState]:
    """The current attempt's tasks of the run's first decision step (several with a quorum)."""
    decisions = [t for t in run.tasks if t.type == "decision"]
    if not decisions:
        return []
    step = decisions[0].step
    latest = max(t.attempt for t in decisions if t.step == step)
    return [t for t in decisions if t.step == step and t.attempt == latest and t.status != TaskStatus.SENT_BACK]


def undecided(run: RunState) -> bool:
    """True while the approval decision is still open: the only time an expiry cancels the request's run."""
    return run.status == RunStatus.RUNNING and any(t.is_open for t in _approval_step(run))


def state(request: Request, run: RunState, now: datetime) -> State:
    """The request's status at `now`: pending, approved, rejected or expired."""
    seats = _approval_step(run)
    decided = [t for t in seats if t.status == TaskStatus.DECIDED]
    refused = next((t for t in decided if t.outcome != "approve"), None)
    if refused is not None:
        return State(status=REJECTED, decision=refused, grant_expires_at=None, detail=refused.rationale)
    if seats and len(decided) == len(seats):
        last = max(decided, key=lambda t: t.ended_at or "")
        expires = format_time(parse_time(str(last.ended_at)) + GRANT_TTL)
        lapsed = request.consumed_at is None and format_time(now) >= expires
        return State(status=EXPIRED if lapsed else APPROVED, decision=last, grant_expires_at=expires,
                     detail="the grant was not used before it expired" if lapsed else None)
    if run.status == RunStatus.CANCELLED:
        return State(status=EXPIRED, decision=None, grant_expires_at=None,
                     detail="the request was cancelled before a decision")
    if run.status != RunStatus.RUNNING or format_time(now) >= request.expires_at:
        return State(status=EXPIRED, decision=None, grant_expires_at=None,
                     detail=f"no decision before {request.expires_at}")
    return State(status=PENDING, decision=None, grant_expires_at=None)


def check_use(request: Request, current: State, arguments: Any) -> None:
    """Whether the grant may be used now with these arguments.

    Raises:
        Conflict: `approval-used` (a second use), `approval-expired`, `approval-pending`, `approval-rejected`,
            or `approval-mismatch` (arguments other than the approved ones).
    """
    if request.consumed_at is not None:
        raise Conflict(f"approval {request.id} was used at {display_time(request.consumed_at)}; a grant is "
                       "single-use",
                       rule="approval-used")
    if current.status == EXPIRED:
        raise Conflict(f"approval {request.id} has expired: {current.detail}", rule="approval-expired")
    if current.status == PENDING:
        raise Conflict(f"approval {request.id} is still waiting for a decision", rule="approval-pending")
    if current.status == REJECTED:
        raise Conflict(f"approval {request.id} was not approved: {current.detail}", rule="approval-rejected")
    if arguments_hash(arguments) != request.arguments_hash:
        raise Conflict(f"approval {request.id} covers other arguments for {request.action}; a changed action "
                       "needs a new approval", rule="approval-mismatch")


def describe(request: Request, current: State) -> dict[str, Any]:
    """`get_approval`'s answer: the status and, once approved, the grant with what it is bound to."""
    answer: dict[str, Any] = {"approval": request.id, "run": request.run, "status": current.status,
                              "action": request.action, "agent": request.agent,
                              "requested_at": display_time(request.requested_at),
                              "expires_at": display_time(request.expires_at),
                              "detail": current.detail, "grant": None}
    decision = current.decision
    if decision is not None and current.grant_expires_at is not None:
        answer["grant"] = {"agent": request.agent, "action": request.action,
                           "arguments_sha256": request.arguments_hash, "playbook": request.playbook,
                           "version": request.version, "approver": decision.assignee,
                           "on_behalf_of": decision.on_behalf_of, "decision": decision.id,
                           "rationale": decision.rationale, "decided_at": display_time(decision.ended_at),
                           "expires_at": display_time(current.grant_expires_at),
                           "consumed_at": display_time(request.consumed_at)}
    return answer
