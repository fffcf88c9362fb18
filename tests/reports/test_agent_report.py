"""`report agents` (SPEC §11): per agent and decision step, agreement with the final outcome and reversals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from ledgerflow.api.app import create_app
from ledgerflow.cli.main import main
from ledgerflow.domain.agent_scores import agent_scores
from ledgerflow.engine import service, tokens
from ledgerflow.reporting import reports
from ledgerflow.storage.store import Store
from tests.agents.helpers import DEAL, SHEET, publish_examples
from tests.conftest import ADMIN
from tests.engine.helpers import caller, decide, only_open, publish_text

BOT = frozenset({"bot"})


def _event(type_: str, run: str, step: str, actor: str, task: str = "t", **data: Any) -> dict[str, Any]:
    return {"type": type_, "run": run, "task": task, "step": step, "actor": actor, "data": data}


def test_a_recommendation_agrees_only_with_the_steps_final_outcome_and_the_newest_one_counts() -> None:
    events = [
        _event("recommendation.recorded", "r1", "approve", "bot", outcome="reject", attempt=1),
        _event("recommendation.recorded", "r1", "approve", "bot", outcome="approve", attempt=1),  # replaces it
        _event("task.decided", "r1", "approve", "dave", outcome="approve"),
        _event("recommendation.recorded", "r2", "approve", "bot", outcome="approve", attempt=1),
        _event("task.decided", "r2", "approve", "dave", outcome="reject"),
        _event("recommendation.recorded", "r3", "approve", "bot", outcome="approve", attempt=1),  # undecided
        _event("recommendation.recorded", "r3", "approve", "carol", outcome="approve", attempt=1),  # a person
    ]
    (row,) = agent_scores(events, {"r1": "p", "r2": "p", "r3": "p"}, BOT)
    assert row == {"agent": "bot", "playbook": "p", "step": "approve", "recommendations": 3, "agreed": 1,
                   "overridden": 1, "agreement_rate": 0.5, "decisions": 0, "decisions_reversed": 0}


def test_an_agents_decision_superseded_by_a_send_back_or_a_different_final_outcome_is_reversed() -> None:
    events = [
        _event("task.decided", "r1", "triage", "bot", task="a", outcome="approve"),
        _event("task.sent_back", "r1", "confirm", "dave", task="b", superseded=["a"], to="triage"),
        _event("task.decided", "r1", "triage", "bot", task="c", outcome="approve"),
        _event("task.decided", "r2", "triage", "bot", task="d", outcome="approve"),
    ]
    (row,) = agent_scores(events, {"r1": "p", "r2": "p"}, BOT)
    assert (row["decisions"], row["decisions_reversed"], row["agreement_rate"]) == (3, 1, None)


def _recommended_run(store: Store) -> str:
    run, opened = service.start_run(store, "deal-sheet-review", DEAL, caller("bob"))
    service.task_command(store, "complete", opened[0].id, caller(opened[0].assignee), output=SHEET)
    validate = only_open(store, run.id)
    decision = service.task_command(store, "complete", validate.id, caller("intake-bot"),
                                    output={"verdict": "pass", "findings": []})["opened"][0]
    service.task_command(store, "recommend", decision.id, caller("intake-bot"), outcome="approve",
                         rationale="within policy")
    return run.id


def test_the_report_scores_the_agent_against_the_people_who_decided(store: Store) -> None:
    publish_examples(store)
    agreed, overridden, _ = _recommended_run(store), _recommended_run(store), _recommended_run(store)
    decide(store, only_open(store, agreed), "approve")
    decide(store, only_open(store, overridden), "reject", rationale="margin too thin")
    assert reports.agents(store) == [{
        "agent": "intake-bot", "playbook": "deal-sheet-review", "step": "approve", "recommendations": 3,
        "agreed": 1, "overridden": 1, "agreement_rate": 0.5, "decisions": 0, "decisions_reversed": 0, "autonomy": None}]
    assert reports.agents(store, playbook="pricing-exception") == []


TRIAGE = Path(__file__).with_name("small-credit.yaml")


def test_an_agent_deciding_under_a_guarded_row_is_counted_and_a_send_back_reverses_it(
        store: Store, tmp_path: Path) -> None:
    publish_text(store, tmp_path, TRIAGE.read_text())
    _, opened = service.start_run(store, "small-credit", {"customer": "Acme", "amount": 40}, caller("bob"))
    assert opened[0].assignee == "intake-bot"
    confirm = decide(store, opened[0], "approve", rationale="a small credit for a late delivery")["opened"][0]
    decide(store, confirm, "send_back", rationale="the delivery was on time", to="triage")
    (row,) = reports.agents(store)
    assert (row["agent"], row["step"], row["decisions"], row["decisions_reversed"]) == (
        "intake-bot", "triage", 1, 1)


def test_the_cli_prints_it_and_the_api_shows_owners_their_playbooks_only(store: Store,
                                                                         capsys: Any) -> None:
    publish_examples(store)
    _recommended_run(store)
    assert main(["report", "agents", "--json", "--db", store.url]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["agent"], row["recommendations"], row["agreement_rate"]) == ("intake-bot", 1, None)
    with TestClient(create_app(store)) as client:
        for actor, expected in (("sam", 1), ("lena", 0)):
            secret = tokens.create(store, actor, ADMIN)["token"]
            answer = client.get("/api/v1/reports/agents", headers={"Authorization": f"Bearer {secret}"})
            assert answer.status_code == 200 and len(answer.json()) == expected
