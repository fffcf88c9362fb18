"""The web UI: server-rendered pages over the same use cases as the CLI and the API (issues #9, #21).

Sign-in takes a token (or a guest link) and keeps the actor in a signed, HTTP-only session cookie; every
form carries a CSRF token. Objects the actor may not see answer 404; refusals show as plain messages. The
routes live in one module per page family; `context.Web` holds what they share.
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from ledgerflow.domain.errors import NotFound
from ledgerflow.domain.runs import TaskState
from ledgerflow.domain.times import format_time
from ledgerflow.reporting import summaries
from ledgerflow.storage.store import Store
from ledgerflow.web import board, live, playbooks, runs, tasks
from ledgerflow.web.actions import action_routes
from ledgerflow.web.context import HERE, Authenticate, Identity, LiveConfig, Missing, Web

__all__ = ["Identity", "LiveConfig", "create_web_app"]

INBOX_PAGE = 100
"""Tasks per inbox page: a person with thousands open still gets the page at once."""


def sso_provider(settings: Any) -> Any:
    """The configured OpenID provider, or None (token sign-in only)."""
    if not (settings.oidc_issuer and settings.oidc_client_id and settings.oidc_client_secret):
        return None
    from ledgerflow.web.sso import Provider

    return Provider(settings.oidc_issuer, settings.oidc_client_id, settings.oidc_client_secret, settings.oidc_claim)


def create_web_app(store: Store, authenticate: Authenticate, *, secret: str | None = None,
                   live_config: LiveConfig | None = None) -> FastAPI:
    """The UI as an ASGI app, to mount at `/` of `ledgerflow serve` (or serve alone in tests)."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    settings = store.settings
    # `lax`, not `strict`: the browser must bring the session back from the sign-in provider's redirect (the
    # OpenID `state` lives there); every form still carries its CSRF token.
    app.add_middleware(SessionMiddleware, secret_key=secret or secrets.token_urlsafe(32), https_only=False,
                       same_site="lax", session_cookie="ledgerflow_session", max_age=settings.session_hours * 3600)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    web = Web(store, authenticate, live_config or LiveConfig())
    app.state.web = web  # `app.state.web.close()` ends the live streams before the store closes
    app.include_router(action_routes(store))

    @app.exception_handler(Missing)
    async def missing(request: Request, _: Missing) -> Response:
        if web.identity(request) is None:
            return RedirectResponse("/signin", status_code=303)
        return web.page(request, "missing.html", status=404)

    # ----------------------------------------------------------------------------------- sign-in

    sso = sso_provider(settings)

    def sign_in(request: Request, actor: str) -> Response:
        request.session.clear()
        request.session.update(actor=actor, csrf=secrets.token_urlsafe(24))
        return RedirectResponse("/", status_code=303)

    if sso is not None:
        from ledgerflow.web import sso as single_sign_on

        def directory() -> Any:
            with store.read() as tx:
                return tx.directory()

        app.include_router(single_sign_on.router(
            sso, directory, sign_in, lambda request, why: web.page(request, "signin.html", status=403, error=why,
                                                                     sso=True)))

    @app.get("/signin", response_class=HTMLResponse)
    def signin_form(request: Request) -> Response:
        return web.page(request, "signin.html", error=None, sso=sso is not None)

    @app.post("/signin", response_class=HTMLResponse)
    def signin(request: Request, token: str = Form(""), csrf_token: str = Form("")) -> Response:
        if not secrets.compare_digest(csrf_token, str(request.session.get("csrf", ""))):
            return web.page(request, "signin.html", status=400, error="The form expired; please sign in again.")
        who = authenticate(token.strip())
        if who is None or who.task is not None:
            return web.page(request, "signin.html", status=401, error="That token is not valid.",
                            sso=sso is not None)
        return sign_in(request, who.actor)

    @app.get("/guest/{token}")
    def guest(request: Request, token: str) -> Response:
        who = authenticate(token)
        if who is None or who.task is None:
            return web.page(request, "signin.html", status=401, error="This link is not valid any more.")
        request.session.clear()
        request.session.update(actor=who.actor, guest_task=who.task, csrf=secrets.token_urlsafe(24))
        return RedirectResponse(f"/tasks/{who.task}", status_code=303)

    @app.post("/signout")
    def signout(request: Request, csrf_token: str = Form("")) -> Response:
        web.guard(request, csrf_token)
        request.session.clear()
        return RedirectResponse("/signin", status_code=303)

    # ------------------------------------------------------------------------------------- inbox

    @app.get("/", response_class=HTMLResponse)
    def inbox(request: Request, after: str | None = None) -> Response:
        """The actor's open tasks, nearest deadline first (overdue ones lead), `INBOX_PAGE` at a time."""
        who = web.person(request)
        try:
            context = inbox_context(web, who, after)
        except NotFound:
            return RedirectResponse("/", status_code=303)  # a stale "next" link: back to the first page
        return web.page(request, "inbox.html", **context)

    @app.get("/inbox/rows", response_class=HTMLResponse)
    def inbox_rows(request: Request) -> Response:
        """The inbox's list alone: what a live update swaps in."""
        who = web.person(request)
        return HTMLResponse(web.render(request, "_inbox_list.html", **inbox_context(web, who, None)))

    for family in (tasks, runs, board, playbooks, live):
        app.include_router(family.routes(web))
    return app


def inbox_context(web: Web, who: Identity, after: str | None) -> dict[str, Any]:
    """The first (or a following) page of the actor's open tasks, each with its run's summary.

    Raises:
        NotFound: `after` is not one of the actor's tasks.
    """
    with web.store.read() as tx:
        now = tx.now()
        mine = tx.due_first(who.actor, after=after, limit=INBOX_PAGE + 1)
        total = tx.open_count(who.actor)
        waiting_on_others, waiting_total = tx.waiting_on_others(who.actor, INBOX_PAGE)
        about = summaries.of_runs(tx, [t.run for t in (*mine, *waiting_on_others)])
    stamp = format_time(now)

    def overdue(task: TaskState) -> bool:
        deadlines = [d for d in (task.due_at, task.sla_due_at) if d]
        return bool(deadlines) and min(deadlines) < stamp

    shown = mine[:INBOX_PAGE]
    return {"tasks": shown, "total": total, "overdue": {t.id for t in shown if overdue(t)}, "about": about,
            "following": shown[-1].id if len(mine) > INBOX_PAGE else None, "paged": after is not None,
            "waiting_on_others": waiting_on_others, "waiting_total": waiting_total, "now": now}
