"""The playbook page and governance (issue #21 §6): the diagram draws parallel joins, send-back loops and
escalations and names every approver; governance is in the main navigation; charts start at the first
publication; the whole decision history is listed."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from ledgerflow.domain.playbook import load_playbook
from ledgerflow.domain.source import parse_yaml
from ledgerflow.domain.times import parse_time
from ledgerflow.engine import governance, service
from ledgerflow.storage.store import Store
from ledgerflow.web import svg
from ledgerflow.web.playbooks import charted_weeks
from tests.conftest import PRICING
from tests.engine.helpers import publish_text
from tests.web.conftest import sign_in

CLARITY = "clarity: {what: Review the vendor, why: Risk must be known, success: a note is recorded, due: 1d}"
PARALLEL = f"""id: vendor-onboarding
title: Vendor onboarding
outcome: {{owner: maria, statement: Onboard vendors safely, measure: median days to onboard}}
workflow_owner: sam
input: {{type: object, required: [vendor], properties: {{vendor: {{type: string, title: Vendor}}}}}}
steps:
  - id: request
    type: task
    owner: account-exec
    {CLARITY}
  - id: reviews
    type: parallel
    branches:
      - [{{id: legal, type: task, owner: legal, {CLARITY}}}]
      - [{{id: security, type: task, owner: security, {CLARITY}}}]
  - id: approve
    type: decision
    rights: {{approve: finance}}
    options: [approve, reject, send_back]
    {CLARITY}
    sla: {{due: 24h, escalate: [{{after: 24h, to: maria}}, {{after: 48h, to: victor}}]}}
"""


def test_the_diagram_draws_the_join_the_send_back_loops_and_the_escalations() -> None:
    parallel = load_playbook(parse_yaml(PARALLEL))
    drawn = str(svg.diagram(parallel))
    assert "in parallel" in drawn and "join: all done" in drawn
    assert svg.send_backs(parallel) == [("approve", "request")] and drawn.count('marker-end="url(#back)"') == 1
    assert "after 1d → maria" in drawn and "after 2d → victor" in drawn
    assert "approve can send the run back to request; approve escalates to maria after 1d" in drawn
    pricing = load_playbook(parse_yaml(PRICING.read_text(encoding="utf-8")))
    assert svg.send_backs(pricing) == [("completeness", "prepare"), ("approve", "prepare")]
    assert "decision · finance / vp-sales" in str(svg.diagram(pricing))  # every approver, not one role


def test_the_playbook_page_has_the_diagram_map_lint_and_versions(store: Store, web: TestClient,
                                                                 tmp_path: Path) -> None:
    publish_text(store, tmp_path, PARALLEL, "vendor.yaml")
    sign_in(web, "sam")
    page = web.get("/playbooks/vendor-onboarding").text
    assert "join: all done" in page and 'id="escalation-map"' in page and "<h2>Lint</h2>" in page
    assert 'id="versions"' in page and "Sam Patel" in page and 'href="/runs/new?playbook=vendor-onboarding"' in page
    assert web.get("/playbooks/nope").status_code == 404


def test_governance_is_in_the_navigation_and_charts_start_at_first_publication(store: Store,
                                                                               web: TestClient) -> None:
    sign_in(web, "lena")
    inbox = web.get("/").text
    assert '<a href="/governance">Governance</a>' in inbox
    index = web.get("/governance").text
    assert '<a href="/governance/pricing-exception">Pricing exception approval</a>' in index
    page = web.get("/governance/pricing-exception").text
    assert 'id="chart-weeks">Charted from 2026-W10 (first published that week) to 2026-W10.' in page
    service.advance_clock(store, "15d", service.Caller())
    page = web.get("/governance/pricing-exception").text
    assert "Charted from 2026-W10 (first published that week) to 2026-W12." in page


def test_charted_weeks_never_start_before_the_playbook_existed() -> None:
    now = parse_time("2026-05-01T00:00:00Z")
    assert [w.name for w in charted_weeks(parse_time("2026-04-28T00:00:00Z"), now)] == ["2026-W18"]
    assert len(charted_weeks(parse_time("2020-01-01T00:00:00Z"), now)) == 6


def test_the_dashboard_lists_every_governance_decision_newest_first(store: Store, web: TestClient) -> None:
    for decision, why in (("stabilize", "Too many rejections"), ("continue", "Back to normal"),
                          ("pause", "Policy change"), ("continue", "Policy settled"),
                          ("stabilize", "Quarter end"), ("continue", "Quarter closed")):
        governance.decide(store, "pricing-exception", actor="maria", channel="cli", decision=decision, rationale=why,
                          follow_ups=[])
        service.advance_clock(store, "1h", service.Caller())
    sign_in(web, "maria")
    history = web.get("/governance/pricing-exception").text.split('id="decision-history"')[1].split("</table>")[0]
    assert history.count("<tr>") == 7 and history.index("Quarter closed") < history.index("Too many rejections")
