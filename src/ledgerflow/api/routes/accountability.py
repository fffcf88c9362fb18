"""The accountability pages (SPEC §12): where work waits, the escalation map, the outcome measure."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ledgerflow import views
from ledgerflow.api.deps import Actor, StoreDep
from ledgerflow.api.errors import documented
from ledgerflow.api.models import WaitingOut


def router() -> APIRouter:
    api = APIRouter(responses=documented(401))

    @api.get("/reports/waiting", response_model=list[WaitingOut], tags=["reports"], responses=documented(404))
    def waiting(store: StoreDep, who: Actor,
                playbook: Annotated[str | None, Query(description="Only this playbook's runs.")] = None
                ) -> list[WaitingOut]:
        """Every open run the caller sees, each open task with whom it waits on and since when, longest wait
        first (`report waiting`)."""
        return [WaitingOut(**row) for row in views.waiting(store, who, playbook)]

    return api
