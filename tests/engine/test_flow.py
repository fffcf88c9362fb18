"""The engine drives real playbooks: flow, checks, decisions, send-backs, rejections (SPEC §3.1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledgerflow.domain.errors import Forbidden, InvalidInput, InvalidTransition, NotFound, SchemaViolation
from ledgerflow.engine import service
from ledgerflow.storage.store import Store
from ledgerflow.trust import audit
from tests.engine.helpers import (
    GOOD_OUTPUT,
    act,
    caller,
    changes_nothing,
    decide,
    only_open,
    open_tasks,
    publish_text,
    run_state,
    snapshot,
    start,
)


def test_a_clean_run_goes_from_prepare_through_decision_to_completion(store: Store) -> None:
    run = start(store)
    prepare = only_open(store, run.id)
    assert (prepare.step, prepare.assignee) == ("prepare", "alice")
    opened = act(store, "complete", prepare, output=GOOD_OUTPUT)["opened"]
    assert [t.step for t in opened] == ["approve"]
    decision = opened[0]
    assert decision.approver == "finance" and decision.authority_row == 0
    assert decision.sla_due_at is not None
    apply = decide(store, decision, "approve")["opened"][0]
    assert apply.step == "apply"
    result = act(store, "complete", apply, output={"quote_id": "Q-1"})
    assert result["run"].status == "completed"
    types = [e["type"] for e in _events(store, run.id)]
    assert types[0] == "run.started" and types[-1] == "run.completed"
    assert "check.passed" in types and "decision.informed" in types
    assert audit.verify(store)["ok"]


def test_invalid_input_lists_every_violation_and_writes_nothing(store: Store) -> None:
    before = snapshot(store)
    with pytest.raises(SchemaViolation) as info:
        service.start_run(store, "pricing-exception", {"customer": "", "deal_value": "lots"}, caller("bob"))
    paths = {v["path"] for v in info.value.details["violations"]}
    assert {"/deal_value", "/customer", "/"} <= paths
    assert snapshot(store) == before


def test_output_violating_produces_exits_with_the_missing_field(store: Store) -> None:
    run = start(store)
    prepare = only_open(store, run.id)
    before = snapshot(store)
    with pytest.raises(SchemaViolation, match="justification"):
        act(store, "complete", prepare, output={"deal_sheet_url": "x"})
    assert snapshot(store) == before


def test_a_failed_check_sends_the_run_back_to_the_same_preparer(store: Store) -> None:
    run = start(store)
    prepare = only_open(store, run.id)
    act(store, "complete", prepare, output={"deal_sheet_url": "x", "justification": "short"})
    again = only_open(store, run.id)
    assert again.step == "prepare" and again.attempt == 2 and again.assignee == prepare.assignee
    state = run_state(store, run.id)
    assert state.task(prepare.id).status == "sent_back"  # type: ignore[union-attr]
    check = [t for t in state.tasks if t.step == "completeness"]
    assert [t.status for t in check] == ["failed"]
    assert "task.sent_back" in [e["type"] for e in _events(store, run.id)]


def test_a_rule_with_reject_ends_the_run_as_rejected(store: Store) -> None:
    run = start(store, discount_pct=45)
    act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)
    assert run_state(store, run.id).status == "rejected"
    assert open_tasks(store, run.id) == []


def test_a_false_when_skips_the_decision_with_a_skipped_row(store: Store) -> None:
    run = start(store, discount_pct=5)
    opened = act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)["opened"]
    assert [t.step for t in opened] == ["apply"]
    skipped = [t for t in run_state(store, run.id).tasks if t.step == "approve"]
    assert [(t.status, t.assignee) for t in skipped] == [("skipped", None)]


def test_the_first_matching_authority_row_names_the_approvers(store: Store) -> None:
    run = start(store, deal_value=80000)
    decision = act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)["opened"][0]
    assert decision.approver == "vp-sales" and decision.authority_row == 1
    assert decision.assignee in ("maria", "victor")


def test_reject_ends_the_run_and_cancels_nothing_left_open(store: Store) -> None:
    run = start(store)
    decision = act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)["opened"][0]
    result = decide(store, decision, "reject", rationale="Margin too thin")
    assert result["run"].status == "rejected"
    assert result["task"].outcome == "reject"


def test_send_back_reopens_prepare_for_its_preparer_and_supersedes_the_work(store: Store) -> None:
    run = start(store)
    prepare = only_open(store, run.id)
    decision = act(store, "complete", prepare, output=GOOD_OUTPUT)["opened"][0]
    result = decide(store, decision, "send_back", rationale="Need the competitor quote")
    again = result["opened"][0]
    assert (again.step, again.assignee, again.attempt) == ("prepare", prepare.assignee, 2)
    state = run_state(store, run.id)
    assert state.task(prepare.id).status == "sent_back"  # type: ignore[union-attr]
    check = next(t for t in state.tasks if t.step == "completeness")
    assert check.status == "sent_back"
    # the rework goes through the check and back to a fresh decision
    decision2 = act(store, "complete", again, output=GOOD_OUTPUT)["opened"][0]
    assert decision2.step == "approve" and decision2.attempt == 2
    assert decision2.assignee == decision.assignee


def test_send_back_to_a_later_or_unknown_step_exits_2_and_writes_nothing(store: Store) -> None:
    run = start(store)
    decision = act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)["opened"][0]
    before = snapshot(store)
    for target in ("apply", "nope", "completeness"):
        with pytest.raises(InvalidInput):
            decide(store, decision, "send_back", to=target)
    assert snapshot(store) == before


@pytest.mark.parametrize(("outcome", "rationale", "actor", "error", "rule"), [
    ("approve", "   ", None, Forbidden, "rationale-required"),
    ("approve", None, None, Forbidden, "rationale-required"),
    ("maybe", "x", None, Forbidden, "outcome-not-allowed"),
    ("approve", "x", "alice", Forbidden, "not-assignee"),
])
def test_refused_decisions_name_the_rule_and_change_nothing(store: Store, outcome: str, rationale: str | None,
                                                            actor: str | None, error: type[Exception],
                                                            rule: str) -> None:
    run = start(store)
    decision = act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)["opened"][0]
    before = snapshot(store)
    with pytest.raises(error) as info:
        decide(store, decision, outcome, actor=actor, rationale=rationale)
    assert info.value.rule == rule  # type: ignore[attr-defined]
    assert snapshot(store) == before


def test_a_finished_task_cannot_be_completed_again(store: Store) -> None:
    run = start(store)
    prepare = only_open(store, run.id)
    act(store, "complete", prepare, output=GOOD_OUTPUT)
    with changes_nothing(store), pytest.raises(InvalidTransition):
        act(store, "complete", prepare, output=GOOD_OUTPUT)


def test_start_moves_ready_to_in_progress_once(store: Store) -> None:
    run = start(store)
    prepare = only_open(store, run.id)
    assert act(store, "start", prepare)["task"].status == "in_progress"
    with changes_nothing(store), pytest.raises(InvalidTransition):
        act(store, "start", prepare)


def test_deciding_a_plain_task_is_a_usage_error(store: Store) -> None:
    run = start(store)
    prepare = only_open(store, run.id)
    with changes_nothing(store), pytest.raises(InvalidInput, match="decide"):
        decide(store, prepare, "approve")


def test_unknown_task_and_actor_exit_2(store: Store) -> None:
    with changes_nothing(store):
        with pytest.raises(NotFound):
            service.task_command(store, "start", "t-nothing", caller("bob"))
        with pytest.raises(NotFound):
            start(store, by="nobody")


PARALLEL = """
id: onboarding
title: Supplier onboarding
outcome: {owner: maria, statement: Onboard suppliers safely, measure: 90% within 5 days}
workflow_owner: sam
steps:
  - id: request
    type: task
    owner: account-exec
    clarity: {what: Request the supplier, why: Someone must ask, success: request is filled in, due: 1d}
  - id: reviews
    type: parallel
    branches:
      - - id: legal
          type: task
          owner: legal
          clarity: {what: Review the contract, why: Legal risk, success: review recorded, due: 2d}
      - - id: security
          type: task
          owner: security
          clarity: {what: Review security, why: Data risk, success: review recorded, due: 2d}
  - id: signoff
    type: decision
    rights: {approve: finance}
    clarity: {what: Sign off, why: Spend, success: decision recorded, due: 1d}
    sla: {due: 1d}
"""


def test_parallel_branches_run_side_by_side_and_join(store: Store, tmp_path: Path) -> None:
    publish_text(store, tmp_path, PARALLEL)
    _run, opened = service.start_run(store, "onboarding", {}, caller("bob"))
    request = opened[0]
    branches = act(store, "complete", request)["opened"]
    assert sorted(t.step for t in branches) == ["legal", "security"]
    legal = next(t for t in branches if t.step == "legal")
    security = next(t for t in branches if t.step == "security")
    assert security.assignee == "omar" and legal.assignee == "lena"
    assert act(store, "complete", legal)["opened"] == []
    joined = act(store, "complete", security)["opened"]
    assert [t.step for t in joined] == ["signoff"]


def test_send_back_out_of_a_parallel_block_cancels_the_other_branch(store: Store, tmp_path: Path) -> None:
    legal_clarity = "          clarity: {what: Review the contract, why: Legal risk, success: review recorded, due: 2d}"
    text = PARALLEL.replace(legal_clarity, legal_clarity + """
        - id: legal-ok
          type: decision
          options: [approve, send_back]
          rights: {approve: finance}
          clarity: {what: Accept legal review, why: Risk, success: decision recorded, due: 1d}
          sla: {due: 1d}""")
    publish_text(store, tmp_path, text)
    run, opened = service.start_run(store, "onboarding", {}, caller("bob"))
    branches = act(store, "complete", opened[0])["opened"]
    legal = next(t for t in branches if t.step == "legal")
    security = next(t for t in branches if t.step == "security")
    gate = act(store, "complete", legal)["opened"][0]
    result = decide(store, gate, "send_back", to="request")
    assert [t.step for t in result["opened"]] == ["request"]
    state = run_state(store, run.id)
    assert state.task(security.id).status == "cancelled"  # type: ignore[union-attr]
    assert state.task(legal.id).status == "sent_back"  # type: ignore[union-attr]
    assert audit.verify(store)["ok"]


def _events(store: Store, run_id: str) -> list[dict[str, object]]:
    with store.read() as tx:
        return tx.events(run=run_id)
