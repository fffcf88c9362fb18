"""Oversight: audit verification, scorecards, governance decisions and the reports.

Scorecards and the per-playbook reports (ownership, waits) are for the playbook's workflow and outcome
owners (403 otherwise: a playbook is no secret, its figures are its owners'). `report stalled` and
`report clarity` list only what the caller may see.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from ledgerflow.api.deps import Actor, ActorMutation, StoreDep
from ledgerflow.api.errors import documented
from ledgerflow.api.models import (
    AgentAutonomyOut,
    AgentScoreOut,
    AutonomyChangeOut,
    AutonomyIn,
    ClarityReport,
    GovernanceIn,
    GovernanceOut,
    ScorecardOut,
    StalledOut,
    VerifyOut,
)
from ledgerflow.domain.errors import InvalidInput
from ledgerflow.domain.figures import Period, parse_period, span
from ledgerflow.domain.times import display_time
from ledgerflow.engine import api_queries, autonomy, governance
from ledgerflow.ops import instruments
from ledgerflow.storage.store import Store
from ledgerflow.trust import audit

PeriodQuery = Annotated[str | None, Query(description="An ISO week like 2026-W10 (default: this week).")]
SinceQuery = Annotated[str | None, Query(description="Start of the period (date or RFC 3339), with `until`.")]
UntilQuery = Annotated[str | None, Query(description="End of the period (exclusive), with `since`.")]


def _period(store: Store, period: str | None, since: str | None, until: str | None) -> Period:
    """`period`, or `since` with `until`, else the current ISO week by the database clock."""
    if since or until:
        if not (since and until) or period:
            raise InvalidInput("give period, or both since and until", rule="bad-period")
        return span(since, until)
    return parse_period(period) if period else api_queries.this_week(store)


def router() -> APIRouter:
    api = APIRouter(responses=documented(401))

    @api.get("/audit/verify", response_model=VerifyOut, tags=["audit"])
    def verify(store: StoreDep, _who: Actor) -> VerifyOut:
        """Recompute the hash chain and replay the state (`ledgerflow audit verify`)."""
        result = audit.verify(store)
        instruments.VERIFICATIONS.labels(result="ok" if result["ok"] else "failed").inc()
        return VerifyOut(**result)

    @api.get("/scorecards/{playbook_id}", response_model=ScorecardOut, tags=["governance"],
             responses=documented(400, 403, 404))
    def scorecard(store: StoreDep, who: Actor, playbook_id: str, period: PeriodQuery = None,
                  since: SinceQuery = None, until: UntilQuery = None, by_channel: bool = False) -> ScorecardOut:
        """The governance figures of a playbook over a period (SPEC §5), for its owners; `by_channel=true` adds
        the decision latency of each channel."""
        chosen = _period(store, period, since, until)
        return ScorecardOut(**api_queries.scorecard(store, who, playbook_id, chosen, by_channel=by_channel))

    @api.post("/governance/{playbook_id}/decisions", response_model=GovernanceOut, status_code=201,
              tags=["governance"], responses=documented(400, 403, 404, 422))
    def decide(call: ActorMutation, playbook_id: str, body: GovernanceIn) -> Response:
        """continue, stabilize, pause or stop, by the outcome or workflow owner, with follow-ups."""
        def run() -> GovernanceOut:
            result: dict[str, Any] = governance.decide(
                call.store, playbook_id, actor=call.principal.actor, channel="api", decision=body.decision,
                rationale=body.rationale, follow_ups=[(f.text, f.owner, f.due) for f in body.follow_ups])
            return GovernanceOut(**{**result, "decided_at": display_time(result["decided_at"])})
        return call.answer(run, 201)

    @api.get("/governance/{playbook_id}/autonomy", response_model=list[AgentAutonomyOut], tags=["governance"],
             responses=documented(403, 404))
    def autonomy_now(store: StoreDep, who: Actor, playbook_id: str) -> list[AgentAutonomyOut]:
        """What each agent may decide at each decision step now, with the owners' latest decision on it (for
        the playbook's owners)."""
        return [AgentAutonomyOut(**row) for row in autonomy.current(store, playbook_id, actor=who.actor)]

    @api.post("/governance/{playbook_id}/autonomy", response_model=AutonomyChangeOut, status_code=201,
              tags=["governance"], responses=documented(400, 403, 404, 422))
    def autonomy_change(call: ActorMutation, playbook_id: str, body: AutonomyIn) -> Response:
        """Widen, narrow, withdraw or restore what an agent may decide at a step, by the outcome or workflow
        owner, with a rationale; enforced from the next decision, without republishing the playbook."""
        def run() -> AutonomyChangeOut:
            return AutonomyChangeOut(**autonomy.change(
                call.store, playbook_id, actor=call.principal.actor, channel="api", agent=body.agent,
                step=body.step, change=body.change, limit=body.limit, rationale=body.rationale))
        return call.answer(run, 201)

    @api.get("/reports/stalled", response_model=list[StalledOut], tags=["reports"])
    def stalled(store: StoreDep, who: Actor) -> list[StalledOut]:
        """Open tasks past due and blocked ownership gaps, among the tasks the caller sees."""
        return [StalledOut(**row) for row in api_queries.stalled(store, who)]

    @api.get("/reports/agents", response_model=list[AgentScoreOut], tags=["reports"])
    def agents(store: StoreDep, who: Actor) -> list[AgentScoreOut]:
        """Per agent and decision step of the playbooks the caller owns: recommendations, agreement with the
        final outcome, overrides, decisions and reversals (`report agents`)."""
        return [AgentScoreOut(**row) for row in api_queries.agents(store, who)]

    @api.get("/reports/clarity", response_model=ClarityReport, tags=["reports"])
    def clarity(store: StoreDep, who: Actor) -> ClarityReport:
        """Lint findings of the playbooks the caller owns, and open ownership gaps it sees."""
        return ClarityReport(**api_queries.clarity(store, who))

    @api.get("/reports/ownership/{playbook_id}", tags=["reports"], responses=documented(400, 403, 404))
    def ownership(store: StoreDep, who: Actor, playbook_id: str, period: PeriodQuery = None,
                  since: SinceQuery = None, until: UntilQuery = None) -> dict[str, Any]:
        """Changes of assignee and ownership gaps over a period (`report ownership`), for the owners."""
        return api_queries.ownership(store, who, playbook_id, _period(store, period, since, until))

    @api.get("/reports/waits/{playbook_id}", tags=["reports"], responses=documented(400, 403, 404))
    def waits(store: StoreDep, who: Actor, playbook_id: str, period: PeriodQuery = None,
              since: SinceQuery = None, until: UntilQuery = None) -> dict[str, Any]:
        """Waits per step and assignee over a period (`report waits`), for the owners."""
        return api_queries.waits(store, who, playbook_id, _period(store, period, since, until))

    @api.get("/reports/friction/{playbook_id}", tags=["reports"], responses=documented(400, 403, 404))
    def friction(store: StoreDep, who: Actor, playbook_id: str, period: PeriodQuery = None,
                 since: SinceQuery = None, until: UntilQuery = None) -> dict[str, Any]:
        """Per step over a period: waits, re-routes, nudges per completion, send-back loops, handoffs and
        ping-pong, and the handoffs per run ended (`report friction`), for the owners."""
        return api_queries.friction(store, who, playbook_id, _period(store, period, since, until))

    return api
