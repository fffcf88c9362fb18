"""The web UI: server-rendered pages over the same use cases as the CLI and the API (issue #9).

Sign-in takes a token (or a guest link) and keeps the actor in a signed, HTTP-only session cookie; every
form carries a CSRF token. Objects the actor may not see answer 404; refusals show as plain messages.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.middleware.sessions import SessionMiddleware

from ledgerflow import access, governance, reports, service
from ledgerflow.audit import chain_problem
from ledgerflow.domain import limits
from ledgerflow.domain.errors import InvalidInput, LedgerflowError, NotFound
from ledgerflow.domain.escalation_map import build_map
from ledgerflow.domain.figures import week_of
from ledgerflow.domain.lint import lint_source
from ledgerflow.domain.playbook import DecisionStep, Playbook
from ledgerflow.domain.runs import RunState, TaskState
from ledgerflow.domain.times import display_time, format_time, parse_time
from ledgerflow.scorecard import figures
from ledgerflow.storage.store import Store
from ledgerflow.timeline import describe
from ledgerflow.web import svg
from ledgerflow.web.actions import action_routes

HERE = Path(__file__).parent
INBOX_PAGE = 100
"""Tasks per inbox page: a person with thousands open still gets the page at once."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a token or guest link signs in: an actor, or a guest limited to one task."""

    actor: str
    task: str | None = None


Authenticate = Callable[[str], Identity | None]


def sso_provider(settings: Any) -> Any:
    """The configured OpenID provider, or None (token sign-in only)."""
    if not (settings.oidc_issuer and settings.oidc_client_id and settings.oidc_client_secret):
        return None
    from ledgerflow.web.sso import Provider

    return Provider(settings.oidc_issuer, settings.oidc_client_id, settings.oidc_client_secret, settings.oidc_claim)


class _Missing(Exception):
    """Answer 404: the object does not exist or the actor may not see it."""


def create_web_app(store: Store, authenticate: Authenticate, *, secret: str | None = None) -> FastAPI:
    """The UI as an ASGI app, to mount at `/` of `ledgerflow serve` (or serve alone in tests)."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    settings = store.settings
    # `lax`, not `strict`: the browser must bring the session back from the sign-in provider's redirect (the
    # OpenID `state` lives there); every form still carries its CSRF token.
    app.add_middleware(SessionMiddleware, secret_key=secret or secrets.token_urlsafe(32), https_only=False,
                       same_site="lax", session_cookie="ledgerflow_session", max_age=settings.session_hours * 3600)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(action_routes(store))
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.filters["when"] = display_time
    templates.env.filters["pretty"] = lambda value: json.dumps(value, indent=2, ensure_ascii=False)

    def identity(request: Request) -> Identity | None:
        actor = request.session.get("actor")
        return Identity(actor=actor, task=request.session.get("guest_task")) if actor else None

    def csrf(request: Request) -> str:
        token = request.session.get("csrf")
        if not token:
            token = request.session["csrf"] = secrets.token_urlsafe(24)
        return str(token)

    def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        who = identity(request)
        return templates.TemplateResponse(request, name, {"me": who, "csrf": csrf(request), **context},
                                          status_code=status)

    def guard(request: Request, form_csrf: str) -> Identity:
        who = identity(request)
        if who is None or not secrets.compare_digest(form_csrf, str(request.session.get("csrf", ""))):
            raise _Missing()
        return who

    @app.exception_handler(_Missing)
    async def missing(request: Request, _: _Missing) -> Response:
        if identity(request) is None:
            return RedirectResponse("/signin", status_code=303)
        return page(request, "missing.html", status=404)

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
            sso, directory, sign_in, lambda request, why: page(request, "signin.html", status=403, error=why,
                                                                 sso=True)))

    @app.get("/signin", response_class=HTMLResponse)
    def signin_form(request: Request) -> Response:
        return page(request, "signin.html", error=None, sso=sso is not None)

    @app.post("/signin", response_class=HTMLResponse)
    def signin(request: Request, token: str = Form(""), csrf_token: str = Form("")) -> Response:
        if not secrets.compare_digest(csrf_token, str(request.session.get("csrf", ""))):
            return page(request, "signin.html", status=400, error="The form expired; please sign in again.")
        who = authenticate(token.strip())
        if who is None or who.task is not None:
            return page(request, "signin.html", status=401, error="That token is not valid.", sso=sso is not None)
        return sign_in(request, who.actor)

    @app.get("/guest/{token}")
    def guest(request: Request, token: str) -> Response:
        who = authenticate(token)
        if who is None or who.task is None:
            return page(request, "signin.html", status=401, error="This link is not valid any more.")
        request.session.clear()
        request.session.update(actor=who.actor, guest_task=who.task, csrf=secrets.token_urlsafe(24))
        return RedirectResponse(f"/tasks/{who.task}", status_code=303)

    @app.post("/signout")
    def signout(request: Request, csrf_token: str = Form("")) -> Response:
        guard(request, csrf_token)
        request.session.clear()
        return RedirectResponse("/signin", status_code=303)

    # ------------------------------------------------------------------------------------- inbox

    def person(request: Request) -> Identity:
        who = identity(request)
        if who is None or who.task is not None:
            raise _Missing()
        return who

    @app.get("/", response_class=HTMLResponse)
    def inbox(request: Request, after: str | None = None) -> Response:
        """The actor's open tasks, nearest deadline first (overdue ones lead), `INBOX_PAGE` at a time."""
        who = person(request)
        with store.read() as tx:
            now = tx.now()
            try:
                mine = tx.due_first(who.actor, after=after, limit=INBOX_PAGE + 1)
            except NotFound:
                return RedirectResponse("/", status_code=303)  # a stale "next" link: back to the first page
            total = tx.open_count(who.actor)
            waiting_on_others, waiting_total = tx.waiting_on_others(who.actor, INBOX_PAGE)
        stamp = format_time(now)

        def overdue(task: TaskState) -> bool:
            deadlines = [d for d in (task.due_at, task.sla_due_at) if d]
            return bool(deadlines) and min(deadlines) < stamp

        shown = mine[:INBOX_PAGE]
        return page(request, "inbox.html", tasks=shown, total=total, overdue={t.id for t in shown if overdue(t)},
                    following=shown[-1].id if len(mine) > INBOX_PAGE else None, paged=after is not None,
                    waiting_on_others=waiting_on_others, waiting_total=waiting_total, now=now)

    # -------------------------------------------------------------------------------------- tasks

    def load_task(who: Identity, task_id: str) -> tuple[TaskState, RunState | None, Playbook | None]:
        if who.task is not None and who.task != task_id:
            raise _Missing()
        with store.read() as tx:
            try:
                run_id = tx.run_of_task(task_id)
            except NotFound:
                raise _Missing() from None
            if run_id is None:
                task = tx.standalone(ids=[task_id])[task_id]
                playbook = tx.playbook(task.playbook)[0]
                run = None
                visible = access.sees_standalone(tx, task, who.actor)
            else:
                run = tx.load_run(run_id)
                playbook = tx.playbook(run.playbook, run.version)[0]
                found = run.task(task_id)
                if found is None:
                    raise _Missing()
                task = found
                visible = access.sees_run(tx, run, who.actor)
        if who.task is None and not visible:
            raise _Missing()
        return task, run, playbook

    @app.get("/tasks/{task_id}", response_class=HTMLResponse)
    def task_page(request: Request, task_id: str, message: str | None = None, error: str | None = None) -> Response:
        who = identity(request)
        if who is None:
            raise _Missing()
        task, run, playbook = load_task(who, task_id)
        step = playbook.by_id.get(task.step) if playbook else None
        with store.read() as tx:
            now = tx.now()
            directory = tx.directory()
        earlier = [t for t in (run.tasks if run else ()) if t.id != task.id and t.output is not None
                   and t.status == "completed"] if who.task is None else []
        decisions = [t for t in (run.tasks if run else ()) if t.outcome] if who.task is None else []
        recommendations = [r for r in (run.recommendations if run else ()) if r.step == task.step]
        rights = None
        if isinstance(step, DecisionStep):
            rights = {"recommend": step.rights.recommend, "approve": task.approver or step.rights.approve,
                      "execute": step.rights.execute, "inform": step.rights.inform, "options": step.options,
                      "rationale_required": step.rationale_required}
        sla_left = None
        if task.sla_due_at and task.is_open:  # a decided task has no time left to count
            sla_left = (parse_time(task.sla_due_at) - now) / timedelta(hours=1)
        may_recommend = bool(isinstance(step, DecisionStep) and directory and task.is_open and any(
            who.actor in directory.members(name) for name in step.rights.recommend))
        return page(request, "task.html", task=task, run=run, playbook=playbook, step=step, earlier=earlier,
                    decisions=decisions, recommendations=recommendations, rights=rights, sla_left=sla_left,
                    is_assignee=task.assignee == who.actor and task.is_open, may_recommend=may_recommend,
                    may_reassign=bool(playbook and task.is_open and who.task is None and task.assignee is not None
                                      and who.actor in (playbook.workflow_owner, playbook.outcome.owner)),
                    guest=who.task is not None, message=message, error=error)

    def act(request: Request, task_id: str, form_csrf: str, verb: str, **args: Any) -> Response:
        who = guard(request, form_csrf)
        load_task(who, task_id)
        if who.task is not None and verb != "complete":
            raise _Missing()
        try:
            service.task_command(store, verb, task_id, service.Caller(actor=who.actor, channel="web"), **args)
        except LedgerflowError as exc:
            return task_page(request, task_id, error=f"{exc.message} [{exc.rule}]")
        return RedirectResponse(f"/tasks/{task_id}?message={verb}+recorded", status_code=303)

    @app.post("/tasks/{task_id}/start")
    def start_task(request: Request, task_id: str, csrf_token: str = Form("")) -> Response:
        return act(request, task_id, csrf_token, "start")

    @app.post("/tasks/{task_id}/complete")
    def complete_task(request: Request, task_id: str, csrf_token: str = Form(""), output: str = Form("{}")) -> Response:
        try:
            data = limits.parse_json(output or "{}", "The output", store.settings.limits)
        except InvalidInput as exc:
            return task_page(request, task_id, error=exc.message)
        return act(request, task_id, csrf_token, "complete", output=data)

    @app.post("/tasks/{task_id}/decide")
    def decide_task(request: Request, task_id: str, csrf_token: str = Form(""), outcome: str = Form(""),
                    rationale: str = Form(""), to: str = Form("")) -> Response:
        return act(request, task_id, csrf_token, "decide", outcome=outcome, rationale=rationale, to=to or None)

    @app.post("/tasks/{task_id}/recommend")
    def recommend_task(request: Request, task_id: str, csrf_token: str = Form(""), outcome: str = Form(""),
                       rationale: str = Form("")) -> Response:
        return act(request, task_id, csrf_token, "recommend", outcome=outcome, rationale=rationale)

    @app.post("/tasks/{task_id}/reassign")
    def reassign_task(request: Request, task_id: str, csrf_token: str = Form(""), to: str = Form(""),
                      reason: str = Form("")) -> Response:
        return act(request, task_id, csrf_token, "reassign", to=to.strip(), reason=reason)

    # --------------------------------------------------------------------------------------- runs

    @app.get("/runs/{run_id}", response_class=HTMLResponse)
    def run_page(request: Request, run_id: str) -> Response:
        who = person(request)
        with store.read() as tx:
            try:
                run = tx.load_run(run_id)
            except NotFound:
                raise _Missing() from None
            playbook = tx.playbook(run.playbook, run.version)[0]
            if not access.sees_run(tx, run, who.actor):
                raise _Missing()
            events = tx.events(run=run_id)
            intact = chain_problem(run_id, events, tx.chain_head(run_id)) is None
        timeline = [{**e, "text": describe(e)} for e in events]
        return page(request, "run.html", run=run, playbook=playbook, timeline=timeline, intact=intact)

    # ---------------------------------------------------------------------------------- playbooks

    @app.get("/playbooks", response_class=HTMLResponse)
    def playbooks(request: Request) -> Response:
        person(request)
        with store.read() as tx:
            rows = [{"id": r.id, "version": r.version, "versions": r.versions,
                     "state": (tx.governance(r.id).state if tx.governance(r.id) else "continue")}
                    for r in tx.list_playbooks()]
        return page(request, "playbooks.html", playbooks=rows)

    @app.get("/playbooks/{playbook_id}", response_class=HTMLResponse)
    def playbook_page(request: Request, playbook_id: str) -> Response:
        person(request)
        with store.read() as tx:
            try:
                playbook, version = tx.playbook(playbook_id)
            except NotFound:
                raise _Missing() from None
            versions = tx.playbook_versions(playbook_id)
            directory = tx.directory()
        findings = lint_source(versions[-1].source, versions[-1].file, directory)
        return page(request, "playbook.html", playbook=playbook, version=version, versions=versions,
                    findings=findings, diagram=svg.diagram(playbook), steps=list(playbook.walk()),
                    escalation_map=build_map(playbook, version, directory))

    @app.get("/waiting", response_class=HTMLResponse)
    def waiting_board(request: Request) -> Response:
        """Where work waits: every open run the person sees, longest wait first (SPEC §12)."""
        who = person(request)
        return page(request, "waiting.html", rows=reports.waiting(store, visible_to=who.actor))

    # --------------------------------------------------------------------------------- governance

    @app.get("/governance/{playbook_id}", response_class=HTMLResponse)
    def governance_page(request: Request, playbook_id: str, error: str | None = None,
                        message: str | None = None) -> Response:
        who = person(request)
        with store.read() as tx:
            try:
                playbook, _ = tx.playbook(playbook_id)
            except NotFound:
                raise _Missing() from None
            now = tx.now()
            weeks = [week_of(now - timedelta(days=7 * back)) for back in range(5, -1, -1)]
            cards = [figures(tx, playbook_id, week) for week in weeks]
            state = tx.governance(playbook_id)
            start, end = weeks[0].bounds[0], format_time(now + timedelta(seconds=1))
            crossed = [e for e in tx.events_of_type("governance.review_opened", start, end)
                       if e["data"].get("playbook") == playbook_id and e["data"].get("trigger")]
            decided = [e for e in tx.events_of_type("governance.decided", "0", end)
                       if e["data"].get("playbook") == playbook_id][-5:]
        labels = [card["period"] for card in cards]
        series: list[tuple[str, list[float | None], bool]] = [
            ("Throughput (ended runs)", [float(c["throughput"]) for c in cards], False),
            ("Exception rate", [c["exception_rate"] for c in cards], True),
            ("First-pass yield", [c["first_pass_yield"] for c in cards], True),
            ("Decision latency, median hours", [c["decision_latency"]["median_hours"] for c in cards], False),
        ]
        metric = playbook.outcome.metric
        if metric is not None:  # beside the execution figures: did faster decisions move the outcome?
            unit = f" ({metric.unit})" if metric.unit else ""
            series.append((f"Outcome: {metric.name}{unit}, target {metric.target:g}",
                           [(c["outcome"] or {}).get("value") for c in cards], False))
        charts = [(title, svg.chart(title, labels, values, percent=percent)) for title, values, percent in series]
        owner = who.actor in (playbook.workflow_owner, playbook.outcome.owner)
        return page(request, "governance.html", playbook=playbook, card=cards[-1], cards=cards, charts=charts,
                    state=state, crossed=crossed, decided=decided, owner=owner, error=error, message=message)

    @app.post("/governance/{playbook_id}/decide")
    def governance_decide(request: Request, playbook_id: str, csrf_token: str = Form(""), decision: str = Form(""),
                          rationale: str = Form("")) -> Response:
        who = guard(request, csrf_token)
        if who.task is not None:
            raise _Missing()
        try:
            governance.decide(store, playbook_id, actor=who.actor, channel="web", decision=decision,
                              rationale=rationale, follow_ups=[])
        except LedgerflowError as exc:
            return governance_page(request, playbook_id, error=f"{exc.message} [{exc.rule}]")
        return RedirectResponse(f"/governance/{playbook_id}?message={decision}+recorded", status_code=303)

    return app
