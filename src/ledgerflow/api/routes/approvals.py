"""Approval grants (SPEC §11) over REST: the same use cases as the MCP tools, with channel `api`."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from ledgerflow.api.deps import Actor, ActorMutation, StoreDep
from ledgerflow.api.errors import documented
from ledgerflow.api.models import ApprovalIn, ApprovalOut, ConsumeIn
from ledgerflow.engine import approvals
from ledgerflow.engine.api_commands import CHANNEL


def router() -> APIRouter:
    api = APIRouter(prefix="/approvals", tags=["approvals"], responses=documented(401))

    @api.post("", response_model=ApprovalOut, status_code=201, responses=documented(400, 404, 409, 422))
    def request_approval(call: ActorMutation, body: ApprovalIn) -> Response:
        """Ask for a person's approval of one action with exactly these arguments: starts a run of the approval
        playbook, whose decision cancels itself if nobody takes it before the request expires."""
        return call.answer(lambda: ApprovalOut(**approvals.request(
            call.store, call.principal, body.playbook, action=body.action, arguments=body.arguments,
            reason=body.reason, channel=CHANNEL)), 201)

    @api.get("/{approval}", response_model=ApprovalOut, responses=documented(404))
    def get_approval(store: StoreDep, who: Actor, approval: str) -> ApprovalOut:
        """pending, approved (with the grant: approver, action, arguments' SHA-256, version, expiry), rejected
        or expired."""
        return ApprovalOut(**approvals.get(store, who, approval))

    @api.post("/{approval}/consume", response_model=ApprovalOut, responses=documented(403, 404, 409, 422))
    def consume_approval(call: ActorMutation, approval: str, body: ConsumeIn) -> Response:
        """Use the grant once, right before the action runs, with the arguments it will run with; records
        `approval.consumed`. Other arguments, a second use or an expired grant answer 409 (`approval-mismatch`,
        `approval-used`, `approval-expired`) and are recorded as `approval.refused`."""
        return call.answer(lambda: ApprovalOut(**approvals.consume(call.store, call.principal, approval,
                                                                   body.arguments, channel=CHANNEL)))

    return api
