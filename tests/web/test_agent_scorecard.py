"""The agent scorecard beside the governance dashboard (issues #21 §6 and #22 §5): the owners see how often
each agent's recommendations agreed with the people who decided; nobody else sees it."""

from __future__ import annotations

from fastapi.testclient import TestClient

from ledgerflow.storage.store import Store
from tests.agents.helpers import publish_examples
from tests.engine.helpers import decide, only_open
from tests.reports.test_agent_report import _recommended_run
from tests.web.conftest import sign_in


def test_the_owners_see_the_agent_scorecard_on_the_governance_dashboard(store: Store, web: TestClient) -> None:
    publish_examples(store)
    agreed, overridden = _recommended_run(store), _recommended_run(store)
    decide(store, only_open(store, agreed), "approve")
    decide(store, only_open(store, overridden), "reject", rationale="margin too thin")
    sign_in(web, "sam")  # the workflow owner
    page = web.get("/governance/deal-sheet-review").text
    assert 'id="agent-scorecard"' in page
    row = page.split('id="agent-scorecard"', 1)[1].split("</tbody>", 1)[0]
    assert "approve" in row and "<td>2</td><td>1</td><td>1</td><td>50%</td>" in row
    sign_in(web, "bob")  # not an owner: the figures, not the agents' scorecard
    page = web.get("/governance/deal-sheet-review").text
    assert 'id="throughput"' in page and 'id="agent-scorecard"' not in page
