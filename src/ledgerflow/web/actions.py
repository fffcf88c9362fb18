"""The pages behind e-mail decision links (SPEC §13): GET confirms, POST decides.

GET never acts, since mail scanners prefetch links: it shows who the link is for, the case and the data under
decision, and a form with a rationale field. The POST is CSRF-safe by a double-submit cookie of its own
(SameSite=Strict, scoped to /act): a page on another site can neither read the value nor send the cookie. The
web UI's session is only read, to refuse a link to someone signed in as another person; the session cookie is
never rewritten here, so following a link does not sign anyone out.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from ledgerflow.channels.decision_mail import label, pretty
from ledgerflow.domain.errors import InvalidInput, LedgerflowError, NotFound
from ledgerflow.engine import action_links
from ledgerflow.engine.action_links import LinkRefused
from ledgerflow.storage.store import Store

CSRF_COOKIE = "ledgerflow_act_csrf"
STATUS = {"link-unknown": 404, "link-not-yours": 403, "link-used": 410, "link-expired": 410,
          "link-superseded": 409}
"""HTTP status of each refusal; a refused decision answers as its error class does (403, 409, 400)."""


def action_routes(store: Store) -> APIRouter:
    """`/act/<token>`: to include in the web UI's app, whose session middleware says who is signed in."""
    router = APIRouter()
    templates = Jinja2Templates(directory=Path(__file__).parent / "templates" / "act")
    templates.env.filters["label"] = label
    templates.env.filters["pretty"] = pretty

    def refused(request: Request, error: LedgerflowError) -> Response:
        task = error.details.get("task")
        if isinstance(error, LinkRefused):
            status = STATUS.get(error.rule, 409)
        else:
            status = 404 if isinstance(error, NotFound) else 400 if isinstance(error, InvalidInput) else 403
        return templates.TemplateResponse(request, "refused.html", {"error": error, "task": task},
                                          status_code=status)

    @router.get("/act/{token}", response_class=HTMLResponse)
    def confirm(request: Request, token: str) -> Response:
        try:
            offer = action_links.offer(store, token)
        except LinkRefused as exc:
            return refused(request, exc)
        value = secrets.token_urlsafe(24)
        response = templates.TemplateResponse(request, "confirm.html", {"offer": offer, "csrf": value},
                                              headers={"cache-control": "no-store", "referrer-policy": "no-referrer"})
        response.set_cookie(CSRF_COOKIE, value, path="/act", httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")
        return response

    @router.post("/act/{token}", response_class=HTMLResponse)
    def decide(request: Request, token: str, csrf_token: str = Form(""), rationale: str = Form("")) -> Response:
        cookie = request.cookies.get(CSRF_COOKIE, "")
        if not cookie or not secrets.compare_digest(cookie.encode(), csrf_token.encode()):
            return refused(request, InvalidInput("The confirmation form expired or did not come from this site; "
                                                 "open the link from the e-mail again.", rule="csrf"))
        signed_in = request.session.get("actor") if not request.session.get("guest_task") else None
        try:
            done = action_links.use(store, token, rationale, signed_in=signed_in)
        except LedgerflowError as exc:
            return refused(request, exc)
        return templates.TemplateResponse(request, "done.html", {"done": done}, headers={"cache-control": "no-store"})

    return router
