"""The four reports over real runs driven through the service, on the simulated clock (SPEC §5, §6)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from ledgerflow.domain.errors import NotFound
from ledgerflow.domain.figures import parse_period
from ledgerflow.domain.runs import TaskState
from ledgerflow.engine import service
from ledgerflow.reporting import reports
from ledgerflow.storage import schema
from ledgerflow.storage.store import Store
from tests.conftest import DIRECTORY, PRICING
from tests.engine.helpers import GOOD_OUTPUT, act, caller, decide, only_open, publish_text, start

WEEK = parse_period("2026-W10")  # the simulated clock starts on Monday 2026-03-02 08:00Z

SOLO = """
id: solo-approval
title: Solo approval
outcome: {owner: dave, statement: Spend wisely, measure: 95% decided within 2 days}
workflow_owner: sam
steps:
  - id: ask
    type: task
    owner: account-exec
    clarity: {what: Ask for the spend, why: Someone must ask, success: request filled in, due: 1d}
  - id: approve
    type: decision
    rights: {approve: dave}
    clarity: {what: Decide the spend, why: Money leaves, success: decision recorded, due: 1d}
    sla: {due: 12h}
"""


def _advance(store: Store, duration: str) -> None:
    service.advance_clock(store, duration, service.Caller())


def _decision(store: Store, **input: Any) -> tuple[str, TaskState]:
    run = start(store, **input)
    decision: TaskState = act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)["opened"][0]
    return run.id, decision


def _blocked_gap(store: Store, tmp_path: Path) -> tuple[str, TaskState]:
    """dave approves alone, is the outcome owner and starts the run: nobody may decide."""
    publish_text(store, tmp_path, SOLO)
    run, opened = service.start_run(store, "solo-approval", {}, caller("dave"))
    gap: TaskState = act(store, "complete", opened[0])["opened"][0]
    assert gap.blocked and gap.assignee == "sam"
    return run.id, gap


def _tasks(store: Store, run_id: str) -> list[TaskState]:
    with store.read() as tx:
        return tx.tasks(run=run_id)


def _step(result: dict[str, Any], step: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in result["steps"] if s["step"] == step)
    return found


# ------------------------------------------------------------------------------------------ ownership


def test_a_reassignment_by_the_workflow_owner_is_an_unflagged_change_with_its_reason(store: Store) -> None:
    run_id, decision = _decision(store)
    other = "erin" if decision.assignee == "dave" else "dave"
    act(store, "reassign", decision, actor="sam", to=other, reason="dave is on a customer visit")
    changes = reports.ownership(store, "pricing-exception", WEEK)["changes"]
    assert [(c["task"], c["run"], c["step"], c["from"], c["to"], c["kind"], c["reason"], c["flagged"])
            for c in changes] == [(decision.id, run_id, "approve", decision.assignee, other, "reassignment",
                                   "dave is on a customer visit", False)]
    assert changes[0]["authority"] == {"kind": "owner", "detail": "workflow owner"}
    assert changes[0]["at"] == "2026-03-02T08:00:00Z"


def test_an_escalation_at_ready_is_a_change_from_the_approving_role(store: Store, tmp_path: Path) -> None:
    text = PRICING.read_text().replace("id: pricing-exception", "id: tight").replace(
        "      - when: input.deal_value <= 50000\n        approve: finance\n", "")
    publish_text(store, tmp_path, text.replace("      - approve: vp-sales", "      - approve: dave"))
    _run, opened = service.start_run(store, "tight", {"customer": "A", "deal_value": 1, "discount_pct": 20},
                                     caller("dave"))
    decision = act(store, "complete", opened[0], output=GOOD_OUTPUT)["opened"][0]
    changes = reports.ownership(store, "tight", WEEK)["changes"]
    assert [(c["task"], c["from"], c["to"], c["kind"], c["flagged"]) for c in changes] == [
        (decision.id, "dave", "maria", "escalation", False)]
    assert changes[0]["authority"]["kind"] == "escalation" and changes[0]["reason"]


def test_an_ownership_gap_names_the_task_opened_for_it_and_who_holds_it(store: Store, tmp_path: Path) -> None:
    run_id, gap = _blocked_gap(store, tmp_path)
    result = reports.ownership(store, "solo-approval", WEEK)
    assert result["gaps"] == [{"task": gap.id, "run": run_id, "step": "approve", "at": "2026-03-02T08:00:00Z",
                               "role": "dave", "resolved_to": "sam", "blocked": True}]
    assert result["changes"] == []


def test_ownership_covers_only_the_period_asked_for(store: Store) -> None:
    _run_id, decision = _decision(store)
    act(store, "reassign", decision, actor="maria", to="erin" if decision.assignee == "dave" else "dave",
        reason="balance the load")
    assert reports.ownership(store, "pricing-exception", parse_period("2026-W11")) == {"changes": [], "gaps": []}
    assert len(reports.ownership(store, "pricing-exception", WEEK)["changes"]) == 1


def test_an_ownership_change_whose_body_was_altered_by_hand_is_listed_with_its_body_fields_missing(
        store: Store) -> None:
    run_id, decision = _decision(store)
    act(store, "reassign", decision, actor="sam", to="erin" if decision.assignee == "dave" else "dave",
        reason="balance the load")
    e = schema.events
    with store.engine.begin() as conn:  # not an event's fields: `audit verify` reports it, the report still reads
        conn.execute(update(e).where(e.c.type == "assignment.changed").values(body="5"))
    [change] = reports.ownership(store, "pricing-exception", WEEK)["changes"]
    assert (change["task"], change["run"], change["step"], change["actor"]) == (decision.id, run_id, "approve", "sam")
    assert (change["from"], change["to"], change["kind"], change["authority"], change["reason"]) == (
        None, None, None, None, None)


def test_reports_on_an_unknown_playbook_are_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        reports.ownership(store, "nope", WEEK)
    with pytest.raises(NotFound):
        reports.waits(store, "nope", WEEK)


# -------------------------------------------------------------------------------------------- stalled


def test_a_task_past_its_due_time_is_stalled_with_its_overdue_hours(store: Store) -> None:
    run = start(store)
    prepare = only_open(store, run.id)  # due 1d after ready
    assert reports.stalled(store) == []
    _advance(store, "2d")
    assert reports.stalled(store) == [{
        "task": prepare.id, "run": run.id, "playbook": "pricing-exception", "summary": None, "step": "prepare",
        "assignee": prepare.assignee, "due_at": "2026-03-03T08:00:00Z", "overdue_hours": 24.0, "blocked": False,
        "type": "task", "status": "ready"}]


def test_stalled_measures_from_the_earlier_of_due_and_sla_due_most_overdue_first(store: Store,
                                                                                 tmp_path: Path) -> None:
    publish_text(store, tmp_path, SOLO)
    early = start(store)
    _advance(store, "10h")
    _run, opened = service.start_run(store, "solo-approval", {}, caller("bob"))
    decision = act(store, "complete", opened[0])["opened"][0]  # due 1d, sla 12h
    _advance(store, "15h")
    stalled = reports.stalled(store)
    assert [(s["task"], s["overdue_hours"]) for s in stalled] == [(decision.id, 3.0),
                                                                  (only_open(store, early.id).id, 1.0)]
    assert stalled[0]["due_at"] == "2026-03-03T06:00:00Z"


def test_a_blocked_ownership_gap_is_stalled_even_before_it_is_due(store: Store, tmp_path: Path) -> None:
    run_id, gap = _blocked_gap(store, tmp_path)
    stalled = reports.stalled(store)
    assert [(s["task"], s["run"], s["playbook"], s["assignee"], s["overdue_hours"], s["blocked"])
            for s in stalled] == [(gap.id, run_id, "solo-approval", "sam", 0.0, True)]


# ---------------------------------------------------------------------------------------------- waits


def test_waits_are_exact_hours_from_ready_to_first_action(store: Store) -> None:
    first, second = start(store), start(store)
    _advance(store, "3h")
    a = act(store, "complete", only_open(store, first.id), output=GOOD_OUTPUT)["opened"][0]
    _advance(store, "2h")
    b = act(store, "complete", only_open(store, second.id), output=GOOD_OUTPUT)["opened"][0]
    act(store, "start", a)  # waited 2h
    _advance(store, "1h")
    decide(store, a, "approve")  # 1h in progress
    act(store, "start", b)  # waited 1h
    _advance(store, "3h")
    decide(store, b, "approve")  # 3h in progress
    result = reports.waits(store, "pricing-exception", WEEK)
    assert (result["playbook"], result["period"]) == ("pricing-exception", "2026-W10")
    assert [s["step"] for s in result["steps"]] == ["prepare", "approve", "apply"]
    prepare = _step(result, "prepare")
    assert (prepare["tasks"], prepare["wait_median_hours"]) == (2, 4.0)
    assert prepare["wait_p90_hours"] == pytest.approx(4.8)
    assert prepare["in_progress_median_hours"] is None
    approve = _step(result, "approve")
    assert (approve["tasks"], approve["wait_median_hours"], approve["in_progress_median_hours"]) == (2, 1.5, 2.0)
    assert approve["wait_p90_hours"] == pytest.approx(1.9)
    assert approve["nudges"] == 1  # the 4h nudge reached b while it was in progress; a was decided before
    by_person = {p["assignee"]: p for p in approve["assignees"]}
    if a.assignee != b.assignee:
        assert by_person[a.assignee]["wait_median_hours"] == 2.0
        assert by_person[b.assignee]["in_progress_median_hours"] == 3.0
    apply = _step(result, "apply")
    assert (apply["tasks"], apply["waiting"], apply["wait_median_hours"]) == (2, 2, None)


def test_waits_count_reassignments_and_send_backs_per_assignee(store: Store) -> None:
    run_id, decision = _decision(store)
    preparer = next(t for t in _tasks(store, run_id) if t.step == "prepare").assignee
    other = "erin" if decision.assignee == "dave" else "dave"
    act(store, "reassign", decision, actor="sam", to=other, reason="dave is on a customer visit")
    decide(store, decision, "send_back", actor=other, rationale="Need the competitor quote")
    result = reports.waits(store, "pricing-exception", WEEK)
    prepare, approve = _step(result, "prepare"), _step(result, "approve")
    assert (prepare["tasks"], prepare["send_backs"], approve["send_backs"]) == (2, 1, 0)
    assert [(p["assignee"], p["tasks"], p["send_backs"]) for p in prepare["assignees"]] == [(preparer, 2, 1)]
    assert [(p["assignee"], p["reassignments"], p["nudges"]) for p in approve["assignees"]] == [(other, 1, 0)]


def test_waits_count_only_tasks_that_became_ready_in_the_period(store: Store) -> None:
    start(store)
    result = reports.waits(store, "pricing-exception", parse_period("2026-W09"))
    assert [(s["step"], s["tasks"], s["wait_median_hours"], s["assignees"]) for s in result["steps"]] == [
        ("prepare", 0, None, []), ("approve", 0, None, []), ("apply", 0, None, [])]


# -------------------------------------------------------------------------------------------- clarity


def test_clarity_lists_the_warnings_of_published_playbooks_and_the_open_gaps(store: Store,
                                                                             tmp_path: Path) -> None:
    run_id, gap = _blocked_gap(store, tmp_path)
    publish_text(store, tmp_path, SOLO.replace("id: solo-approval", "id: no-sla").replace("    sla: {due: 12h}\n", ""),
                 name="no-sla.yaml")
    result = reports.clarity(store)
    assert [(f["playbook"], f["step"], f["rule"], f["severity"], f["version"]) for f in result["findings"]] == [
        ("no-sla", "approve", "decision-without-sla", "warning", 1)]
    assert result["findings"][0]["file"] == "no-sla.yaml" and result["findings"][0]["line"]
    assert [(g["task"], g["run"], g["playbook"], g["step"], g["assignee"]) for g in result["gaps"]] == [
        (gap.id, run_id, "solo-approval", "approve", "sam")]


def test_clarity_of_the_shared_example_is_empty(store: Store) -> None:
    start(store)
    assert reports.clarity(store) == {"findings": [], "gaps": []}


def test_a_directory_change_that_empties_a_role_is_a_gap_on_the_open_task(store: Store, tmp_path: Path) -> None:
    run = start(store)
    prepare = only_open(store, run.id)
    directory = tmp_path / "directory.yaml"
    directory.write_text(DIRECTORY.read_text().replace("roles: [account-exec]}", "roles: [sales-ops]}"))
    service.load_directory_file(store, str(directory), service.Caller())
    result = reports.ownership(store, "pricing-exception", WEEK)
    assert [(g["task"], g["role"], g["resolved_to"], g["blocked"]) for g in result["gaps"]] == [
        (prepare.id, "account-exec", "sam", False)]
    assert [(c["task"], c["from"], c["to"], c["kind"], c["authority"]["kind"], c["flagged"])
            for c in result["changes"]] == [(prepare.id, prepare.assignee, "sam", "directory", "ownership_gap", False)]
