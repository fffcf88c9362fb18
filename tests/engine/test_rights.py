"""Decision rights, separation of duties, escalation and ownership gaps at run time (SPEC §3.2-3.4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledgerflow.domain.errors import Forbidden
from ledgerflow.engine import service
from ledgerflow.storage.store import Store
from ledgerflow.trust import audit
from tests.conftest import PRICING
from tests.engine.helpers import (
    GOOD_OUTPUT,
    act,
    caller,
    changes_nothing,
    decide,
    only_open,
    publish_text,
    run_state,
    snapshot,
    start,
)


def _decision(store: Store, **input: object) -> tuple[str, object]:
    run = start(store, **input)  # type: ignore[arg-type]
    decision = act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)["opened"][0]
    return run.id, decision


def test_the_starter_is_never_routed_the_decision(store: Store) -> None:
    run = start(store, by="dave")
    decision = act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)["opened"][0]
    assert decision.assignee == "erin"


def test_reassigning_a_decision_to_an_excluded_actor_is_refused(store: Store) -> None:
    run = start(store, by="dave")
    decision = act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)["opened"][0]
    before = snapshot(store)
    with pytest.raises(Forbidden) as info:
        act(store, "reassign", decision, actor="sam", to="dave", reason="dave knows the deal")
    assert info.value.rule == "separation-of-duties"
    assert snapshot(store) == before


def test_only_owners_reassign_and_always_with_a_reason(store: Store) -> None:
    _, decision = _decision(store)
    with changes_nothing(store):
        with pytest.raises(Forbidden, match="workflow owner"):
            act(store, "reassign", decision, actor="bob", to="erin", reason="x")  # type: ignore[arg-type]
        with pytest.raises(Forbidden):
            act(store, "reassign", decision, actor="sam", to="erin", reason="  ")  # type: ignore[arg-type]
    result = act(store, "reassign", decision, actor="sam", to="erin", reason="dave is swamped")  # type: ignore[arg-type]
    assert result["task"].assignee == "erin"


def test_a_recommender_cannot_decide_and_recommendations_are_recorded(store: Store) -> None:
    run_id, decision = _decision(store)
    act(store, "recommend", decision, actor="carol", outcome="approve", rationale="fine")  # type: ignore[arg-type]
    state = run_state(store, run_id)
    assert [(r.actor, r.outcome) for r in state.recommendations] == [("carol", "approve")]
    with changes_nothing(store), pytest.raises(Forbidden):
        act(store, "recommend", decision, actor="alice", outcome="approve", rationale="me too")  # type: ignore[arg-type]


def test_with_every_approver_excluded_the_decision_escalates_to_the_map(store: Store, tmp_path: Path) -> None:
    text = PRICING.read_text().replace("id: pricing-exception", "id: tight").replace(
        "      - when: input.deal_value <= 50000\n        approve: finance\n", "")
    text = text.replace("      - approve: vp-sales", "      - approve: dave")
    publish_text(store, tmp_path, text)
    _run, opened = service.start_run(store, "tight", {"customer": "A", "deal_value": 1, "discount_pct": 20},
                                    caller("dave"))
    decision = act(store, "complete", opened[0], output=GOOD_OUTPUT)["opened"][0]
    assert decision.assignee == "maria" and decision.escalated
    result = decide(store, decision, "approve", rationale="escalated and fine")
    assert result["task"].outcome == "approve"
    assert audit.verify(store)["ok"]


QUORUM = """
id: big-spend
title: Big spend
outcome: {owner: maria, statement: Spend wisely, measure: 95% decided within 2 days}
workflow_owner: sam
steps:
  - id: ask
    type: task
    owner: account-exec
    clarity: {what: Ask, why: Need, success: request filled in, due: 1d}
  - id: approve
    type: decision
    quorum: 2
    rights: {approve: vp-sales}
    clarity: {what: Decide, why: Spend, success: decision recorded, due: 1d}
    sla: {due: 1d}
  - id: done
    type: task
    owner: deal-desk
    clarity: {what: Do it, why: Approved, success: order created, due: 1d}
"""


def test_a_quorum_opens_seats_for_distinct_approvers_and_waits_for_all(store: Store, tmp_path: Path) -> None:
    publish_text(store, tmp_path, QUORUM)
    _run, opened = service.start_run(store, "big-spend", {}, caller("bob"))
    seats = act(store, "complete", opened[0])["opened"]
    assert sorted(s.assignee for s in seats) == ["maria", "victor"]
    first = decide(store, seats[0], "approve")
    assert first["opened"] == [] and first["run"].status == "running"
    second = decide(store, seats[1], "approve")
    assert [t.step for t in second["opened"]] == ["done"]


def test_one_reject_decides_a_quorum_and_cancels_the_other_seat(store: Store, tmp_path: Path) -> None:
    publish_text(store, tmp_path, QUORUM)
    run, opened = service.start_run(store, "big-spend", {}, caller("bob"))
    seats = act(store, "complete", opened[0])["opened"]
    decide(store, seats[0], "reject", rationale="no")
    state = run_state(store, run.id)
    assert state.status == "rejected"
    assert state.task(seats[1].id).status == "cancelled"  # type: ignore[union-attr]


def test_a_role_with_nobody_available_is_an_ownership_gap_for_the_workflow_owner(store: Store,
                                                                                  tmp_path: Path) -> None:
    directory = tmp_path / "dir.yaml"
    directory.write_text((PRICING.parent / "directory.yaml").read_text().replace(
        "roles: [legal]}", "roles: [legal], away: [{from: 2026-03-01, until: 2026-03-10}]}").replace(
        "roles: [legal, security]}", "roles: [legal, security], away: {from: 2026-03-01, until: 2026-03-10}}"))
    service.load_directory_file(store, str(directory), service.Caller())
    publish_text(store, tmp_path, QUORUM.replace("id: big-spend", "id: legal-check").replace(
        "owner: deal-desk", "owner: legal"))
    run, opened = service.start_run(store, "legal-check", {}, caller("bob"))
    seats = act(store, "complete", opened[0])["opened"]
    for seat in seats:
        decide(store, seat, "approve")
    gap = only_open(store, run.id)
    assert gap.step == "done" and gap.assignee == "sam"
    with store.read() as tx:
        assert "ownership.gap" in [e["type"] for e in tx.events(run=run.id)]


PARALLEL_DUTIES = """
id: spend
title: Spend
outcome: {owner: maria, statement: Spend wisely, measure: 95% decided within 2 days}
workflow_owner: sam
steps:
  - id: request
    type: task
    owner: account-exec
    clarity: {what: Ask, why: Need, success: request filled in, due: 1d}
  - id: checks
    type: parallel
    branches:
      - - id: budget
          type: task
          owner: dave
          clarity: {what: Check the budget, why: Spend, success: budget checked, due: 1d}
      - - id: gate
          type: decision
          separation_of_duties: [budget]
          rights: {approve: dave}
          clarity: {what: Decide, why: Spend, success: decision recorded, due: 1d}
          sla: {due: 1d}
"""


def test_a_decision_on_a_parallel_branch_is_refused_to_who_completed_a_step_it_is_separated_from(
        store: Store, tmp_path: Path) -> None:
    # routing cannot exclude dave from the gate: both branches open together, before dave has done the budget
    publish_text(store, tmp_path, PARALLEL_DUTIES)
    _run, opened = service.start_run(store, "spend", {}, caller("bob"))
    branches = {t.step: t for t in act(store, "complete", opened[0])["opened"]}
    assert branches["budget"].assignee == branches["gate"].assignee == "dave"
    act(store, "complete", branches["budget"])
    before = snapshot(store)
    with pytest.raises(Forbidden, match="dave acted on step budget") as info:
        decide(store, branches["gate"], "approve")
    assert info.value.rule == "separation-of-duties"
    assert snapshot(store) == before
