"""The engine's commands as pure rules (SPEC §3): who may act on which task in which state, each refusal
reached with every other reason absent and named by its rule, and what an accepted command records (the
authority it acted under, the seats a reject cancels, where a send-back goes)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from itertools import count
from typing import Any

import pytest
from tests.conftest import DIRECTORY, PRICING

from ledgerflow.domain import flow
from ledgerflow.domain.attachments import Document
from ledgerflow.domain.directory import load_directory
from ledgerflow.domain.errors import (
    Forbidden,
    InvalidInput,
    InvalidTransition,
    LedgerflowError,
    NotFound,
    SchemaViolation,
)
from ledgerflow.domain.events import Event
from ledgerflow.domain.playbook import load_playbook
from ledgerflow.domain.routing import Last
from ledgerflow.domain.runs import RunState, TaskState
from ledgerflow.domain.source import parse_yaml
from ledgerflow.domain.states import RunStatus, TaskStatus

PLAYBOOK = load_playbook(parse_yaml(PRICING.read_text(), "pricing-exception.yaml"))
PEOPLE = load_directory(parse_yaml(DIRECTORY.read_text(), "directory.yaml"))[0]
NOW = datetime(2026, 3, 2, 8, tzinfo=UTC)
INPUT = {"customer": "Acme", "deal_value": 12000, "discount_pct": 18}
OUTPUT = {"deal_sheet_url": "https://docs.example.com/d/1", "justification": "Competitor offered 20%, renewal"}


class NoLoad:
    """Nobody has open work: routing goes by directory order."""

    def assigned(self, playbook: str, step: str,
                 actors: Sequence[str]) -> tuple[Mapping[str, int], Mapping[str, Last]]:
        return {}, {}


def context() -> flow.Context:
    ids = count(1)
    return flow.Context(playbook=PLAYBOOK, directory=PEOPLE, workload=NoLoad(), now=NOW,
                        new_id=lambda prefix: f"{prefix}-{next(ids)}")


CTX = context()


def started(**input: Any) -> RunState:
    return flow.start_run(CTX, run_id="r-1", actor="bob", input={**INPUT, **input}, version=1, why=None).state


def open_task(run: RunState) -> TaskState:
    (task,) = [t for t in run.tasks if t.is_open]
    return task


def at_decision(**input: Any) -> tuple[RunState, TaskState]:
    """A run prepared by alice, waiting on finance's decision."""
    run = started(**input)
    prepare = open_task(run)
    assert prepare.assignee == "alice"
    run = flow.complete_task(CTX, run, task_id=prepare.id, actor="alice", output=OUTPUT).state
    return run, open_task(run)


def refused(rule: str, command: Callable[[], object], kind: type[LedgerflowError] = Forbidden,
            message: str | None = None) -> LedgerflowError:
    """The command raises `kind` with `rule` (and, given, exactly `message`: what the person refused reads)."""
    with pytest.raises(kind) as caught:
        command()
    assert caught.value.rule == rule, caught.value.message
    if message is not None:
        assert caught.value.message == message
    return caught.value


def decide(run: RunState, task: TaskState, outcome: str = "approve", *, actor: str | None = None,
           rationale: str | None = "margin holds", to: str | None = None) -> flow.Builder:
    return flow.decide(CTX, run, task_id=task.id, actor=actor or str(task.assignee), outcome=outcome,
                       rationale=rationale, to=to)


# --------------------------------------------------------------------------- the task a command acts on


def test_a_command_on_a_task_the_run_does_not_have_is_unknown_task() -> None:
    run = started()
    refused("unknown-task", lambda: flow.complete_task(CTX, run, task_id="t-none", actor="alice"), NotFound)


def test_each_command_applies_to_its_kinds_of_task_only() -> None:
    run, decision = at_decision()
    refused("wrong-task-type", lambda: flow.complete_task(CTX, run, task_id=decision.id, actor="dave",
                                                          output={}), InvalidInput)
    prepare = run.tasks[0]
    reopened = replace(run, tasks=(replace(prepare, status=TaskStatus.READY, ended_at=None), *run.tasks[1:]))
    refused("wrong-task-type", lambda: decide(reopened, prepare, actor="alice"), InvalidInput)


def test_a_decided_task_names_who_decided_what_and_when() -> None:
    run, decision = at_decision()
    after = decide(run, decision).state
    with pytest.raises(InvalidTransition) as caught:
        decide(after, decision, actor="dave")
    assert caught.value.rule == "task-state"
    assert caught.value.message == (f"task {decision.id} was already decided: approve by dave at "
                                    "2026-03-02T08:00:00.000000Z")
    assert caught.value.details == {"status": TaskStatus.DECIDED, "outcome": "approve", "by": "dave",
                                    "at": "2026-03-02T08:00:00.000000Z"}


def test_a_task_of_a_run_that_ended_is_refused_by_the_runs_state() -> None:
    run, decision = at_decision()
    ended = replace(run, status=RunStatus.CANCELLED)
    refused("run-state", lambda: decide(ended, decision), InvalidTransition)


def test_a_task_that_is_no_longer_open_is_refused_by_its_state() -> None:
    run, _ = at_decision()
    prepare = run.tasks[0]  # completed
    refused("task-state", lambda: flow.complete_task(CTX, run, task_id=prepare.id, actor="alice", output=OUTPUT),
            InvalidTransition)


def test_only_the_assignee_acts_on_a_task() -> None:
    run, decision = at_decision()
    with pytest.raises(Forbidden) as caught:
        decide(run, decision, actor="erin")  # finance too, but not the assignee
    assert (caught.value.rule, caught.value.details) == ("not-assignee", {"assignee": "dave"})
    refused("not-assignee", lambda: flow.start_task(CTX, run, task_id=decision.id, actor="erin"))


def test_a_task_is_started_once() -> None:
    run, decision = at_decision()
    running = flow.start_task(CTX, run, task_id=decision.id, actor="dave")
    assert [e.type for e in running.events] == ["task.started"]
    assert running.events[0].authority == {"kind": "assignee", "detail": None}
    refused("task-state", lambda: flow.start_task(CTX, running.state, task_id=decision.id, actor="dave"),
            InvalidTransition)


# ------------------------------------------------------------------------------------------ decisions


def test_an_outcome_outside_the_steps_options_is_refused() -> None:
    run, decision = at_decision()
    refused("outcome-not-allowed", lambda: decide(run, decision, "escalate"))


@pytest.mark.parametrize("rationale", [None, "", "   "])
def test_a_step_that_requires_a_rationale_refuses_a_decision_without_one(rationale: str | None) -> None:
    run, decision = at_decision()
    refused("rationale-required", lambda: decide(run, decision, rationale=rationale))


def test_an_ownership_gap_is_never_decided_by_the_owner_holding_it() -> None:
    run, decision = at_decision()
    gap = replace(decision, blocked=True)
    blocked = replace(run, tasks=(*run.tasks[:-1], gap))
    refused("ownership-gap", lambda: decide(blocked, gap))


def test_who_prepared_the_request_may_not_decide_it() -> None:
    run, decision = at_decision()
    mine = replace(decision, assignee="alice")  # handed to the preparer by hand
    refused("separation-of-duties", lambda: decide(replace(run, tasks=(*run.tasks[:-1], mine)), mine))


def test_to_names_a_send_back_target_only() -> None:
    run, decision = at_decision()
    refused("bad-to", lambda: decide(run, decision, "approve", to="prepare"), InvalidInput)
    refused("bad-to", lambda: decide(run, decision, "send_back", to="apply"), InvalidInput)  # not earlier


@pytest.mark.parametrize(("seat", "kind", "detail"), [
    ({}, "authority_row", 0),
    ({"escalated": True}, "escalation", "dave"),
    ({"on_behalf_of": "erin"}, "delegation", "erin"),
    ({"authority_row": None}, "role", "finance"),
])
def test_a_decision_records_the_authority_it_was_taken_under(seat: dict[str, Any], kind: str, detail: object) -> None:
    run, decision = at_decision()
    assert (decision.authority_row, decision.approver) == (0, "finance")
    held = replace(decision, **seat)
    decided = decide(replace(run, tasks=(*run.tasks[:-1], held)), held)
    event = next(e for e in decided.events if e.type == "task.decided")
    assert event.authority == {"kind": kind, "detail": detail}
    assert event.data["outcome"] == "approve" and event.data["agent"] is False and event.data["to"] is None


def test_an_approval_moves_the_run_on_and_a_rejection_ends_it() -> None:
    run, decision = at_decision()
    approved = decide(run, decision).state
    assert approved.status == RunStatus.RUNNING and open_task(approved).step == "apply"
    rejected = decide(run, decision, "reject")
    assert rejected.state.status == RunStatus.REJECTED
    assert rejected.events[-1].type == "run.rejected" and rejected.events[-1].data == {"by_task": decision.id}


def test_a_send_back_reopens_the_preparation_with_whoever_did_it() -> None:
    run, decision = at_decision()
    sent = decide(run, decision, "send_back")
    assert sent.events[0].type == "task.decided" and sent.events[0].data["to"] == "prepare"
    (back,) = [e for e in sent.events if e.type == "task.sent_back"]
    assert back.data["to"] == "prepare" and back.task == decision.id
    again = open_task(sent.state)
    assert (again.step, again.assignee, again.attempt) == ("prepare", "alice", 2)


def test_an_approval_short_of_the_quorum_waits_for_the_other_seats_and_a_rejection_cancels_them() -> None:
    two = load_playbook(parse_yaml(PRICING.read_text().replace("quorum: 1", "quorum: 2"), "p.yaml"))
    ctx = replace(CTX, playbook=two)
    run = flow.start_run(ctx, run_id="r-1", actor="bob", input=INPUT, version=1, why=None).state
    run = flow.complete_task(ctx, run, task_id=open_task(run).id, actor="alice", output=OUTPUT).state
    first, second = (t for t in run.tasks if t.is_open)
    assert {first.assignee, second.assignee} == {"dave", "erin"}
    waiting = flow.decide(ctx, run, task_id=first.id, actor=str(first.assignee), outcome="approve", rationale="ok",
                          to=None)
    assert [e.type for e in waiting.events] == ["task.decided"] and waiting.state.status == RunStatus.RUNNING
    rejected = flow.decide(ctx, run, task_id=first.id, actor=str(first.assignee), outcome="reject", rationale="no",
                           to=None)
    cancelled = [e for e in rejected.events if e.type == "task.cancelled"]
    assert cancelled[0] == event("task.cancelled", second, data={"reason": "decided reject"})
    approved = flow.decide(ctx, waiting.state, task_id=second.id, actor=str(second.assignee), outcome="approve",
                           rationale="ok", to=None).state
    assert open_task(approved).step == "apply"


# ------------------------------------------------------------------------------------ recommendations


def recommend(run: RunState, task: TaskState, actor: str = "carol", outcome: str = "approve",
              rationale: str = "margin holds") -> flow.Builder:
    return flow.recommend(CTX, run, task_id=task.id, actor=actor, outcome=outcome, rationale=rationale)


def test_a_recommendation_is_recorded_by_a_holder_of_recommend_with_the_data_it_saw() -> None:
    run, decision = at_decision()
    (event,) = recommend(run, decision).events
    assert (event.type, event.actor, event.authority) == ("recommendation.recorded", "carol",
                                                           {"kind": "role", "detail": "recommend"})
    assert event.data == {"outcome": "approve", "rationale": "margin holds", "attempt": 1,
                          "data_hash": decision.data_hash}


def test_each_reason_a_recommendation_is_refused() -> None:
    run, decision = at_decision()
    refused("unknown-task", lambda: flow.recommend(CTX, run, task_id="t-none", actor="carol", outcome="approve",
                                                   rationale="ok"), NotFound)
    refused("wrong-task-type", lambda: recommend(run, run.tasks[0]), InvalidInput)
    refused("task-state", lambda: recommend(decide(run, decision).state, decision), InvalidTransition)
    refused("task-state", lambda: recommend(replace(run, status=RunStatus.CANCELLED), decision), InvalidTransition)
    refused("no-recommend-right", lambda: recommend(run, decision, actor="omar"))
    refused("outcome-not-allowed", lambda: recommend(run, decision, outcome="escalate"))
    refused("rationale-required", lambda: recommend(run, decision, rationale="  "))


def test_a_decider_decides_rather_than_recommends() -> None:
    run, decision = at_decision()
    carol_decides = replace(decision, assignee="erin", on_behalf_of="carol")
    held = replace(run, tasks=(*run.tasks[:-1], carol_decides))
    refused("decider-cannot-recommend", lambda: recommend(held, carol_decides))
    done = replace(carol_decides, status=TaskStatus.CANCELLED)
    other = replace(decision, id="t-other")  # an open seat carol does not hold
    recommend(replace(run, tasks=(*run.tasks[:-1], done, other)), other)  # a closed seat is no longer deciding


# ----------------------------------------------------------------------------------------- reassignment


def reassign(run: RunState, task: TaskState, to: str, actor: str = "sam", reason: str = "load") -> flow.Builder:
    return flow.reassign(CTX, run, task_id=task.id, actor=actor, to=to, reason=reason)


@pytest.mark.parametrize(("actor", "held"), [("sam", "workflow owner"), ("maria", "outcome owner")])
def test_an_owner_reassigns_an_open_task_within_its_role(actor: str, held: str) -> None:
    run, decision = at_decision()
    (event,) = reassign(run, decision, "erin", actor=actor).events
    assert (event.type, event.authority) == ("assignment.changed", {"kind": "owner", "detail": held})
    assert event.data == {"from": "dave", "to": "erin", "kind": "reassignment", "reason": "load", "blocked": False}


def test_who_was_pulled_in_may_hand_a_task_on() -> None:
    run, decision = at_decision()
    pulled = replace(decision, pulled_in=("lena",))
    (event,) = reassign(replace(run, tasks=(*run.tasks[:-1], pulled)), pulled, "erin", actor="lena").events
    assert event.authority == {"kind": "escalation", "detail": "pulled in"}


def test_each_reason_a_reassignment_is_refused() -> None:
    run, decision = at_decision()
    preparing = started()
    prepare = open_task(preparing)
    refused("unknown-task", lambda: flow.reassign(CTX, run, task_id="t-none", actor="sam", to="erin", reason="x"),
            NotFound)
    refused("unknown-actor", lambda: reassign(run, decision, "zed"), NotFound)
    refused("reassign-not-owner", lambda: reassign(run, decision, "erin", actor="dave"))
    refused("reason-required", lambda: reassign(run, decision, "erin", reason=" "))
    refused("task-state", lambda: reassign(decide(run, decision).state, decision, "erin"), InvalidTransition)
    refused("task-state", lambda: reassign(replace(run, status=RunStatus.CANCELLED), decision, "erin"),
            InvalidTransition)
    refused("already-assigned", lambda: reassign(run, decision, "dave"), InvalidTransition)
    refused("not-an-approver", lambda: reassign(run, decision, "carol"))
    agents_approve = load_directory(parse_yaml(DIRECTORY.read_text().replace(
        "roles: [deal-desk-assistant]}", "roles: [deal-desk-assistant, finance]}"), "d.yaml"))[0]
    by_role = replace(decision, authority_row=None)  # approved by the role, not through a guarded row
    refused("agent-not-authorized", lambda: flow.reassign(
        replace(CTX, directory=agents_approve), replace(run, tasks=(*run.tasks[:-1], by_role)), task_id=decision.id,
        actor="sam", to="intake-bot", reason="load"))
    refused("not-a-member", lambda: reassign(preparing, prepare, "dave"))  # account-exec has members available


def test_a_decision_is_not_reassigned_to_who_is_separated_from_it_or_holds_another_seat() -> None:
    run, decision = at_decision()
    finance_prepared = replace(run.tasks[0], assignee="erin")
    refused("separation-of-duties", lambda: reassign(replace(run, tasks=(finance_prepared, *run.tasks[1:])),
                                                     decision, "erin"))
    seat = replace(decision, id="t-seat", assignee="erin", seat=1)
    refused("seat-taken", lambda: reassign(replace(run, tasks=(*run.tasks, seat)), decision, "erin"))


def test_a_task_whose_role_has_nobody_available_may_go_to_any_person() -> None:
    run = started()
    prepare = open_task(run)
    away = load_directory(parse_yaml(DIRECTORY.read_text().replace(
        "roles: [account-exec]}", "roles: [account-exec], away: {from: 2026-03-01, until: 2026-03-09}}"),
        "d.yaml"))[0]
    ctx = replace(CTX, directory=away)
    (event,) = flow.reassign(ctx, run, task_id=prepare.id, actor="sam", to="dave", reason="cover").events
    assert event.data["to"] == "dave"
    refused("not-a-member", lambda: flow.reassign(ctx, run, task_id=prepare.id, actor="sam", to="intake-bot",
                                                  reason="cover"))  # a person, not an agent


# ------------------------------------------------------------------------------------------- cancelling


@pytest.mark.parametrize("actor", ["bob", "sam", "maria"])
def test_the_starter_or_an_owner_cancels_a_run_with_a_reason(actor: str) -> None:
    cancelled = flow.cancel_run(CTX, started(), actor=actor, reason="customer walked away")
    assert cancelled.state.status == RunStatus.CANCELLED
    assert cancelled.events[-1].authority == {"kind": "owner", "detail": actor}
    assert [e.type for e in cancelled.events] == ["task.cancelled", "run.cancelled"]


def test_anyone_else_or_no_reason_cannot_cancel() -> None:
    refused("cancel-not-allowed", lambda: flow.cancel_run(CTX, started(), actor="alice", reason="no"))
    refused("reason-required", lambda: flow.cancel_run(CTX, started(), actor="bob", reason="  "))


def test_an_expiry_cancels_a_running_run_and_leaves_an_ended_one_as_it_is() -> None:
    expired = flow.expire_run(CTX, started(), reason="nobody decided")
    assert expired.state.status == RunStatus.CANCELLED
    assert expired.events[0].data == {"reason": "nobody decided"}
    assert flow.expire_run(CTX, expired.state, reason="again").events == []


# ----------------------------------------------------------------- what accepted commands record, exactly

AT = "2026-03-02T08:00:00.000000Z"
SHEET = Document(name="sheet.txt", sha256="a" * 64, size=3, media_type="text/plain")


def event(type_: str, task: TaskState | None, *, actor: str = "system", authority: dict[str, Any] | None = None,
          data: dict[str, Any] | None = None, step: str | None = None) -> Event:
    return Event(type=type_, at=AT, actor=actor, channel="cli" if actor != "system" else "system", run="r-1",
                 task=task.id if task else None, step=step or (task.step if task else None),
                 authority=authority or {"kind": "system", "detail": None}, data=data or {})


def test_starting_a_task_records_who_started_it_under_whose_authority() -> None:
    run, decision = at_decision()
    assert flow.start_task(CTX, run, task_id=decision.id, actor="dave").events == [
        event("task.started", decision, actor="dave", authority={"kind": "assignee", "detail": None})]
    standing_in = replace(decision, assignee="erin", on_behalf_of="dave")
    held = replace(run, tasks=(*run.tasks[:-1], standing_in))
    assert flow.start_task(CTX, held, task_id=decision.id, actor="erin").events == [
        event("task.started", decision, actor="erin", authority={"kind": "delegation", "detail": "dave"})]


def test_completing_a_task_records_its_output_documents_and_who_it_was_done_for() -> None:
    run = started()
    prepare = open_task(run)
    done = flow.complete_task(CTX, run, task_id=prepare.id, actor="alice", output=OUTPUT, attachments=(SHEET,))
    assert done.events[0] == event("task.completed", prepare, actor="alice",
                                   authority={"kind": "assignee", "detail": None},
                                   data={"output": OUTPUT, "attachments": [SHEET.record()]})
    guest = {"email": "g@example.com"}
    by_guest = flow.complete_task(CTX, run, task_id=prepare.id, actor="alice", output=OUTPUT, guest=guest)
    assert by_guest.events[0].authority == {"kind": "guest", "detail": guest}
    standing_in = replace(prepare, assignee="bob", on_behalf_of="alice")
    delegated = flow.complete_task(CTX, replace(run, tasks=(standing_in,)), task_id=prepare.id, actor="bob",
                                   output=OUTPUT)
    assert delegated.events[0].authority == {"kind": "delegation", "detail": "alice"}


def test_an_output_is_a_json_object_that_fits_what_the_step_produces() -> None:
    run = started()
    prepare = open_task(run)
    wrong = refused("schema-violation", lambda: flow.complete_task(CTX, run, task_id=prepare.id, actor="alice",
                                                                   output=["a list"]), SchemaViolation,
                    "output must be a JSON object")
    assert wrong.details == {"violations": [{"path": "/", "message": "not an object"}]}
    short = refused("schema-violation", lambda: flow.complete_task(CTX, run, task_id=prepare.id, actor="alice",
                                                                   output=None), SchemaViolation)
    assert short.message.startswith("the output of step prepare violates its schema: /: ")  # nothing given: {}
    assert [v["path"] for v in short.details["violations"]] == ["/", "/"]


def test_a_decision_records_the_data_it_was_made_on_and_informs_who_must_know() -> None:
    run, decision = at_decision()
    approved = decide(run, decision)
    assert approved.events[:2] == [
        event("task.decided", decision, actor="dave", authority={"kind": "authority_row", "detail": 0},
              data={"outcome": "approve", "rationale": "margin holds", "data_hash": decision.data_hash, "to": None,
                    "agent": False}),
        event("decision.informed", None, step="approve",
              data={"outcome": "approve", "to": ["alice", "bob", "maria"]})]


def test_a_decision_by_an_agent_is_marked_as_one() -> None:
    run, decision = at_decision()
    agents = load_directory(parse_yaml(DIRECTORY.read_text().replace(
        "roles: [deal-desk-assistant]}", "roles: [deal-desk-assistant, finance]}"), "d.yaml"))[0]
    mine = replace(decision, assignee="intake-bot")  # under the guarded row: finance, deal value <= 50000
    decided = flow.decide(replace(CTX, directory=agents), replace(run, tasks=(*run.tasks[:-1], mine)),
                          task_id=decision.id, actor="intake-bot", outcome="approve", rationale="ok", to=None)
    assert decided.events[0].data["agent"] is True
    unguarded = replace(mine, authority_row=None)
    refused("agent-not-authorized", lambda: flow.decide(
        replace(CTX, directory=agents), replace(run, tasks=(*run.tasks[:-1], unguarded)), task_id=decision.id,
        actor="intake-bot", outcome="approve", rationale="ok", to=None), Forbidden,
        "agent intake-bot may decide step approve only through a guarded authority row")
    escalated = replace(unguarded, escalated=True)  # an escalation hands it on regardless
    flow.decide(replace(CTX, directory=agents), replace(run, tasks=(*run.tasks[:-1], escalated)),
                task_id=decision.id, actor="intake-bot", outcome="approve", rationale="ok", to=None)


def test_a_delegate_is_kept_from_a_decision_the_person_they_stand_in_for_is_separated_from() -> None:
    run, decision = at_decision()
    for_alice = replace(decision, assignee="erin", on_behalf_of="alice")  # alice prepared the request
    refused("separation-of-duties", lambda: decide(replace(run, tasks=(*run.tasks[:-1], for_alice)), for_alice),
            Forbidden, "separation of duties at step approve: alice acted on step prepare, listed in "
                       "separation_of_duties")


def test_a_send_back_to_a_named_earlier_step_cancels_the_other_open_seats() -> None:
    two = load_playbook(parse_yaml(PRICING.read_text().replace("quorum: 1", "quorum: 2"), "p.yaml"))
    ctx = replace(CTX, playbook=two)
    run = flow.start_run(ctx, run_id="r-1", actor="bob", input=INPUT, version=1, why=None).state
    run = flow.complete_task(ctx, run, task_id=open_task(run).id, actor="alice", output=OUTPUT).state
    first, second = (t for t in run.tasks if t.is_open)
    sent = flow.decide(ctx, run, task_id=first.id, actor=str(first.assignee), outcome="send_back", rationale="redo",
                       to="prepare")
    assert sent.events[0].data["to"] == "prepare"
    assert event("task.cancelled", second, data={"reason": "sent back"}) in sent.events
    back = next(e for e in sent.events if e.type == "task.sent_back")
    assert (back.actor, back.authority) == (first.assignee, {"kind": "authority_row", "detail": 0})


def test_a_send_back_names_the_steps_it_may_go_to() -> None:
    run, decision = at_decision()
    wrong = refused("bad-to", lambda: decide(run, decision, "send_back", to="apply"), InvalidInput,
                    "--to apply: the target must be an earlier task or decision on the path of step approve: prepare")
    assert wrong.details == {"valid": ["prepare"]}
    refused("bad-to", lambda: decide(run, decision, "send_back", to="nowhere"), InvalidInput)
    refused("bad-to", lambda: decide(run, decision, "approve", to="prepare"), InvalidInput,
            "--to applies only to send_back")
    first = load_playbook(parse_yaml(PRICING.read_text().replace("    separation_of_duties: [prepare]\n", "").replace(
        "  - id: prepare\n", "  - id: approve0\n    type: decision\n    rights: {approve: finance}\n"
        "    options: [approve, send_back]\n    clarity: {what: a, why: b, success: c, due: 1d}\n"
        "  - id: prepare\n", 1), "p.yaml"))
    refused("bad-to", lambda: flow._send_back_target(first, first.step("approve0"), None), InvalidInput,
            "step approve0 has no earlier task step to send back to; name one with --to")
    missing = refused("bad-to", lambda: flow._send_back_target(first, first.step("approve0"), "prepare"),
                      InvalidInput)
    assert missing.message.endswith("on the path of step approve0: there is none")


def test_cancelling_records_who_cancelled_why_and_the_tasks_it_closed() -> None:
    run = started()
    prepare = open_task(run)
    cancelled = flow.cancel_run(CTX, run, actor="sam", reason="customer walked away")
    owner = {"kind": "owner", "detail": "sam"}
    assert cancelled.events == [
        event("task.cancelled", prepare, actor="sam", authority=owner, data={"reason": "run cancelled"}),
        event("run.cancelled", None, actor="sam", authority=owner, data={"reason": "customer walked away"})]
    expired = flow.expire_run(CTX, run, reason="nobody decided")
    assert expired.events == [event("task.cancelled", prepare, data={"reason": "nobody decided"}),
                              event("run.cancelled", None, data={"reason": "nobody decided"})]


def test_a_reassignment_records_who_moved_which_task_from_whom_to_whom() -> None:
    run, decision = at_decision()
    assert reassign(run, decision, "erin").events == [event(
        "assignment.changed", decision, actor="sam", authority={"kind": "owner", "detail": "workflow owner"},
        data={"from": "dave", "to": "erin", "kind": "reassignment", "reason": "load", "blocked": False})]


def test_a_check_has_no_assignee_to_reassign() -> None:
    run, _ = at_decision()
    check = next(t for t in run.tasks if t.type == "check")
    refused("wrong-task-type", lambda: reassign(run, check, "erin"), InvalidInput,
            f"task {check.id} is a check and has no assignee")


def test_a_recommendation_names_the_documents_it_was_made_on() -> None:
    run = flow.start_run(CTX, run_id="r-1", actor="bob", input=INPUT, version=1, why=None,
                         attachments=(SHEET,)).state
    run = flow.complete_task(CTX, run, task_id=open_task(run).id, actor="alice", output=OUTPUT).state
    decision = open_task(run)
    (recorded,) = recommend(run, decision).events
    assert recorded == event("recommendation.recorded", decision, actor="carol",
                             authority={"kind": "role", "detail": "recommend"},
                             data={"outcome": "approve", "rationale": "margin holds", "attempt": 1,
                                   "data_hash": decision.data_hash, "documents": [SHEET.sha256]})


def test_refusals_say_what_was_refused_and_why() -> None:
    run, decision = at_decision()
    prepare = run.tasks[0]
    gap = replace(decision, blocked=True)
    for rule, command, kind, message in [
        ("unknown-task", lambda: decide(run, replace(decision, id="t-none")), NotFound, "unknown task 't-none'"),
        ("wrong-task-type", lambda: flow.complete_task(CTX, run, task_id=decision.id, actor="dave"), InvalidInput,
         f"task {decision.id} is a decision; `complete` applies to task or action tasks"),
        ("run-state", lambda: decide(replace(run, status=RunStatus.CANCELLED), decision), InvalidTransition,
         "run r-1 is cancelled"),
        ("task-state", lambda: flow.complete_task(CTX, run, task_id=prepare.id, actor="alice", output=OUTPUT),
         InvalidTransition, f"task {prepare.id} is completed; only ready or in_progress tasks can be complete"),
        ("not-assignee", lambda: decide(run, decision, actor="erin"), Forbidden,
         f"only the assignee (dave) may decide task {decision.id} (step approve)"),
        ("ownership-gap", lambda: decide(replace(run, tasks=(*run.tasks[:-1], gap)), gap), Forbidden,
         f"task {decision.id} is an ownership gap held by the workflow owner, who may reassign it but never decide it"),
        ("outcome-not-allowed", lambda: decide(run, decision, "escalate"), Forbidden,
         "outcome 'escalate' is not allowed at step approve; options: approve, reject, send_back"),
        ("rationale-required", lambda: decide(run, decision, rationale=""), Forbidden,
         "step approve requires a rationale: say why, with --rationale TEXT (the API's `rationale`)"),
        ("cancel-not-allowed", lambda: flow.cancel_run(CTX, run, actor="alice", reason="x"), Forbidden,
         "only the starter, the workflow owner or the outcome owner may cancel a run"),
        ("reason-required", lambda: flow.cancel_run(CTX, run, actor="bob", reason=""), Forbidden,
         "cancelling a run needs a reason"),
        ("unknown-task", lambda: recommend(run, replace(decision, id="t-none")), NotFound, "unknown task 't-none'"),
        ("wrong-task-type", lambda: recommend(run, prepare), InvalidInput,
         f"task {prepare.id} is a task; only decisions take recommendations"),
        ("task-state", lambda: recommend(replace(run, status=RunStatus.CANCELLED), decision), InvalidTransition,
         f"task {decision.id} is ready; recommendations go on open decisions"),
        ("no-recommend-right", lambda: recommend(run, decision, actor="omar"), Forbidden,
         "omar does not hold recommend at step approve"),
        ("outcome-not-allowed", lambda: recommend(run, decision, outcome="x"), Forbidden,
         "outcome 'x' is not allowed at step approve"),
        ("rationale-required", lambda: recommend(run, decision, rationale=" "), Forbidden,
         "a recommendation needs a rationale"),
        ("unknown-task", lambda: reassign(run, replace(decision, id="t-none"), "erin"), NotFound,
         "unknown task 't-none'"),
        ("unknown-actor", lambda: reassign(run, decision, "zed"), NotFound, "unknown actor 'zed'"),
        ("reassign-not-owner", lambda: reassign(run, decision, "erin", actor="dave"), Forbidden,
         f"only the workflow owner (sam) or the outcome owner (maria) may reassign task {decision.id}"),
        ("reason-required", lambda: reassign(run, decision, "erin", reason=""), Forbidden,
         "a reassignment needs a reason"),
        ("task-state", lambda: reassign(run, prepare, "bob"), InvalidTransition, f"task {prepare.id} is completed"),
        ("already-assigned", lambda: reassign(run, decision, "dave"), InvalidTransition,
         f"task {decision.id} is already assigned to dave"),
        ("not-an-approver", lambda: reassign(run, decision, "carol"), Forbidden,
         "carol does not hold approve at step approve"),
    ]:
        refused(rule, command, kind, message)
    started_task = flow.start_task(CTX, run, task_id=decision.id, actor="dave").state
    refused("task-state", lambda: flow.start_task(CTX, started_task, task_id=decision.id, actor="dave"),
            InvalidTransition, f"task {decision.id} is already in_progress")
    preparing = started()
    refused("not-a-member", lambda: reassign(preparing, open_task(preparing), "dave"), Forbidden,
            "dave is not a member of account-exec, which has available members")
    seat = replace(decision, id="t-seat", assignee="erin", seat=1)
    refused("seat-taken", lambda: reassign(replace(run, tasks=(*run.tasks, seat)), decision, "erin"), Forbidden,
            "erin already holds a seat of step approve")
    carol_decides = replace(decision, assignee="erin", on_behalf_of="carol")
    refused("decider-cannot-recommend", lambda: recommend(replace(run, tasks=(*run.tasks[:-1], carol_decides)),
                                                          carol_decides), Forbidden,
            "carol is a decider of step approve and decides rather than recommends")


def test_only_a_decision_step_takes_a_decision() -> None:
    run, decision = at_decision()
    with pytest.raises(RuntimeError, match=f"task {run.tasks[0].id} is not on a decision step"):
        flow._decision_step(CTX, run.tasks[0])
    assert flow._decision_step(CTX, decision).id == "approve"


ACTION = PRICING.read_text()[PRICING.read_text().index("  - id: apply"):PRICING.read_text().index("governance:")]
WITH_ACTION = load_playbook(parse_yaml(PRICING.read_text().replace(ACTION, """  - id: apply
    type: action
    action: {webhook: "https://erp.example.com/hook"}
"""), "p.yaml"))


def test_an_action_the_system_could_not_finish_is_handed_on_by_an_owner() -> None:
    ctx = replace(CTX, playbook=WITH_ACTION)
    run = flow.start_run(ctx, run_id="r-1", actor="bob", input=INPUT, version=1, why=None).state
    run = flow.complete_task(ctx, run, task_id=open_task(run).id, actor="alice", output=OUTPUT).state
    run = flow.decide(ctx, run, task_id=open_task(run).id, actor="dave", outcome="approve", rationale="ok",
                      to=None).state
    action = open_task(run)
    assert (action.type, action.assignee, action.approver) == ("action", None, "deal-desk")  # who executes
    refused("not-assignee", lambda: flow.complete_task(ctx, run, task_id=action.id, actor="carol", output={}),
            Forbidden, f"only the assignee (the system) may complete task {action.id} (step apply)")
    failed = flow.action_failed(ctx, run, task_id=action.id, error="502", attempts=3).state
    held = open_task(failed)
    other = "chen" if held.assignee == "carol" else "carol"
    assert flow.start_task(ctx, failed, task_id=action.id, actor=str(held.assignee)).events[0].type == "task.started"
    (moved,) = flow.reassign(ctx, failed, task_id=action.id, actor="sam", to=other, reason="cover").events
    assert moved.data == {"from": held.assignee, "to": other, "kind": "reassignment", "reason": "cover",
                          "blocked": False}
    refused("not-a-member", lambda: flow.reassign(ctx, failed, task_id=action.id, actor="sam", to="dave",
                                                  reason="cover"), Forbidden,
            "dave is not a member of deal-desk, which has available members")
    done = flow.complete_task(ctx, failed, task_id=action.id, actor=str(held.assignee), output={"erp_id": "E-1"})
    assert done.state.status == RunStatus.COMPLETED


def test_a_preparation_is_started_by_its_assignee_and_by_nobody_else() -> None:
    run = started()
    prepare = open_task(run)
    assert flow.start_task(CTX, run, task_id=prepare.id, actor="alice").events[0].type == "task.started"
    refused("not-assignee", lambda: flow.start_task(CTX, run, task_id=prepare.id, actor="bob"), Forbidden,
            f"only the assignee (alice) may start task {prepare.id} (step prepare)")
    done = flow.complete_task(CTX, run, task_id=prepare.id, actor="alice", output=OUTPUT).state
    refused("task-state", lambda: flow.start_task(CTX, done, task_id=prepare.id, actor="alice"), InvalidTransition,
            f"task {prepare.id} is completed; only ready or in_progress tasks can be start")


def test_a_task_no_longer_open_names_its_state() -> None:
    run, _ = at_decision()
    prepare = run.tasks[0]
    wrong = refused("task-state", lambda: flow.complete_task(CTX, run, task_id=prepare.id, actor="alice",
                                                             output=OUTPUT), InvalidTransition)
    assert wrong.details == {"status": TaskStatus.COMPLETED}


def test_an_agent_may_be_handed_a_decision_it_may_take_under_a_guarded_row() -> None:
    run, decision = at_decision()
    agents = load_directory(parse_yaml(DIRECTORY.read_text().replace(
        "roles: [deal-desk-assistant]}", "roles: [deal-desk-assistant, finance]}"), "d.yaml"))[0]
    (moved,) = flow.reassign(replace(CTX, directory=agents), run, task_id=decision.id, actor="sam", to="intake-bot",
                             reason="load").events
    assert moved.data["to"] == "intake-bot"
    by_role = replace(decision, authority_row=None)
    refused("agent-not-authorized", lambda: flow.reassign(
        replace(CTX, directory=agents), replace(run, tasks=(*run.tasks[:-1], by_role)), task_id=decision.id,
        actor="sam", to="intake-bot", reason="load"), Forbidden, "agent intake-bot may not decide step approve")


def test_a_reassignment_names_the_separation_of_duties_it_would_break() -> None:
    run, decision = at_decision()
    finance_prepared = replace(run.tasks[0], assignee="erin")
    refused("separation-of-duties", lambda: reassign(replace(run, tasks=(finance_prepared, *run.tasks[1:])),
                                                     decision, "erin"), Forbidden,
            "separation of duties at step approve: erin acted on step prepare, listed in separation_of_duties")


def test_a_send_back_lists_every_step_it_may_go_to() -> None:
    first = load_playbook(parse_yaml(PRICING.read_text().replace("    separation_of_duties: [prepare]\n", "").replace(
        "  - id: prepare\n", "  - id: approve0\n    type: decision\n    rights: {approve: finance}\n"
        "    options: [approve, send_back]\n    clarity: {what: a, why: b, success: c, due: 1d}\n"
        "  - id: prepare\n", 1), "p.yaml"))
    wrong = refused("bad-to", lambda: flow._send_back_target(first, first.step("approve"), "apply"), InvalidInput)
    assert wrong.message.endswith("on the path of step approve: approve0, prepare")
