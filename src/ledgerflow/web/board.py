"""The operations board (issue #21 §2): where every open run the person may see waits, and on whom."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ledgerflow import reports
from ledgerflow.web.context import Web


def routes(web: Web) -> APIRouter:
    api = APIRouter()

    @api.get("/waiting", response_class=HTMLResponse)
    def waiting_board(request: Request) -> Response:
        """Where work waits: every open run the person sees, longest wait first (SPEC §12)."""
        who = web.person(request)
        return web.page(request, "waiting.html", rows=reports.waiting(web.store, visible_to=who.actor))

    return api
