"""The example coordination agent: deterministic rules, and its loop through the SDK's client over stdio."""

from __future__ import annotations

from typing import Any

from mcp.client import Client

from ledgerflow.agents.coordinator import advise, review, work_once
from ledgerflow.engine import service
from ledgerflow.storage.store import Store
from tests.agents.helpers import DEAL, SHEET, SRC, events_of, publish_examples, stdio, token
from tests.aio import on_own_thread, run_async
from tests.engine.helpers import caller, only_open, run_state


def test_a_complete_in_policy_sheet_passes_with_every_finding_listed() -> None:
    verdict = review(DEAL, SHEET)
    assert verdict.passed and len(verdict.findings) == 4 and verdict.output()["verdict"] == "pass"
    assert "reason" not in verdict.output()


def test_each_broken_rule_sends_the_sheet_back_and_says_why() -> None:
    verdict = review({**DEAL, "discount_pct": 45}, {"deal_sheet_url": "http://x", "justification": "cheap"})
    output = verdict.output()
    assert output["verdict"] == "send_back" and len(verdict.problems) == 3
    assert output["reason"].startswith("the deal sheet link 'http://x' is not an https address; the justification "
                                       "has 5 characters")
    assert "above the 40% policy ceiling" in output["reason"]


def test_the_recommendation_follows_the_routine_threshold() -> None:
    assert advise({"discount_pct": 18})[0] == "approve" and advise({"discount_pct": 25})[0] == "reject"


def _prepared(store: Store, sheet: dict[str, Any]) -> str:
    run, opened = service.start_run(store, "deal-sheet-review", DEAL, caller("bob"))
    service.task_command(store, "complete", opened[0].id, caller(opened[0].assignee), output=sheet)
    return run.id


def test_the_agent_validates_over_mcp_passing_good_work_on_and_sending_sloppy_work_back(store: Store) -> None:
    publish_examples(store)
    good = _prepared(store, SHEET)
    sloppy = _prepared(store, {**SHEET, "justification": "please"})
    secret = token(store, "intake-bot")

    async def loop() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        async with Client(stdio(store.url, secret)) as client:
            return await work_once(client), await work_once(client)

    first, second = run_async(loop)
    assert second == []  # nothing is left waiting on the agent
    assert sorted((d["did"], d.get("verdict") or d.get("outcome")) for d in first) == [
        ("recommended", "approve"), ("validated", "pass"), ("validated", "send_back")]
    decision = only_open(store, good)
    assert decision.step == "approve" and decision.assignee in ("dave", "erin")
    (rec,) = run_state(store, good).recommendations
    assert (rec.actor, rec.outcome) == ("intake-bot", "approve")
    back = only_open(store, sloppy)
    assert back.step == "prepare" and back.attempt == 2
    (validated,) = [e for e in events_of(store, sloppy, "task.completed") if e["step"] == "validate"]
    assert (validated["actor"], validated["channel"]) == ("intake-bot", "mcp")
    assert validated["data"]["output"]["reason"].startswith("the justification has 6 characters")
    assert [e["step"] for e in events_of(store, sloppy, "check.failed")] == ["validated"]
    assert events_of(store, sloppy, "task.sent_back")


def test_the_agent_runs_as_a_program_with_its_token(store: Store, monkeypatch: Any, capsys: Any) -> None:
    from ledgerflow.agents.coordinator import main

    publish_examples(store)
    run = _prepared(store, SHEET)
    monkeypatch.setenv("LEDGERFLOW_TOKEN", token(store, "intake-bot"))
    monkeypatch.setenv("PYTHONPATH", SRC)
    assert on_own_thread(main, ["--db", store.url]) == 0
    assert "'did': 'validated', 'verdict': 'pass'" in capsys.readouterr().out
    assert only_open(store, run).step == "approve"
