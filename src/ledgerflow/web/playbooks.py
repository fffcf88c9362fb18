"""Playbooks and their governance (issue #21 §6): the diagram, the escalation map, lint findings, versions;
the governance dashboard with its charts, decision history and the decision form for owners."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ledgerflow.domain.errors import InvalidInput, LedgerflowError, NotFound
from ledgerflow.domain.escalation_map import build_map
from ledgerflow.domain.figures import Period, week_of
from ledgerflow.domain.lint import lint_source
from ledgerflow.domain.times import format_time, parse_time
from ledgerflow.engine import autonomy, governance
from ledgerflow.reporting import reports
from ledgerflow.reporting.scorecard import figures
from ledgerflow.web import svg
from ledgerflow.web.context import Missing, Web

CHART_WEEKS = 6
"""Weeks a dashboard charts at most."""


def charted_weeks(first_published: datetime, now: datetime) -> list[Period]:
    """The last `CHART_WEEKS` ISO weeks, none before the playbook's first publication (weeks before it
    existed would chart as zeros)."""
    weeks = [week_of(now - timedelta(days=7 * back)) for back in range(CHART_WEEKS - 1, -1, -1)]
    return [week for week in weeks if week.end > first_published]


def routes(web: Web) -> APIRouter:
    api = APIRouter()

    @api.get("/playbooks", response_class=HTMLResponse)
    def playbooks(request: Request) -> Response:
        web.person(request)
        with web.store.read() as tx:
            rows = [{"id": r.id, "version": r.version, "versions": r.versions,
                     "state": (tx.governance(r.id).state if tx.governance(r.id) else "continue")}
                    for r in tx.list_playbooks()]
        return web.page(request, "playbooks.html", playbooks=rows)

    @api.get("/playbooks/{playbook_id}", response_class=HTMLResponse)
    def playbook_page(request: Request, playbook_id: str) -> Response:
        web.person(request)
        with web.store.read() as tx:
            try:
                playbook, version = tx.playbook(playbook_id)
            except NotFound:
                raise Missing() from None
            versions = tx.playbook_versions(playbook_id)
            directory = tx.directory()
        findings = lint_source(versions[-1].source, versions[-1].file, directory)
        return web.page(request, "playbook.html", playbook=playbook, version=version, versions=versions,
                        findings=findings, diagram=svg.diagram(playbook), steps=list(playbook.walk()),
                        escalation_map=build_map(playbook, version, directory))

    @api.get("/governance", response_class=HTMLResponse)
    def governance_index(request: Request) -> Response:
        """Every playbook's governance state, one click from the main navigation."""
        web.person(request)
        with web.store.read() as tx:
            rows = []
            for r in tx.list_playbooks():
                state = tx.governance(r.id)
                rows.append({"id": r.id, "title": tx.playbook(r.id)[0].title, "state": state.state if state else
                             "continue", "decided_at": state.decided_at if state else None,
                             "decided_by": state.decided_by if state else None})
        return web.page(request, "governance_index.html", playbooks=rows)

    @api.get("/governance/{playbook_id}", response_class=HTMLResponse)
    def governance_page(request: Request, playbook_id: str, error: str | None = None,
                        message: str | None = None) -> Response:
        who = web.person(request)
        with web.store.read() as tx:
            try:
                playbook, _ = tx.playbook(playbook_id)
            except NotFound:
                raise Missing() from None
            now = tx.now()
            first = parse_time(tx.playbook_versions(playbook_id)[0].published_at)
            weeks = charted_weeks(first, now)
            cards = [figures(tx, playbook_id, week) for week in weeks]
            state = tx.governance(playbook_id)
            start, end = weeks[0].bounds[0], format_time(now + timedelta(seconds=1))
            crossed = [e for e in tx.events_of_type("governance.review_opened", start, end)
                       if e["data"].get("playbook") == playbook_id and e["data"].get("trigger")]
            decided = [e for e in tx.events_of_type("governance.decided", "0", end)
                       if e["data"].get("playbook") == playbook_id][::-1]
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
        # the agent scorecard is the owners' (as `report agents`): how often each agent's recommendations
        # agreed with the people who decided, beside the figures that decide how much it may do
        agents = reports.agents(web.store, playbook=playbook_id) if owner else []
        return web.page(request, "governance.html", playbook=playbook, card=cards[-1], cards=cards, charts=charts,
                        state=state, crossed=crossed, decided=decided, owner=owner, agents=agents, error=error,
                        message=message)

    @api.post("/governance/{playbook_id}/decide")
    def governance_decide(request: Request, playbook_id: str, csrf_token: str = Form(""), decision: str = Form(""),
                          rationale: str = Form("")) -> Response:
        who = web.guard(request, csrf_token)
        if who.task is not None:
            raise Missing()
        try:
            governance.decide(web.store, playbook_id, actor=who.actor, channel="web", decision=decision,
                              rationale=rationale, follow_ups=[])
        except LedgerflowError as exc:
            return governance_page(request, playbook_id, error=f"{exc.message} [{exc.rule}]")
        return RedirectResponse(f"/governance/{playbook_id}?message={decision}+recorded", status_code=303)

    @api.post("/governance/{playbook_id}/autonomy")
    def governance_autonomy(request: Request, playbook_id: str, csrf_token: str = Form(""), agent: str = Form(""),
                            step: str = Form(""), change: str = Form(""), limit: str = Form(""),
                            rationale: str = Form("")) -> Response:
        """An owner widens, narrows, withdraws or restores an agent's autonomy from its scorecard row."""
        who = web.guard(request, csrf_token)
        if who.task is not None:
            raise Missing()
        try:
            bound = _limit(limit) if change == "limit" else None
            autonomy.change(web.store, playbook_id, actor=who.actor, channel="web", agent=agent, step=step,
                            change=change, limit=bound, rationale=rationale)
        except LedgerflowError as exc:
            return governance_page(request, playbook_id, error=f"{exc.message} [{exc.rule}]")
        return RedirectResponse(f"/governance/{playbook_id}?message=autonomy+of+{quote(agent)}+recorded",
                                status_code=303)

    return api


def _limit(text: str) -> float:
    """The limit typed in the form, as a number.

    Raises:
        InvalidInput: not a number.
    """
    try:
        return float(text.replace(",", "").strip())
    except ValueError:
        raise InvalidInput(f"the limit {text!r} is not a number", rule="bad-limit") from None
