"""`playbook map` (SPEC §12): the one-page escalation map, checked against a hand-written expectation for the
shared example, and its holes on variants that have them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledgerflow.api.app import create_app
from ledgerflow.cli.main import main
from ledgerflow.domain.errors import NotFound
from ledgerflow.domain.escalation_map import map_markdown
from ledgerflow.engine import tokens
from ledgerflow.reporting import reports
from ledgerflow.storage.store import Store
from tests.api.conftest import CONFIG
from tests.api.helpers import bearer
from tests.conftest import ADMIN, PRICING
from tests.domain.test_lint import edit
from tests.engine.helpers import publish_text

NOTHING: dict[str, Any] = {"approvers": [], "sla_due": None, "nudges": [], "escalations": [], "recommend": [],
                           "inform": [], "execute": None, "separation_of_duties": [], "quorum": None,
                           "parallel": None, "holes": []}

EXPECTED = {
    "playbook": "pricing-exception", "version": 1, "title": "Pricing exception approval",
    "outcome_owner": "maria", "workflow_owner": "sam",
    "steps": [
        {**NOTHING, "step": "prepare", "type": "task", "owner": "account-exec", "due": "1d",
         "backups": [{"person": "alice", "delegate": None}, {"person": "bob", "delegate": None}]},
        {**NOTHING, "step": "completeness", "type": "check", "owner": None, "due": None, "backups": []},
        {**NOTHING, "step": "approve", "type": "decision", "owner": "finance",
         "approvers": [{"when": "input.deal_value <= 50000", "approve": "finance"},
                       {"when": None, "approve": "vp-sales"}],
         "sla_due": "1d", "nudges": ["4h", "12h"], "escalations": [{"after": "1d", "to": "maria", "may_approve": True}],
         "due": "1d", "recommend": ["deal-desk"], "inform": ["account-exec", "maria"], "execute": "deal-desk",
         "separation_of_duties": ["prepare"], "quorum": 1,
         "backups": [{"person": p, "delegate": None} for p in ("carol", "chen", "dave", "erin", "maria", "victor")]},
        {**NOTHING, "step": "apply", "type": "task", "owner": "deal-desk", "due": "4h",
         "backups": [{"person": "carol", "delegate": None}, {"person": "chen", "delegate": None}]},
    ],
    "agent_autonomy": [],
}

EXPECTED_MD = """\
# Escalation map: Pricing exception approval

Playbook `pricing-exception` version 1. Outcome owner: maria. Workflow owner: sam.

## Holes

None found.

## prepare (task)

- Owner: account-exec
- Due: 1d after it is ready
- Backups: alice → nobody, bob → nobody

## completeness (check)

- Carried out by the system

## approve (decision)

- Approves: finance when `input.deal_value <= 50000`; otherwise vp-sales
- Recommends: deal-desk
- Informed: account-exec, maria
- Never decided by whoever did: prepare
- Executes: deal-desk
- Due: 1d after it is ready
- SLA: 1d; nudges at 4h, 12h
- After 1d: escalates to maria, who takes the decision
- Backups: carol → nobody, chen → nobody, dave → nobody, erin → nobody, maria → nobody, victor → nobody

## apply (task)

- Owner: deal-desk
- Due: 4h after it is ready
- Backups: carol → nobody, chen → nobody
"""

HOLED = edit(PRICING.read_text(encoding="utf-8"),
             ("        - after: 24h\n          to: maria\n", "        - after: 24h\n          to: dave\n"),
             ("  - id: apply\n    type: task\n    owner: deal-desk\n",
              "  - id: apply\n    type: task\n    owner: sales-ops\n"),
             ("    sla:\n      due: 24h\n      nudge: [4h, 12h]\n", "    sla:\n      nudge: [4h, 12h]\n"))


def test_the_map_of_the_shared_example_is_as_written_by_hand(store: Store) -> None:
    found = reports.playbook_map(store, "pricing-exception")
    assert found == EXPECTED
    assert map_markdown(found) == EXPECTED_MD


def test_the_map_flags_each_hole_on_its_step(store: Store, tmp_path: Path) -> None:
    publish_text(store, tmp_path, HOLED)
    found = reports.playbook_map(store, "pricing-exception")
    holes = [(step["step"], hole["kind"]) for step in found["steps"] for hole in step["holes"]]
    assert holes == [("approve", "no-sla"), ("approve", "escalation-below-authority"),
                     ("apply", "single-point-of-failure")]
    approve = found["steps"][2]
    assert approve["escalations"] == [{"after": "1d", "to": "dave", "may_approve": False}]
    assert "vp-sales" in approve["holes"][1]["message"]
    assert "sam" in found["steps"][3]["holes"][0]["message"]
    assert found["version"] == 2 and reports.playbook_map(store, "pricing-exception", 1) == EXPECTED
    page = map_markdown(found)
    assert "- **approve** (escalation-below-authority)" in page and "who is pulled in (may not approve)" in page


def test_the_cli_prints_markdown_or_json(capsys: pytest.CaptureFixture[str], store: Store) -> None:
    assert main(["playbook", "map", "pricing-exception", "--db", store.url]) == 0
    assert capsys.readouterr().out == EXPECTED_MD
    assert main(["playbook", "map", "pricing-exception", "--format", "json", "--db", store.url]) == 0
    assert json.loads(capsys.readouterr().out) == EXPECTED
    assert main(["playbook", "map", "pricing-exception", "--db", store.url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == EXPECTED
    assert main(["playbook", "map", "pricing-exception", "--format", "pdf", "--db", store.url]) == 2
    assert main(["playbook", "map", "nope", "--db", store.url]) == 2


def test_the_api_answers_the_map_as_json_and_markdown(store: Store) -> None:
    headers = bearer(tokens.create(store, "lena", ADMIN)["token"])
    with TestClient(create_app(store, CONFIG)) as client:
        as_json = client.get("/api/v1/playbooks/pricing-exception/map", headers=headers)
        as_md = client.get("/api/v1/playbooks/pricing-exception/map.md", headers=headers)
        missing = client.get("/api/v1/playbooks/nope/map", headers=headers)
    assert as_json.status_code == 200 and as_json.json() == EXPECTED
    assert as_md.headers["content-type"].startswith("text/markdown") and as_md.text == EXPECTED_MD
    assert missing.status_code == 404


def test_an_unknown_version_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        reports.playbook_map(store, "pricing-exception", 7)


def test_a_version_beyond_any_database_integer_is_unknown_not_a_crash(store: Store) -> None:
    """Found by the schema fuzz: a version past 2^63 was a 500 on the API and exit 4 on the CLI."""
    for version in ("17583316469473928544256", "0", "-1"):
        assert main(["playbook", "map", "pricing-exception", "--version", version, "--db", store.url]) == 2
    with pytest.raises(NotFound):
        reports.playbook_map(store, "pricing-exception", 2**70)
