"""The operations board (issue #21 §2): every open run the person may see, where it waits and on whom,
since when; blocked and overdue first; filters by playbook, step and person; a count per person; and, for
a playbook's owners, reassigning a task with the reason in one step."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ledgerflow.domain.errors import NotFound
from ledgerflow.engine import access
from ledgerflow.reporting import worklists
from ledgerflow.web.context import Identity, Web

PAGE = 50
"""Board rows per page."""


def routes(web: Web) -> APIRouter:
    api = APIRouter()

    @api.get("/waiting", response_class=HTMLResponse)
    def waiting_board(request: Request, playbook: str = "", step: str = "", person: str = "", page: int = 0,
                      message: str | None = None) -> Response:
        """Where work waits (SPEC §12), as the operations board."""
        who = web.person(request)
        return web.page(request, "waiting.html", message=message,
                        **board_context(web, who, playbook, step, person, max(page, 0)))

    @api.get("/waiting/rows", response_class=HTMLResponse)
    def waiting_rows(request: Request, playbook: str = "", step: str = "", person: str = "",
                     page: int = 0) -> Response:
        """The board's list alone: what a live update swaps in."""
        who = web.person(request)
        return HTMLResponse(web.render(request, "_board_list.html",
                                       **board_context(web, who, playbook, step, person, max(page, 0))))

    return api


def board_context(web: Web, who: Identity, playbook: str, step: str, person: str, page: int) -> dict[str, Any]:
    where = worklists.BoardFilter(playbook=playbook or None, step=step or None, person=person or None)
    with web.store.read() as tx:
        found = worklists.board(tx, who.actor, where, offset=page * PAGE, limit=PAGE)
        owned = {pair for pair in found.versions if who.actor in access.owners(tx.playbook(*pair)[0])}
        published = [row.id for row in tx.list_playbooks()]
        steps: list[str] = []
        if playbook:
            try:
                steps = [s.id for s in tx.playbook(playbook)[0].walk() if s.type not in ("parallel", "check")]
            except NotFound:
                steps = []
        directory = tx.directory()
    base = {k: v for k, v in (("playbook", playbook), ("step", step)) if v}
    full = {**base, "person": person} if person else base
    return {"board": found, "owned": owned, "playbooks": published, "steps": steps,
            "persons": [a.id for a in (directory.actors if directory else ())],
            "filters": {"playbook": playbook, "step": step, "person": person}, "query": urlencode(full),
            "base_query": urlencode(base) + "&" if base else "", "page": page,
            "pages": (found.total + PAGE - 1) // PAGE}
