"""The accountability pages (SPEC §12): where work waits, the escalation map, the outcome measure."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse, Response

from ledgerflow.api.deps import Actor, ActorMutation, StoreDep
from ledgerflow.api.errors import documented
from ledgerflow.api.models import OutcomeIn, OutcomeOut, WaitingOut
from ledgerflow.domain.escalation_map import map_markdown
from ledgerflow.domain.figures import parse_period
from ledgerflow.domain.review import review_markdown
from ledgerflow.engine import api_queries, outcomes
from ledgerflow.reporting import reports
from ledgerflow.reporting.review_pdf import review_pdf


def router() -> APIRouter:
    api = APIRouter(responses=documented(401))

    @api.get("/reports/waiting", response_model=list[WaitingOut], tags=["reports"], responses=documented(404))
    def waiting(store: StoreDep, who: Actor,
                playbook: Annotated[str | None, Query(description="Only this playbook's runs.")] = None
                ) -> list[WaitingOut]:
        """Every open run the caller sees, each open task with whom it waits on and since when, longest wait
        first (`report waiting`)."""
        return [WaitingOut(**row) for row in api_queries.waiting(store, who, playbook)]

    @api.get("/playbooks/{playbook_id}/map", tags=["playbooks"], responses=documented(404))
    def playbook_map(store: StoreDep, _who: Actor, playbook_id: str,
                     version: Annotated[int | None, Query(ge=1, le=2**31 - 1,
                                                          description="A published version (default: newest).")]
                     = None) -> dict[str, Any]:
        """The one-page escalation map (`playbook map`): the JSON of SPEC §12."""
        return reports.playbook_map(store, playbook_id, version)

    @api.get("/playbooks/{playbook_id}/map.md", tags=["playbooks"], responses=documented(404),
             response_class=PlainTextResponse)
    def playbook_map_markdown(store: StoreDep, _who: Actor, playbook_id: str,
                              version: Annotated[int | None, Query(ge=1, le=2**31 - 1,
                                                                   description="A published version.")] = None
                              ) -> PlainTextResponse:
        """The escalation map as one Markdown page, for a staff review."""
        return PlainTextResponse(map_markdown(reports.playbook_map(store, playbook_id, version)),
                                 media_type="text/markdown; charset=utf-8")

    @api.post("/outcomes/{playbook_id}", response_model=OutcomeOut, status_code=201, tags=["governance"],
              responses=documented(400, 403, 404, 422))
    def record_outcome(call: ActorMutation, playbook_id: str, body: OutcomeIn) -> Response:
        """Record a week's outcome value: the outcome owner or the workflow owner (an integration uses a token
        made for one of them). Recording a week again replaces its value."""
        def run() -> OutcomeOut:
            return OutcomeOut(**outcomes.record(call.store, playbook_id, parse_period(body.period), body.value,
                                                actor=call.principal.actor, channel="api", note=body.note))
        return call.answer(run, 201)

    @api.get("/playbooks/{playbook_id}/review", tags=["governance"], responses=documented(400, 403, 404),
             response_model=None)
    def review(store: StoreDep, who: Actor, playbook_id: str,
               period: Annotated[str | None, Query(description="An ISO week like 2026-W10 (default: this week).")]
               = None, format: PackFormat = "json") -> Response | dict[str, Any]:
        """The weekly review pack of a period (`report review`): JSON, Markdown or PDF, for the owners."""
        chosen = parse_period(period) if period else api_queries.this_week(store)
        return _pack(api_queries.review(store, who, playbook_id, chosen), format)

    @api.get("/tasks/{task_id}/review", tags=["governance"], responses=documented(400, 404), response_model=None)
    def review_of_task(store: StoreDep, who: Actor, task_id: str, format: PackFormat = "json"
                       ) -> Response | dict[str, Any]:
        """The review pack a governance review task looks at (the week its text names), for whoever sees the
        task."""
        return _pack(api_queries.review_of_task(store, who, task_id), format)

    return api


PackFormat = Annotated[Literal["json", "md", "pdf"], Query(description="json (default), md or pdf.")]


def _pack(pack: dict[str, Any], format: str) -> Response | dict[str, Any]:
    """The review pack in the format asked for; the PDF as an attachment named after the playbook and week."""
    if format == "md":
        return PlainTextResponse(review_markdown(pack), media_type="text/markdown; charset=utf-8")
    if format == "pdf":
        name = f"review-{pack['playbook']}-{pack['period']}.pdf"
        return Response(review_pdf(pack), media_type="application/pdf",
                        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"})
    return pack
