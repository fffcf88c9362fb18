"""The task page (issue #21 §5): what is asked and why, the data and earlier outputs as labelled fields, the
decision rights, and the one form the person may use: decide (no outcome chosen for them), complete (a form
made from the step's `produces`), recommend, or reassign (owners)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from ledgerflow.domain import limits
from ledgerflow.domain.attachments import Document
from ledgerflow.domain.errors import InvalidInput, LedgerflowError, NotFound
from ledgerflow.domain.playbook import DecisionStep, Playbook
from ledgerflow.domain.runs import RunState, TaskState
from ledgerflow.engine import access, service
from ledgerflow.reporting import summaries
from ledgerflow.reporting.review import period_of_review, review_pack
from ledgerflow.reporting.review_pdf import review_pdf
from ledgerflow.web import documents, forms
from ledgerflow.web.context import Identity, Missing, Web


def load_task(web: Web, who: Identity, task_id: str) -> tuple[TaskState, RunState | None, Playbook | None]:
    """The task with its run and playbook version, when `who` may see it (else `Missing`)."""
    if who.task is not None and who.task != task_id:
        raise Missing()
    with web.store.read() as tx:
        try:
            run_id = tx.run_of_task(task_id)
        except NotFound:
            raise Missing() from None
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
                raise Missing()
            task = found
            visible = access.sees_run(tx, run, who.actor)
    if who.task is None and not visible:
        raise Missing()
    return task, run, playbook


def routes(web: Web) -> APIRouter:
    api = APIRouter()

    def task_page(request: Request, task_id: str, message: str | None = None, error: str | None = None,
                  values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                  status: int = 200) -> Response:
        who = web.identity(request)
        if who is None:
            raise Missing()
        task, run, playbook = load_task(web, who, task_id)
        step = playbook.by_id.get(task.step) if playbook else None
        guest = who.task is not None
        with web.store.read() as tx:
            directory = tx.directory()
            summary = summaries.of_runs(tx, [task.run]).get(task.run or "") if not guest else None
            decided = [e for e in tx.events(run=task.run) if e["task"] == task.id and e["type"] == "task.decided"] \
                if task.run and task.outcome else []
        by_step = playbook.by_id if playbook else {}
        earlier = [] if guest else [
            (t, forms.shown(getattr(by_step.get(t.step), "produces", None), t.output))
            for t in (run.tasks if run else ()) if t.id != task.id and t.output is not None and t.status == "completed"]
        decisions = [t for t in (run.tasks if run else ()) if t.outcome] if not guest else []
        recommendations = [r for r in (run.recommendations if run else ()) if r.step == task.step]
        rights = None
        if isinstance(step, DecisionStep):
            rights = {"recommend": step.rights.recommend, "approve": task.approver or step.rights.approve,
                      "execute": step.rights.execute, "inform": step.rights.inform, "options": step.options,
                      "rationale_required": step.rationale_required}
        may_recommend = bool(isinstance(step, DecisionStep) and directory and task.is_open and any(
            who.actor in directory.members(name) for name in step.rights.recommend))
        produces = getattr(step, "produces", None)
        return web.page(
            request, "task.html", status=status, task=task, run=run, playbook=playbook, step=step, summary=summary,
            data=forms.shown(playbook.input_schema if playbook else None, run.input if run else None),
            earlier=earlier, decisions=decisions, recommendations=recommendations, rights=rights,
            decided=decided[-1] if decided else None,
            output_fields=forms.fields(produces, values, errors) if produces else None,
            is_assignee=task.assignee == who.actor and task.is_open, may_recommend=may_recommend,
            may_reassign=bool(playbook and task.is_open and not guest and task.assignee is not None
                              and who.actor in (playbook.workflow_owner, playbook.outcome.owner)),
            guest=guest, message=message, error=error,
            attachments=documents.listed(web.store, documents.principal(who.actor, who.task), run))

    @api.get("/tasks/{task_id}", response_class=HTMLResponse)
    def show(request: Request, task_id: str, message: str | None = None, error: str | None = None) -> Response:
        return task_page(request, task_id, message=message, error=error)

    def act(request: Request, task_id: str, form_csrf: str, verb: str, back: str | None = None,
            **args: Any) -> Response:
        who = web.guard(request, form_csrf)
        load_task(web, who, task_id)
        if who.task is not None and verb != "complete":
            raise Missing()
        try:
            service.task_command(web.store, verb, task_id, service.Caller(actor=who.actor, channel="web"), **args)
        except LedgerflowError as exc:
            return task_page(request, task_id, error=f"{exc.message} [{exc.rule}]", status=status_of(exc))
        if back == "board":
            return RedirectResponse(f"/waiting?message={verb}+recorded", status_code=303)
        return RedirectResponse(f"/tasks/{task_id}?message={verb}+recorded", status_code=303)

    @api.post("/tasks/{task_id}/start")
    def start_task(request: Request, task_id: str, csrf_token: str = Form("")) -> Response:
        return act(request, task_id, csrf_token, "start")

    @api.post("/tasks/{task_id}/complete")
    async def complete_task(request: Request, task_id: str) -> Response:
        """Complete with the generated form's fields, or (a step without `produces`) a JSON document, and the
        files chosen on the form (read as a whole form: an empty file input sends a part with no file name)."""
        async with request.form() as posted:
            form = {k: v for k, v in posted.items() if isinstance(v, str)}
            who = web.guard(request, form.get("csrf_token", ""))  # before any file is stored
            await run_in_threadpool(load_task, web, who, task_id)  # and a task they may not see stores none
            try:
                files = await documents.received(web.store, posted.getlist("attachments"))
            except InvalidInput as exc:
                return await run_in_threadpool(task_page, request, task_id, None, f"{exc.message} [{exc.rule}]",
                                               forms.posted(form), None, 400)
        return await run_in_threadpool(complete, request, task_id, who, form, files)

    def complete(request: Request, task_id: str, who: Identity, form: dict[str, str],
                 files: tuple[Document, ...]) -> Response:
        task, _, playbook = load_task(web, who, task_id)
        step = playbook.by_id.get(task.step) if playbook else None
        produces = getattr(step, "produces", None)
        values = forms.posted(form)
        try:
            if produces and values:
                data = forms.document(produces, values, web.store.settings.limits)
            else:
                data = limits.parse_json(form.get("output") or "{}", "The output", web.store.settings.limits)
        except InvalidInput as exc:
            return task_page(request, task_id, error=f"{exc.message} [{exc.rule}]", values=values, status=400)
        try:
            service.task_command(web.store, "complete", task_id, service.Caller(actor=who.actor, channel="web"),
                                 output=data, attachments=files)
        except LedgerflowError as exc:
            return task_page(request, task_id, error=f"{exc.message} [{exc.rule}]", status=status_of(exc),
                             values=values, errors=forms.field_errors(exc))
        return RedirectResponse(f"/tasks/{task_id}?message=complete+recorded", status_code=303)

    @api.get("/attachments/{sha256}")
    def attachment(request: Request, sha256: str, inline: bool = False) -> Response:
        """A document, to whoever may read a run it is attached to (a guest: their task's run)."""
        who = web.identity(request)
        if who is None:
            raise Missing()
        try:
            return documents.served(web.store, documents.principal(who.actor, who.task), sha256, inline)
        except InvalidInput:
            raise Missing() from None

    @api.get("/tasks/{task_id}/review.pdf")
    def review_pack_pdf(request: Request, task_id: str) -> Response:
        """The review pack a governance review task looks at, as the PDF to send before the meeting."""
        who = web.identity(request)
        if who is None or who.task is not None:
            raise Missing()
        task, _, _ = load_task(web, who, task_id)
        if task.type != "review":
            raise Missing()
        with web.store.read() as tx:
            playbook_id, period = period_of_review(tx, task_id)
        return Response(review_pdf(review_pack(web.store, playbook_id, period)), media_type="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="review-{period.name}.pdf"'})

    @api.post("/tasks/{task_id}/decide")
    def decide_task(request: Request, task_id: str, csrf_token: str = Form(""), outcome: str = Form(""),
                    rationale: str = Form(""), to: str = Form("")) -> Response:
        return act(request, task_id, csrf_token, "decide", outcome=outcome, rationale=rationale, to=to or None)

    @api.post("/tasks/{task_id}/recommend")
    def recommend_task(request: Request, task_id: str, csrf_token: str = Form(""), outcome: str = Form(""),
                       rationale: str = Form("")) -> Response:
        return act(request, task_id, csrf_token, "recommend", outcome=outcome, rationale=rationale)

    @api.post("/tasks/{task_id}/reassign")
    def reassign_task(request: Request, task_id: str, csrf_token: str = Form(""), to: str = Form(""),
                      reason: str = Form(""), back: str = Form("")) -> Response:
        return act(request, task_id, csrf_token, "reassign", back=back or None, to=to.strip(), reason=reason)

    return api


def status_of(exc: LedgerflowError) -> int:
    """A refusal is a 4xx page, never a 500: bad input 400, refused by the rules or the state 409."""
    return 400 if isinstance(exc, InvalidInput | NotFound) else 409
