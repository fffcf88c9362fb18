"""Runs (issue #21 §3, §4): the run page with its tasks, timeline and data as labelled fields."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ledgerflow import access, summaries
from ledgerflow.audit import chain_problem
from ledgerflow.domain.errors import NotFound
from ledgerflow.timeline import describe
from ledgerflow.web import forms
from ledgerflow.web.context import Missing, Web


def routes(web: Web) -> APIRouter:
    api = APIRouter()

    @api.get("/runs/{run_id}", response_class=HTMLResponse)
    def run_page(request: Request, run_id: str) -> Response:
        who = web.person(request)
        with web.store.read() as tx:
            try:
                run = tx.load_run(run_id)
            except NotFound:
                raise Missing() from None
            playbook = tx.playbook(run.playbook, run.version)[0]
            if not access.sees_run(tx, run, who.actor):
                raise Missing()
            events = tx.events(run=run_id)
            intact = chain_problem(run_id, events, tx.chain_head(run_id)) is None
            summary = summaries.of_runs(tx, [run.id]).get(run.id)
        timeline = [{**e, "text": describe(e)} for e in events]
        return web.page(request, "run.html", run=run, playbook=playbook, timeline=timeline, intact=intact,
                        summary=summary, data=forms.shown(playbook.input_schema, run.input))

    return api
