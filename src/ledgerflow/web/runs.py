"""Runs (issue #21 §3, §4): the list with search, filters and pages; the run page with its tasks, timeline
and data as labelled fields; starting a run from a form generated from the playbook's input schema."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from ledgerflow.domain.attachments import Document
from ledgerflow.domain.errors import InvalidInput, LedgerflowError, NotFound
from ledgerflow.engine import access, service
from ledgerflow.reporting import summaries, worklists
from ledgerflow.reporting.timeline import describe
from ledgerflow.trust.audit import chain_problem
from ledgerflow.web import documents, forms
from ledgerflow.web.context import Identity, Missing, Web
from ledgerflow.web.tasks import status_of

PAGE = 50
"""Runs per page of the list."""


def routes(web: Web) -> APIRouter:
    api = APIRouter()

    @api.get("/runs", response_class=HTMLResponse)
    def run_list(request: Request, q: str = "", playbook: str = "", status: str = "", period: str = "",
                 started_by: str = "", after: str | None = None) -> Response:
        """The runs the person may see, newest first, searched and filtered."""
        who = web.person(request)
        where = worklists.RunFilter(search=q or None, playbook=playbook or None, status=status or None,
                                    period=period or None, started_by=started_by or None)
        error, code = None, 200
        with web.store.read() as tx:
            try:
                rows, following = worklists.runs(tx, who.actor, where, after=after, limit=PAGE)
            except InvalidInput as exc:
                (rows, following), error, code = ([], None), f"{exc.message} [{exc.rule}]", 400
            published = [row.id for row in tx.list_playbooks()]
            directory = tx.directory()
        filters = {"q": q, "playbook": playbook, "status": status, "period": period, "started_by": started_by}
        return web.page(request, "runs.html", status=code, rows=rows, error=error, filters=filters,
                        playbooks=published, statuses=worklists.RUN_STATUSES, periods=list(worklists.PERIODS),
                        persons=[a.id for a in (directory.actors if directory else ())],
                        following=following, paged=after is not None,
                        query=urlencode({k: v for k, v in filters.items() if v}))

    @api.get("/runs/new", response_class=HTMLResponse)
    def new_run(request: Request, playbook: str = "") -> Response:
        web.person(request)
        return start_form(request, playbook)

    @api.post("/runs/new", response_class=HTMLResponse)
    async def start_run(request: Request) -> Response:
        """Start a run as the signed-in person, with the documents chosen on the form; a refused start shows
        the API's message and writes nothing."""
        async with request.form() as posted:
            form = {k: v for k, v in posted.items() if isinstance(v, str)}
            who = web.guard(request, form.get("csrf_token", ""))  # before any file is stored
            if who.task is not None:
                raise Missing()
            await run_in_threadpool(playbook_of, form.get("playbook", ""))  # an unknown one stores no file
            try:
                files = await documents.received(web.store, posted.getlist("attachments"))
            except LedgerflowError as exc:
                return await run_in_threadpool(start_refused, request, form, exc)
        return await run_in_threadpool(start, request, who, form, files)

    def playbook_of(playbook_id: str) -> Any:
        with web.store.read() as tx:
            try:
                return tx.playbook(playbook_id)[0]
            except NotFound:
                raise Missing() from None

    def start(request: Request, who: Identity, form: dict[str, str], files: tuple[Document, ...]) -> Response:
        playbook_id = form.get("playbook", "")
        playbook = playbook_of(playbook_id)
        try:
            data = forms.document(playbook.input_schema, forms.posted(form), web.store.settings.limits)
            run, _ = service.start_run(web.store, playbook_id, data, service.Caller(actor=who.actor, channel="web"),
                                       why=form.get("why", "").strip() or None, attachments=files)
        except LedgerflowError as exc:
            return start_refused(request, form, exc)
        return RedirectResponse(f"/runs/{run.id}?message=run+started", status_code=303)

    def start_refused(request: Request, form: dict[str, str], exc: LedgerflowError) -> Response:
        return start_form(request, form.get("playbook", ""), values=forms.posted(form), why=form.get("why", ""),
                          errors=forms.field_errors(exc), error=f"{exc.message} [{exc.rule}]",
                          status=status_of(exc))

    def start_form(request: Request, playbook_id: str, *, values: dict[str, str] | None = None, why: str = "",
                   errors: dict[str, str] | None = None, error: str | None = None, status: int = 200) -> Response:
        with web.store.read() as tx:
            published = [row.id for row in tx.list_playbooks()]
            chosen: Any = None
            if playbook_id:
                try:
                    chosen = tx.playbook(playbook_id)[0]
                except NotFound:
                    raise Missing() from None
        return web.page(request, "start.html", status=status, playbooks=published, playbook=chosen, why=why,
                        fields=forms.fields(chosen.input_schema, values, errors) if chosen else [], error=error)

    @api.get("/runs/{run_id}", response_class=HTMLResponse)
    def run_page(request: Request, run_id: str, message: str | None = None) -> Response:
        who = web.person(request)
        with web.store.read() as tx:
            try:
                run = tx.load_run(run_id)
            except NotFound:
                raise Missing() from None
            playbook = tx.playbook(run.playbook, run.version)[0]
            if not access.sees_run(tx, run, who.actor):
                raise Missing()
            events, hashes = tx.chain_tail(run_id, 0)
            intact = chain_problem(run_id, events, tx.chain_head(run_id), hashes=hashes) is None
            summary = summaries.of_runs(tx, [run.id]).get(run.id)
        timeline = [{**e, "text": describe(e, playbook)} for e in events]
        return web.page(request, "run.html", run=run, playbook=playbook, timeline=timeline, intact=intact,
                        summary=summary, data=forms.shown(playbook.input_schema, run.input), message=message)

    return api
