"""Playbooks: read by every actor; linted by every actor; published by their owners (see `api_commands.publish`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from ledgerflow.api.deps import YAML_BODY, Actor, ActorMutation, StoreDep, YamlText
from ledgerflow.api.errors import documented
from ledgerflow.api.expensive import Expensive
from ledgerflow.api.models import FindingOut, LintOut, PlaybookOut, PlaybookSummary, Published
from ledgerflow.domain.findings import ERROR
from ledgerflow.engine import api_commands, api_queries


def router(expensive: Expensive) -> APIRouter:
    api = APIRouter(prefix="/playbooks", tags=["playbooks"], responses=documented(401))

    @api.get("", response_model=list[PlaybookSummary])
    def list_playbooks(store: StoreDep, _who: Actor) -> list[PlaybookSummary]:
        """Every published playbook's newest version, with its owners and governance state."""
        return [PlaybookSummary(**row) for row in api_queries.playbooks(store)]

    @api.post("/lint", response_model=LintOut, openapi_extra=YAML_BODY, responses=documented(400, 413, 415, 503))
    async def lint_playbook(store: StoreDep, _who: Actor, text: YamlText) -> LintOut:
        """Lint a playbook (YAML body) against the loaded directory; nothing is stored."""
        findings = await expensive.run(lambda: api_queries.lint(store, text, "playbook.yaml"))
        return LintOut(ok=not any(f.severity == ERROR for f in findings),
                       findings=[FindingOut(**f.to_dict()) for f in findings])

    @api.post("", response_model=Published, status_code=201, openapi_extra=YAML_BODY,
              responses={200: {"model": Published, "description": "Identical content: no new version."},
                         **documented(400, 403, 409, 413, 415, 422, 503)})
    async def publish_playbook(call: ActorMutation, text: YamlText) -> Response:
        """Publish a playbook (YAML body): a new version unless the content is identical (200 then).

        For a published id, only the workflow or outcome owner of its newest version; for a new id, an actor
        the playbook names as its workflow or outcome owner. Lint errors refuse it (409, with the findings).
        """
        return await expensive.run(lambda: call.answer(
            lambda: Published(**api_commands.publish(call.store, call.principal, text)),
            lambda result: 201 if getattr(result, "created", False) else 200))

    @api.get("/{playbook_id}", response_model=PlaybookOut, responses=documented(404))
    def show_playbook(store: StoreDep, _who: Actor, playbook_id: str,
                      version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None) -> PlaybookOut:
        """One published version (the newest unless `version` is given), with its YAML source."""
        return PlaybookOut(**api_queries.playbook(store, playbook_id, version))

    return api
