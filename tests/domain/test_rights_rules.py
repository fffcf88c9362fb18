"""Decision rights as pure rules (SPEC §3.3): which authority row names the approvers, and each reason a
person may not decide, reached with every other reason absent, so that a rule weakened in one clause is told
apart from the original."""

from __future__ import annotations

from dataclasses import replace

import pytest
from tests.conftest import DIRECTORY, PRICING
from tests.engine.test_rights import PARALLEL_DUTIES

from ledgerflow.domain.directory import load_directory
from ledgerflow.domain.playbook import DecisionStep, Playbook, load_playbook
from ledgerflow.domain.rights import (
    approves_under,
    approving_authority,
    delegate_exclusion,
    describe_authority,
    exclusion,
)
from ledgerflow.domain.runs import Recommendation, RunState, TaskState
from ledgerflow.domain.source import parse_yaml
from ledgerflow.domain.states import RunStatus, TaskStatus

NOTES_BRANCH = """      - - id: notes
          type: task
          owner: dave
          clarity: {what: Take notes, why: Spend, success: notes taken, due: 1d}
"""
PAY_STEP = """  - id: pay
    type: task
    owner: dave
    clarity: {what: Pay, why: Spend, success: payment sent, due: 1d}
"""
# the engine test's playbook, with a sibling branch the gate does not list and a step after it
PLAYBOOK = load_playbook(parse_yaml(
    PARALLEL_DUTIES.replace("      - - id: gate\n", NOTES_BRANCH + "      - - id: gate\n") + PAY_STEP, "spend.yaml"))
def _decision(step_id: str, playbook: Playbook = PLAYBOOK) -> DecisionStep:
    step = playbook.step(step_id)
    assert isinstance(step, DecisionStep)
    return step


GATE = _decision("gate")
AT = "2026-03-02T08:00:00Z"


def task(step: str, status: TaskStatus = TaskStatus.COMPLETED, *, by: str | None = "dave",
         for_: str | None = None, kind: str = "task") -> TaskState:
    ended = None if status in (TaskStatus.READY, TaskStatus.IN_PROGRESS) else AT
    return TaskState(id=f"t-{step}-{status}-{by}", run="r-1", playbook="spend", step=step, type=kind, status=status,
                     assignee=by, ready_at=AT, ended_at=ended, on_behalf_of=for_)


def run(*tasks: TaskState, recommendations: tuple[Recommendation, ...] = ()) -> RunState:
    return RunState(id="r-1", playbook="spend", version=1, status=RunStatus.RUNNING, started_by="bob",
                    started_at=AT, tasks=tasks, recommendations=recommendations)


def recommendation(step: str, actor: str) -> Recommendation:
    return Recommendation(task="t-gate", step=step, attempt=1, actor=actor, outcome="approve", rationale="fine",
                          data_hash="h", at=AT)


def test_nothing_excludes_a_person_who_did_nothing_on_the_run() -> None:
    assert exclusion(run(), PLAYBOOK, GATE, "dave") is None


def test_the_starter_of_the_run_is_excluded() -> None:
    assert exclusion(run(), PLAYBOOK, GATE, "bob") == "bob started run r-1"


@pytest.mark.parametrize("status", [TaskStatus.COMPLETED, TaskStatus.DECIDED, TaskStatus.SENT_BACK])
def test_acting_on_a_separated_step_excludes_whatever_its_ending(status: TaskStatus) -> None:
    assert exclusion(run(task("budget", status)), PLAYBOOK, GATE, "dave") == \
        "dave acted on step budget, listed in separation_of_duties"


def test_acting_on_a_separated_step_for_someone_else_excludes_both() -> None:
    state = run(task("budget", by="erin", for_="dave"))
    reason = "acted on step budget, listed in separation_of_duties"
    assert exclusion(state, PLAYBOOK, GATE, "dave") == f"dave {reason}"
    assert exclusion(state, PLAYBOOK, GATE, "erin") == f"erin {reason}"


@pytest.mark.parametrize("status", [TaskStatus.READY, TaskStatus.IN_PROGRESS])
def test_a_separated_step_still_open_does_not_exclude_yet(status: TaskStatus) -> None:
    assert exclusion(run(task("budget", status)), PLAYBOOK, GATE, "dave") is None


@pytest.mark.parametrize("status", [TaskStatus.CANCELLED, TaskStatus.SKIPPED, TaskStatus.FAILED])
def test_a_separated_step_ended_without_the_person_acting_does_not_exclude(status: TaskStatus) -> None:
    assert exclusion(run(task("budget", status)), PLAYBOOK, GATE, "dave") is None


def test_a_separated_step_done_by_someone_else_does_not_exclude() -> None:
    assert exclusion(run(task("budget", by="erin")), PLAYBOOK, GATE, "dave") is None


def test_only_people_s_tasks_on_a_separated_step_exclude() -> None:
    # the same step id on a system task (a check or an action) carries no person's act
    assert exclusion(run(task("budget", kind="check")), PLAYBOOK, GATE, "dave") is None
    assert exclusion(run(task("budget", kind="action")), PLAYBOOK, GATE, "dave") is None
    assert exclusion(run(task("budget", TaskStatus.DECIDED, kind="decision")), PLAYBOOK, GATE, "dave") is not None


def test_completing_an_earlier_step_excludes_as_supplier_of_the_data_under_decision() -> None:
    assert exclusion(run(task("request")), PLAYBOOK, GATE, "dave") == \
        "dave supplied data under decision (step request)"
    assert exclusion(run(task("request", by="erin", for_="dave")), PLAYBOOK, GATE, "dave") == \
        "dave supplied data under decision (step request)"


def test_an_earlier_step_sent_back_supplied_no_data_under_decision() -> None:
    assert exclusion(run(task("request", TaskStatus.SENT_BACK)), PLAYBOOK, GATE, "dave") is None


@pytest.mark.parametrize("step", ["notes", "pay"])
def test_completing_a_step_the_decision_cannot_read_does_not_exclude(step: str) -> None:
    # a sibling branch (notes) and a later step (pay) are not listed and supply nothing the gate reads
    assert exclusion(run(task(step)), PLAYBOOK, GATE, "dave") is None


def test_recommending_on_this_decision_excludes_only_the_recommender() -> None:
    state = run(recommendations=(recommendation("gate", "carol"),))
    assert exclusion(state, PLAYBOOK, GATE, "carol") == "carol recorded a recommendation on this decision"
    assert exclusion(state, PLAYBOOK, GATE, "dave") is None


def test_a_recommendation_on_another_decision_does_not_exclude() -> None:
    assert exclusion(run(recommendations=(recommendation("other", "carol"),)), PLAYBOOK, GATE, "carol") is None


def test_a_delegate_is_excluded_for_the_person_they_act_for() -> None:
    state = run(task("budget"))
    assert delegate_exclusion(state, PLAYBOOK, GATE, "erin", "dave") == \
        "dave acted on step budget, listed in separation_of_duties"
    assert delegate_exclusion(state, PLAYBOOK, GATE, "erin", None) is None
    assert delegate_exclusion(state, PLAYBOOK, GATE, "erin", "carol") is None


def test_a_delegate_s_own_exclusion_comes_first() -> None:
    state = run(task("budget"), task("request", by="erin"))
    assert delegate_exclusion(state, PLAYBOOK, GATE, "erin", "dave") == \
        "erin supplied data under decision (step request)"
    assert delegate_exclusion(replace(state, started_by="erin"), PLAYBOOK, GATE, "erin", None) == \
        "erin started run r-1"


PRICING_PLAYBOOK = load_playbook(parse_yaml(PRICING.read_text(), "pricing-exception.yaml"))
APPROVE = _decision("approve", PRICING_PLAYBOOK)
PEOPLE = load_directory(parse_yaml(DIRECTORY.read_text(), "directory.yaml"))[0]


@pytest.mark.parametrize(("deal", "approver", "row"), [(50_000, "finance", 0), (50_001, "vp-sales", 1)])
def test_the_first_authority_row_whose_condition_holds_names_the_approvers(deal: int, approver: str,
                                                                          row: int) -> None:
    assert approving_authority(APPROVE, {"input": {"deal_value": deal}}) == (approver, row, None)


@pytest.mark.parametrize(("value", "error"), [
    ({}, "authority row 0: no such key: deal_value"),
    ({"deal_value": "many"}, "authority row 0: No such overload"),
])
def test_an_authority_row_that_cannot_be_evaluated_fails_closed_and_says_why(value: dict[str, object],
                                                                             error: str) -> None:
    approver, row, why = approving_authority(APPROVE, {"input": value})
    assert (approver, row) == ("vp-sales", 1)  # the guarded row is passed over, never matched by an error
    assert why is not None and why.startswith(error)


def test_with_no_authority_rows_the_rights_name_the_approvers() -> None:
    assert approving_authority(GATE, {"input": {}}) == ("dave", None, None)


def test_an_authority_row_reads_as_its_condition() -> None:
    assert describe_authority(APPROVE, 0) == "the authority row when input.deal_value <= 50000 (finance)"
    assert describe_authority(APPROVE, 1) == "the authority row otherwise (vp-sales)"
    assert describe_authority(GATE, None) == "rights.approve (dave)"


def test_an_escalation_hands_a_decision_only_to_an_approver_of_the_matched_row_or_the_outcome_owner() -> None:
    may = approves_under(PEOPLE, PRICING_PLAYBOOK, "finance")
    assert [person for person in ("dave", "erin", "maria", "victor", "sam") if may(person)] == ["dave", "erin", "maria"]
    owner_only = approves_under(PEOPLE, PRICING_PLAYBOOK, None)  # no row matched: only the outcome owner
    assert [person for person in ("dave", "maria", "victor") if owner_only(person)] == ["maria"]
    assert approves_under(PEOPLE, PRICING_PLAYBOOK, "victor")("victor")  # a row may name one person
