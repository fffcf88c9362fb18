"""How a run moves on (SPEC §3), as pure rules over a playbook and a directory: which step opens next and for
whom, a decision's seats and the rights enforced while routing them (separation of duties, delegates,
escalation), checks, skipped steps, parallel branches, how far a send-back reaches, ownership gaps, and
how a run ends."""

from __future__ import annotations

from dataclasses import replace

import pytest
from tests.domain.flows import (
    AT,
    AWAY,
    PRICE,
    Workload,
    at_decision,
    auth,
    complete,
    context,
    decide,
    event,
    of_type,
    only_open,
    open_tasks,
    people,
    playbook,
    start,
    types,
)

from ledgerflow.domain import flow
from ledgerflow.domain.autonomy import AgentAutonomy, Autonomy
from ledgerflow.domain.errors import InvalidTransition
from ledgerflow.domain.playbook import Playbook
from ledgerflow.domain.runs import RunState, TaskState
from ledgerflow.domain.states import RunStatus, TaskStatus

# ------------------------------------------------------------------------------------ tasks and their owners


def test_a_started_run_opens_its_first_task_for_the_first_free_member_with_its_due_time() -> None:
    started = start(context())
    assert started.events[1:] == [event("task.ready", "t-1", "prepare", authority=auth("role", "sales"), data={
        "type": "task", "attempt": 1, "seat": 0, "assignee": "alice", "on_behalf_of": None, "ready_at": AT,
        "due_at": "2026-03-03T08:00:00.000000Z", "sla_due_at": None})]
    assert started.state.status == RunStatus.RUNNING


def side_by_side(*ids: str) -> Playbook:
    """The price playbook opening with a parallel block of one sales task per id."""
    block = "".join(f"      - - {{id: {i}, type: task, owner: sales}}\n" for i in ids)
    return playbook(PRICE, ("  - id: prepare\n", f"  - id: block\n    type: parallel\n    branches:\n{block}"
                                                   "  - id: prepare\n"))


def test_work_routed_earlier_in_the_same_command_counts_as_open_work() -> None:
    # bob has one open task and cora two; alice takes the first branch, ties with bob on the second (directory
    # order: alice again) and has the most by the third, which goes to bob
    run = start(context(side_by_side("one", "two", "three"), workload=Workload(open={"bob": 1, "cora": 2}))).state
    assert [(t.step, t.assignee) for t in open_tasks(run)] == [("one", "alice"), ("two", "alice"), ("three", "bob")]
    run = start(context(side_by_side("one", "two"), workload=Workload(open={"bob": 1}))).state
    assert [(t.step, t.assignee) for t in open_tasks(run)] == [("one", "alice"), ("two", "cora")]


def test_a_tie_in_open_work_goes_to_who_was_given_the_step_least_recently() -> None:
    last = {("price", "prepare"): {"alice": ("2026-03-01T09:00:00.000000Z", 1),
                                   "bob": ("2026-02-27T09:00:00.000000Z", 1)}}
    run = start(context(workload=Workload(last=last))).state
    assert only_open(run).assignee == "cora"  # never given it
    elsewhere = {("other", "prepare"): last[("price", "prepare")], ("price", "apply"): last[("price", "prepare")]}
    assert only_open(start(context(workload=Workload(last=elsewhere))).state).assignee == "alice"


def test_a_round_robin_task_goes_to_the_member_after_the_one_given_it_last() -> None:
    robin = playbook(PRICE, ("    owner: sales\n    clarity: {what: Prepare",
                             "    owner: sales\n    routing: round-robin\n    clarity: {what: Prepare"))
    last = {("price", "prepare"): {"alice": (AT, 1)}}
    loaded = Workload(open={"bob": 3}, last=last)
    assert only_open(start(context(robin, workload=loaded)).state).assignee == "bob"  # despite his load
    assert only_open(start(context(workload=loaded)).state).assignee == "cora"  # least-loaded, not last


def test_a_task_whose_members_are_all_away_goes_to_a_delegate_on_their_behalf() -> None:
    away = people(("alice, roles: [sales]}", f"alice, roles: [sales], delegate: sam, {AWAY}}}"),
                  ("bob, roles: [sales]}", f"bob, roles: [sales], {AWAY}}}"),
                  ("cora, roles: [sales]}", f"cora, roles: [sales], {AWAY}}}"))
    ready = start(context(directory=away)).events[1]
    assert ready.authority == auth("delegation", "alice")
    assert (ready.data["assignee"], ready.data["on_behalf_of"]) == ("sam", "alice")


def test_a_task_nobody_can_take_goes_to_the_workflow_owner_as_an_ownership_gap() -> None:
    away = people(*((f"{p}, roles: [sales]}}", f"{p}, roles: [sales], {AWAY}}}") for p in ("alice", "bob", "cora")))
    started = start(context(directory=away))
    assert started.events[1:] == [
        event("ownership.gap", "t-1", "prepare",
              data={"role": "sales", "resolved_to": "sam", "blocked": False, "attempt": 1}),
        event("task.ready", "t-1", "prepare", authority=auth("ownership_gap", "sales"), data={
            "type": "task", "attempt": 1, "seat": 0, "assignee": "sam", "on_behalf_of": None, "ready_at": AT,
            "due_at": "2026-03-03T08:00:00.000000Z", "sla_due_at": None, "blocked": False})]


def test_a_gap_goes_to_the_workflow_owners_delegate_when_the_owner_is_away_and_to_admin_without_an_owner() -> None:
    everyone_away = [(f"{p}, roles: [sales]}}", f"{p}, roles: [sales], {AWAY}}}") for p in ("alice", "bob", "cora")]
    sam_away = people(*everyone_away, ("sam, roles: [ops]}", f"sam, roles: [ops], delegate: lena, {AWAY}}}"))
    gap, ready = start(context(directory=sam_away)).events[1:]
    assert gap.data["resolved_to"] == "lena"
    assert (ready.data["assignee"], ready.data["on_behalf_of"]) == ("lena", "sam")
    sam_gone = people(*everyone_away, ("sam, roles: [ops]}", f"sam, roles: [ops], {AWAY}}}"))
    assert start(context(directory=sam_gone)).events[2].data["assignee"] == "sam"  # nobody stands in: still sam
    ownerless = playbook(PRICE, ("workflow_owner: sam\n", ""))
    gap, ready = start(context(ownerless, directory=people(*everyone_away))).events[1:]
    assert gap.data["resolved_to"] == ready.data["assignee"] == "admin"


def test_reworked_work_goes_back_to_who_did_it_last_while_they_hold_the_role_and_are_free() -> None:
    ctx = context(workload=Workload(open={"alice": 1}))  # so bob prepares first
    run = start(ctx).state
    assert only_open(run).assignee == "bob"
    bob_busy = context(workload=Workload(open={"bob": 1}))  # routing alone would now pick alice
    sent = complete(bob_busy, run, only_open(run), {"ready": False})  # the check sends it back
    again = only_open(sent.state)
    assert (again.step, again.assignee, again.attempt) == ("prepare", "bob", 2)
    assert sent.events[-1].authority == auth("role", "sales")
    bob_away = context(directory=people(("bob, roles: [sales]}", f"bob, roles: [sales], {AWAY}}}")),
                       workload=Workload(open={"alice": 1}))
    assert only_open(complete(bob_away, run, only_open(run), {"ready": False}).state).assignee == "cora"
    bob_moved = context(directory=people(("bob, roles: [sales]}", "bob, roles: [ops]}")),
                        workload=Workload(open={"alice": 1}))
    assert only_open(complete(bob_moved, run, only_open(run), {"ready": False}).state).assignee == "cora"


def test_work_a_decision_sends_back_returns_to_who_did_it_not_to_the_decider() -> None:
    ctx = context(workload=Workload(open={"alice": 1}))
    run = at_decision(ctx)
    assert run.tasks[0].assignee == "bob"
    sent = decide(context(workload=Workload(open={"bob": 1})), run, only_open(run), "send_back", to="prepare")
    again = only_open(sent.state)
    assert (again.step, again.assignee, again.attempt) == ("prepare", "bob", 2)


def test_a_task_without_an_owner_is_an_ownership_gap() -> None:
    ownerless = playbook(PRICE, ("    owner: sales\n    clarity: {what: Prepare", "    clarity: {what: Prepare"))
    gap, ready = start(context(ownerless)).events[1:]
    assert (gap.data["role"], gap.data["resolved_to"], ready.authority) == ("", "sam", auth("ownership_gap", ""))


def test_only_the_latest_worker_of_a_reworked_task_is_asked_back() -> None:
    ctx = context(workload=Workload(open={"alice": 1}))
    run = start(ctx).state
    run = complete(ctx, run, only_open(run), {"ready": False}).state  # bob did attempt 1
    run = replace(run, tasks=(*run.tasks[:-1], replace(run.tasks[-1], assignee="cora")))  # cora holds attempt 2
    cora_away = context(directory=people(("cora, roles: [sales]}", f"cora, roles: [sales], {AWAY}}}")),
                        workload=Workload(open={"alice": 1, "bob": 1}))
    third = only_open(complete(cora_away, run, only_open(run), {"ready": False}).state)
    assert (third.attempt, third.assignee) == (3, "alice")  # routed again: bob, who did it before cora, is not asked


def test_an_action_waits_on_the_system_naming_who_executes_it() -> None:
    action = playbook(PRICE, ("""  - id: apply
    type: task
    owner: sales
""", """  - id: apply
    type: action
    action: {webhook: "https://erp.example.com/hook"}
"""))
    ctx = context(action)
    run = at_decision(ctx)
    approved = decide(ctx, run, only_open(run))
    assert approved.events[-1] == event("task.ready", "t-4", "apply", data={
        "type": "action", "attempt": 1, "seat": 0, "assignee": None, "ready_at": AT, "due_at": None,
        "sla_due_at": None, "approver": "sales"})  # the decision's execute right
    owned = replace(ctx, playbook=playbook(PRICE, ("""  - id: apply
    type: task
    owner: sales
""", """  - id: apply
    type: action
    owner: lena
    action: {webhook: "https://erp.example.com/hook"}
""")))
    assert decide(owned, run, only_open(run)).events[-1].data["approver"] == "lena"


# --------------------------------------------------------------------------------------------------- checks


def test_a_passing_check_is_recorded_and_the_decision_opens_for_finance_with_what_it_decides_on() -> None:
    ctx = context()
    run = start(ctx).state
    done = complete(ctx, run, only_open(run))
    check, ready = done.events[1:]
    assert check == event("check.passed", "t-2", "check", data={"type": "check", "attempt": 1, "assignee": None})
    assert ready == event("task.ready", "t-3", "approve", authority=auth("authority_row", 0), data={
        "type": "decision", "attempt": 1, "seat": 0, "assignee": "dave", "on_behalf_of": None, "ready_at": AT,
        "due_at": "2026-03-03T08:00:00.000000Z", "sla_due_at": "2026-03-03T08:00:00.000000Z",
        "approver": "finance", "authority_row": 0, "data_hash": flow.data_under_decision(
            done.state, ctx.playbook, ctx.playbook.step("approve"))})


def test_a_rule_with_reject_ends_the_run_naming_the_check() -> None:
    ctx = context()
    run = start(ctx, discount=45).state
    done = complete(ctx, run, only_open(run))
    assert done.events[1:] == [
        event("check.failed", "t-2", "check", data={
            "type": "check", "attempt": 1, "assignee": None, "rule": 0,
            "error": "Discounts above 40% are outside policy", "on_fail": "reject"}),
        event("run.rejected", None, None, data={"by_task": "t-2"})]
    assert done.state.status == RunStatus.REJECTED


def test_a_failed_rule_without_its_own_on_fail_sends_back_where_the_check_says() -> None:
    ctx = context()
    run = start(ctx).state
    prepare = only_open(run)
    done = complete(ctx, run, prepare, {"ready": False})
    assert done.events[1:] == [
        event("check.failed", "t-2", "check", data={
            "type": "check", "attempt": 1, "assignee": None, "rule": 1, "error": "The deal sheet is not ready",
            "on_fail": "send_back"}),
        event("task.sent_back", "t-2", "check", data={"to": "prepare", "superseded": [prepare.id], "cancelled": []}),
        event("task.ready", "t-3", "prepare", authority=auth("role", "sales"), data={
            "type": "task", "attempt": 2, "seat": 0, "assignee": "alice", "on_behalf_of": None, "ready_at": AT,
            "due_at": "2026-03-03T08:00:00.000000Z", "sla_due_at": None})]
    assert done.state.task(prepare.id).status == TaskStatus.SENT_BACK  # type: ignore[union-attr]


def test_a_check_rechecks_reworked_work_and_lets_it_through() -> None:
    ctx = context()
    run = start(ctx).state
    run = complete(ctx, run, only_open(run), {"ready": False}).state
    done = complete(ctx, run, only_open(run))
    assert done.events[1] == event("check.passed", "t-4", "check", data={"type": "check", "attempt": 2,
                                                                         "assignee": None})
    assert only_open(done.state).step == "approve"


def test_a_rule_that_cannot_be_evaluated_fails_with_its_error_and_a_check_without_on_fail_rejects() -> None:
    bare = playbook(PRICE, ("    on_fail: {send_back: prepare}\n", ""),
                    ("steps.prepare.output.ready == true", "steps.prepare.output.ready"))
    ctx = context(bare)
    run = start(ctx).state
    done = complete(ctx, run, only_open(run), {"ready": 1})
    failed, rejected = done.events[1:]
    assert failed.data["error"] == "The deal sheet is not ready (error: `steps.prepare.output.ready` gave 1, not " \
                                   "true or false)"
    assert (failed.data["on_fail"], failed.data["rule"]) == ("reject", 1)
    assert rejected.type == "run.rejected" and done.state.status == RunStatus.REJECTED
    passed = complete(ctx, run, only_open(run), {"ready": True})
    assert types(passed)[1:3] == ["check.passed", "task.ready"]


# ---------------------------------------------------------------------------------------------- skipping

WHEN = ("    rights: {approve: finance, execute: sales}\n",
        "    when: input.discount > 10\n    rights: {approve: finance, execute: sales}\n")


def test_a_step_whose_condition_is_false_is_recorded_as_skipped_once_and_the_run_moves_past_it() -> None:
    ctx = context(playbook(PRICE, WHEN))
    run = start(ctx, discount=5).state
    done = complete(ctx, run, only_open(run))
    assert done.events[2] == event("step.skipped", "t-3", "approve", data={
        "type": "decision", "attempt": 1, "assignee": None, "when": "input.discount > 10"})
    apply = only_open(done.state)
    assert (apply.step, apply.attempt) == ("apply", 1)
    finished = complete(ctx, done.state, apply)
    assert types(finished) == ["task.completed", "run.completed"]  # not skipped a second time
    assert finished.state.status == RunStatus.COMPLETED


def test_a_step_whose_condition_holds_or_cannot_be_evaluated_runs() -> None:
    ctx = context(playbook(PRICE, WHEN))
    assert only_open(at_decision(ctx, discount=15)).step == "approve"
    broken = context(playbook(PRICE, (WHEN[0], WHEN[0].replace("rights", "when: input.missing > 10\n    rights"))))
    assert only_open(at_decision(broken)).step == "approve"  # fails closed: the decision is taken


def test_a_condition_reads_what_the_same_command_recorded() -> None:
    # `approve` is skipped while the run moves, and `apply` asks whether it was: the context is read afresh
    reads = playbook(PRICE, WHEN, ("    owner: sales\n    clarity: {what: Apply",
                                   "    owner: sales\n    when: '\"approve\" in decision'\n    clarity: {what: Apply"))
    ctx = context(reads)
    run = start(ctx, discount=5).state
    assert only_open(complete(ctx, run, only_open(run)).state).step == "apply"


# ------------------------------------------------------------------------------------ a decision's seats

QUORUM = ("    quorum: 1\n", "    quorum: 2\n")


def test_each_seat_of_a_decision_goes_to_another_approver_under_the_matched_row() -> None:
    ctx = context(playbook(PRICE, QUORUM))
    run = at_decision(ctx)
    seats = open_tasks(run)
    assert [(t.seat, t.assignee, t.authority_row, t.approver) for t in seats] == [(0, "dave", 0, "finance"),
                                                                                  (1, "erin", 0, "finance")]
    big = at_decision(ctx, value=90000)
    assert [(t.assignee, t.authority_row, t.approver) for t in open_tasks(big)] == [("maria", 1, "vp"),
                                                                                   ("victor", 1, "vp")]


def test_a_seat_tied_on_open_work_goes_to_the_approver_given_this_decision_least_recently() -> None:
    last = {("price", "approve"): {"dave": ("2026-03-01T09:00:00.000000Z", 1)}}
    assert only_open(at_decision(context(workload=Workload(last=last)))).assignee == "erin"
    elsewhere = {("price", "prepare"): last[("price", "approve")], ("other", "approve"): last[("price", "approve")]}
    assert only_open(at_decision(context(workload=Workload(last=elsewhere)))).assignee == "dave"


def test_a_decision_without_authority_rows_is_routed_by_the_approve_right() -> None:
    plain = playbook(PRICE, ("""    authority:
      - when: input.value <= 50000
        approve: finance
      - approve: vp
""", ""))
    ctx = context(plain)
    run = start(ctx).state
    ready = complete(ctx, run, only_open(run)).events[-1]
    assert ready.authority == auth("role", "finance") and "authority_error" not in ready.data
    assert (ready.data["assignee"], ready.data["authority_row"], ready.data["approver"]) == ("dave", None, "finance")


def test_a_row_that_cannot_be_evaluated_is_passed_over_and_named_with_the_seat() -> None:
    broken = playbook(PRICE, ("input.value <= 50000", "input.missing <= 50000"))
    ctx = context(broken)
    run = start(ctx).state
    ready = complete(ctx, run, only_open(run)).events[-1]
    assert (ready.data["assignee"], ready.data["approver"], ready.data["authority_row"]) == ("maria", "vp", 1)
    assert ready.data["authority_error"] == "authority row 0: no such key: missing"


def test_who_prepared_the_request_or_started_the_run_gets_no_seat() -> None:
    finance_sells = people(("dave, roles: [finance]}", "dave, roles: [finance, sales]}"))
    ctx = context(directory=finance_sells, workload=Workload(open={"alice": 1, "bob": 1, "cora": 1}))
    run = start(ctx).state
    assert only_open(run).assignee == "dave"
    assert only_open(complete(ctx, run, only_open(run)).state).assignee == "erin"
    assert only_open(at_decision(context(), starter="dave")).assignee == "erin"


def test_a_seat_is_not_given_to_an_approvers_delegate_who_prepared_the_request() -> None:
    # dave is away and delegates to alice, who prepared it; erin is free
    away = people(("dave, roles: [finance]}", f"dave, roles: [finance], delegate: alice, {AWAY}}}"))
    run = at_decision(context(directory=away))
    assert only_open(run).assignee == "erin"
    # with erin away too, nobody may stand in, and the decision escalates to the outcome owner
    both = people(("dave, roles: [finance]}", f"dave, roles: [finance], delegate: alice, {AWAY}}}"),
                  ("erin, roles: [finance]}", f"erin, roles: [finance], {AWAY}}}"))
    seat = only_open(at_decision(context(directory=both)))
    assert (seat.assignee, seat.escalated) == ("maria", True)


def test_a_seat_is_not_given_to_the_delegate_of_an_approver_who_started_the_run() -> None:
    # dave started the run before going away; lena stands in for him, but not on his own request
    away = people(("dave, roles: [finance]}", f"dave, roles: [finance], delegate: lena, {AWAY}}}"),
                  ("erin, roles: [finance]}", f"erin, roles: [finance], {AWAY}}}"))
    seat = only_open(at_decision(context(directory=away), starter="dave"))
    assert (seat.assignee, seat.on_behalf_of, seat.escalated) == ("maria", None, True)


def test_a_delegate_takes_a_seat_for_an_away_approver() -> None:
    away = people(("dave, roles: [finance]}", f"dave, roles: [finance], delegate: lena, {AWAY}}}"),
                  ("erin, roles: [finance]}", f"erin, roles: [finance], {AWAY}}}"))
    ctx = context(directory=away)
    run = start(ctx).state
    ready = complete(ctx, run, only_open(run)).events[-1]
    assert ready.authority == auth("delegation", "dave")
    assert (ready.data["assignee"], ready.data["on_behalf_of"], ready.data["approver"]) == ("lena", "dave", "finance")


def test_the_same_delegate_takes_one_seat_only() -> None:
    away = people(("dave, roles: [finance]}", f"dave, roles: [finance], delegate: lena, {AWAY}}}"),
                  ("erin, roles: [finance]}", f"erin, roles: [finance], delegate: lena, {AWAY}}}"))
    run = at_decision(context(playbook(PRICE, QUORUM), directory=away))
    assert [(t.seat, t.assignee, t.on_behalf_of, t.escalated, t.blocked) for t in open_tasks(run)] == [
        (0, "lena", "dave", False, False), (1, "maria", None, True, False)]


def test_an_agent_takes_a_seat_only_under_a_guarded_row_that_names_it() -> None:
    agents = people(("bot, roles: [helper]}", "bot, roles: [helper, finance]}"),
                    ("dave, roles: [finance]}", f"dave, roles: [finance], {AWAY}}}"),
                    ("erin, roles: [finance]}", f"erin, roles: [finance], {AWAY}}}"))
    guarded = at_decision(context(directory=agents))
    assert only_open(guarded).assignee == "bot"
    unguarded = playbook(PRICE, ("""    authority:
      - when: input.value <= 50000
        approve: finance
      - approve: vp
""", ""))
    seat = only_open(at_decision(context(unguarded, directory=agents)))
    assert (seat.assignee, seat.escalated) == ("maria", True)


def test_an_agent_whose_autonomy_was_widened_takes_a_decision_the_people_of_its_row_may_not() -> None:
    # the guard reads value <= 50000; the owners let bot decide up to 100000, and the row's people keep the
    # guard as written: 80000 stays finance's row, and only bot may take it
    agents = people(("bot, roles: [helper]}", "bot, roles: [helper, finance]}"))
    widened = Autonomy((AgentAutonomy(playbook="price", step="approve", agent="bot", limit=100000.0, withdrawn=False,
                                      decided_by="maria", decided_at=AT, rationale="agrees with finance"),))
    ctx = replace(context(directory=agents), autonomy=widened)
    seat = only_open(at_decision(ctx, value=80000))
    assert (seat.assignee, seat.approver, seat.authority_row) == ("bot", "finance", 0)
    as_written = only_open(at_decision(context(directory=agents), value=80000))
    assert (as_written.assignee, as_written.approver) == ("maria", "vp")


def test_the_seats_of_a_reopened_decision_go_back_to_who_held_them() -> None:
    # erin decided and sent it back; the redone request comes back to her, not to dave (first in the directory)
    ctx = context(workload=Workload(open={"dave": 1}))
    run = at_decision(ctx)
    assert only_open(run).assignee == "erin"
    run = decide(ctx, run, only_open(run), "send_back", to="prepare").state
    again = complete(context(), run, only_open(run))
    seat = only_open(again.state)
    assert (seat.assignee, seat.attempt) == ("erin", 2)
    assert again.events[-1].authority == auth("authority_row", 0)
    erin_away = context(directory=people(("erin, roles: [finance]}", f"erin, roles: [finance], {AWAY}}}")))
    assert only_open(complete(erin_away, run, only_open(run)).state).assignee == "dave"


VERIFY = ("  - id: apply\n", """  - id: verify
    type: check
    rules:
      - expr: steps.prepare.output.final == true
        message: Not final
        on_fail: {send_back: prepare}
  - id: apply
""")


def test_both_seats_of_a_reworked_decision_return_to_their_holders_the_last_opened_first() -> None:
    ctx = context(playbook(PRICE, QUORUM, VERIFY))
    run = at_decision(ctx)
    dave, erin = open_tasks(run)
    run = decide(ctx, run, erin).state
    run = decide(ctx, run, dave).state  # the verify check sends the run back to prepare
    prepare = only_open(run)
    assert (prepare.step, prepare.attempt) == ("prepare", 2)
    run = complete(ctx, run, prepare, {"ready": True, "final": True}).state
    assert [(t.seat, t.assignee, t.attempt) for t in open_tasks(run)] == [(0, "erin", 2), (1, "dave", 2)]


def test_a_previous_holder_now_separated_from_the_decision_is_passed_over() -> None:
    ctx = context(playbook(PRICE, QUORUM, VERIFY))
    run = at_decision(ctx)
    dave, erin = open_tasks(run)
    run = decide(ctx, decide(ctx, run, dave).state, erin).state
    prepare = only_open(run)
    erin_prepares = replace(prepare, assignee="erin")  # handed to erin, who did it
    run = replace(run, tasks=(*run.tasks[:-1], erin_prepares))
    redone = flow.complete_task(ctx, run, task_id=prepare.id, actor="erin", output={"ready": True, "final": True})
    assert [(t.seat, t.assignee, t.escalated) for t in open_tasks(redone.state)] == [(0, "dave", False),
                                                                                     (1, "maria", True)]


# ------------------------------------------------------------------------------------------------ escalation

FINANCE_AWAY = (("dave, roles: [finance]}", f"dave, roles: [finance], {AWAY}}}"),
                ("erin, roles: [finance]}", f"erin, roles: [finance], {AWAY}}}"))


def test_a_decision_nobody_in_the_role_can_take_escalates_to_whom_the_sla_names() -> None:
    ctx = context(directory=people(*FINANCE_AWAY))
    run = start(ctx).state
    done = complete(ctx, run, only_open(run))
    ready = done.events[-1]
    assert ready.authority == auth("escalation", "maria")
    assert (ready.data["assignee"], ready.data["escalated"], ready.data["approver"]) == ("maria", True, "finance")
    assert only_open(done.state).escalated


def test_an_escalation_skips_targets_who_may_not_approve_and_ends_at_the_outcome_owner() -> None:
    to_lena = playbook(PRICE, ("to: maria}", "to: lena}"))
    seat = only_open(at_decision(context(to_lena, directory=people(*FINANCE_AWAY))))
    assert (seat.assignee, seat.escalated) == ("maria", True)  # lena neither approves nor owns the outcome
    to_victor = playbook(PRICE, ("to: maria}", "to: victor}"), ("owner: maria, statement", "owner: victor, statement"))
    seat = only_open(at_decision(context(to_victor, directory=people(*FINANCE_AWAY))))
    assert seat.assignee == "victor"


def test_an_escalation_fills_one_seat_only() -> None:
    ctx = context(playbook(PRICE, QUORUM), directory=people(*FINANCE_AWAY))
    run = start(ctx).state
    done = complete(ctx, run, only_open(run))
    assert [(t.seat, t.assignee, t.attempt, t.escalated, t.blocked) for t in open_tasks(done.state)] == [
        (0, "maria", 1, True, False), (1, "sam", 1, False, True)]
    assert [e.type for e in done.events[2:]] == ["task.ready", "ownership.gap", "task.ready"]


def test_an_escalation_is_not_given_to_the_delegate_of_an_outcome_owner_who_started_the_run() -> None:
    away = people(*FINANCE_AWAY, ("maria, roles: [vp]}", f"maria, roles: [vp], delegate: lena, {AWAY}}}"))
    gap = only_open(at_decision(context(directory=away), starter="maria"))
    assert (gap.assignee, gap.blocked) == ("sam", True)


def test_an_escalation_to_an_away_outcome_owner_goes_to_their_delegate_for_them() -> None:
    away = people(*FINANCE_AWAY, ("maria, roles: [vp]}", f"maria, roles: [vp], delegate: lena, {AWAY}}}"))
    seat = only_open(at_decision(context(directory=away)))
    assert (seat.assignee, seat.on_behalf_of, seat.escalated) == ("lena", "maria", True)


def test_an_escalation_without_an_sla_goes_to_the_outcome_owner() -> None:
    no_sla = playbook(PRICE, ("    sla: {due: 24h, escalate: [{after: 24h, to: maria}]}\n", ""))
    seat = only_open(at_decision(context(no_sla, directory=people(*FINANCE_AWAY))))
    assert (seat.assignee, seat.escalated, seat.sla_due_at) == ("maria", True, None)


def test_a_decision_nobody_may_take_is_a_blocked_gap_held_by_the_workflow_owner() -> None:
    # the outcome owner started the run, so the escalation finds nobody either
    ctx = context(playbook(PRICE, QUORUM), directory=people(("erin, roles: [finance]}",
                                                            f"erin, roles: [finance], {AWAY}}}")))
    run = start(ctx, "maria").state
    done = complete(ctx, run, only_open(run))
    approve = ctx.playbook.step("approve")
    extra = {"approver": "finance", "authority_row": 0,
             "data_hash": flow.data_under_decision(done.state, ctx.playbook, approve)}
    assert done.events[2:] == [
        event("task.ready", "t-3", "approve", authority=auth("authority_row", 0), data={
            "type": "decision", "attempt": 1, "seat": 0, "assignee": "dave", "on_behalf_of": None, "ready_at": AT,
            "due_at": "2026-03-03T08:00:00.000000Z", "sla_due_at": "2026-03-03T08:00:00.000000Z", **extra}),
        event("ownership.gap", "t-4", "approve",
              data={"role": "finance", "resolved_to": "sam", "blocked": True, "attempt": 1}),
        event("task.ready", "t-4", "approve", authority=auth("ownership_gap", "finance"), data={
            "type": "decision", "attempt": 1, "seat": 1, "assignee": "sam", "on_behalf_of": None, "ready_at": AT,
            "due_at": "2026-03-03T08:00:00.000000Z", "sla_due_at": "2026-03-03T08:00:00.000000Z", **extra,
            "blocked": True})]


def test_a_decision_without_an_approve_right_escalates_to_the_outcome_owner_else_is_a_gap_named_so() -> None:
    nobody = playbook(PRICE, ("""    rights: {approve: finance, execute: sales}
    authority:
      - when: input.value <= 50000
        approve: finance
      - approve: vp
""", "    rights: {execute: sales}\n"))
    seat = only_open(at_decision(context(nobody)))
    assert (seat.assignee, seat.approver, seat.escalated) == ("maria", None, True)
    ctx = context(nobody)
    run = start(ctx, "maria").state
    gap = complete(ctx, run, only_open(run)).events[-2]
    assert (gap.type, gap.data["role"], gap.data["blocked"]) == ("ownership.gap", "", True)


def test_an_agent_is_never_an_escalation_target_and_no_escalation_reaches_past_the_outcome_owner() -> None:
    to_bot = playbook(PRICE, ("to: maria}", "to: bot}"), ("outcome: {owner: maria, ", "outcome: {"))
    gap = only_open(at_decision(context(to_bot, directory=people(*FINANCE_AWAY))))
    assert (gap.assignee, gap.blocked, gap.escalated) == ("sam", True, False)


# -------------------------------------------------------------------------------------------- parallel work

PARALLEL = """
id: onboard
title: Supplier onboarding
outcome: {owner: maria, statement: Onboard safely, measure: within a week}
workflow_owner: sam
steps:
  - id: request
    type: task
    owner: sales
  - id: reviews
    type: parallel
    branches:
      - - id: legal
          type: task
          owner: legal
        - id: legal-ok
          type: decision
          options: [approve, send_back]
          rights: {approve: finance}
      - - id: screen
          type: check
          rules:
            - expr: input.risk < 9
              message: Too risky
              on_fail: {reject: true}
            - expr: input.risk < 5
              message: Needs another look
              on_fail: {send_back: request}
        - id: security
          type: task
          owner: vp
  - id: signoff
    type: task
    owner: ops
"""


def onboard(ctx: flow.Context, risk: int = 1) -> tuple[RunState, TaskState, TaskState]:
    """A run past its request: the legal review and the security review open side by side."""
    run = flow.start_run(ctx, run_id="r-1", actor="bob", input={"risk": risk}, version=1, why=None).state
    run = complete(ctx, run, only_open(run), {}).state
    legal, security = open_tasks(run)
    return run, legal, security


def test_branches_open_side_by_side_and_the_block_waits_for_every_one() -> None:
    ctx = context(playbook(PARALLEL))
    run, legal, security = onboard(ctx)
    assert [(legal.step, legal.assignee), (security.step, security.assignee)] == [("legal", "lena"),
                                                                                  ("security", "maria")]
    assert [t.status for t in run.tasks if t.step == "screen"] == [TaskStatus.COMPLETED]
    run = complete(ctx, run, security, {}).state
    gate = only_open(run)
    assert gate.step == "legal"
    run = complete(ctx, run, legal, {}).state
    gate = only_open(run)
    assert gate.step == "legal-ok"
    done = decide(ctx, run, gate)
    assert only_open(done.state).step == "signoff"


def test_a_check_that_rejects_in_one_branch_ends_the_run_and_cancels_the_others() -> None:
    ctx = context(playbook(PARALLEL))
    run = flow.start_run(ctx, run_id="r-1", actor="bob", input={"risk": 9}, version=1, why=None).state
    request = only_open(run)
    done = complete(ctx, run, request, {})
    assert types(done) == ["task.completed", "task.ready", "check.failed", "task.cancelled", "run.rejected"]
    assert done.events[3] == event("task.cancelled", "t-2", "legal", data={"reason": "run rejected"})
    assert done.state.status == RunStatus.REJECTED


def test_a_check_in_a_branch_that_sends_back_out_of_the_block_cancels_the_other_branch_and_reopens_the_target(
) -> None:
    ctx = context(playbook(PARALLEL))
    run = flow.start_run(ctx, run_id="r-1", actor="bob", input={"risk": 6}, version=1, why=None).state
    request = only_open(run)
    done = complete(ctx, run, request, {})
    assert types(done) == ["task.completed", "task.ready", "check.failed", "task.sent_back", "task.ready"]
    assert done.events[3] == event("task.sent_back", "t-3", "screen",
                                   data={"to": "request", "superseded": [request.id], "cancelled": ["t-2"]})
    again = only_open(done.state)
    assert (again.step, again.attempt, again.assignee) == ("request", 2, "alice")


def test_a_decision_in_a_branch_whose_other_branch_moves_keeps_waiting_for_its_second_seat() -> None:
    two = playbook(PARALLEL, ("          options: [approve, send_back]\n",
                              "          options: [approve, send_back]\n          quorum: 2\n"))
    ctx = context(two)
    run, legal, security = onboard(ctx)
    run = complete(ctx, run, legal, {}).state
    first, second = (t for t in open_tasks(run) if t.step == "legal-ok")
    run = decide(ctx, run, first).state
    moved = complete(ctx, run, security, {})
    assert types(moved) == ["task.completed"]
    assert only_open(moved.state) == second


def test_a_send_back_within_a_branch_reworks_that_branch_only() -> None:
    ctx = context(playbook(PARALLEL))
    run, legal, _ = onboard(ctx)
    run = complete(ctx, run, legal, {}).state
    gate = next(t for t in open_tasks(run) if t.step == "legal-ok")
    sent = decide(ctx, run, gate, "send_back", to="legal")
    (back,) = of_type(sent, "task.sent_back")
    assert back.data == {"to": "legal", "superseded": [legal.id], "cancelled": []}
    assert sorted((t.step, t.attempt) for t in open_tasks(sent.state)) == [("legal", 2), ("security", 1)]


def test_a_send_back_out_of_a_branch_supersedes_the_whole_block_and_cancels_what_is_open_in_it() -> None:
    ctx = context(playbook(PARALLEL))
    run, legal, security = onboard(ctx)
    request, screen = run.tasks[0], next(t for t in run.tasks if t.step == "screen")
    run = complete(ctx, run, legal, {}).state
    gate = next(t for t in open_tasks(run) if t.step == "legal-ok")
    sent = decide(ctx, run, gate, "send_back", to="request")
    (back,) = of_type(sent, "task.sent_back")
    assert back.data == {"to": "request", "superseded": [request.id, legal.id, screen.id],
                         "cancelled": [security.id]}
    assert only_open(sent.state).step == "request"


def test_a_send_back_out_of_a_branch_cancels_the_deciders_other_seat_with_it() -> None:
    two = playbook(PARALLEL, ("          options: [approve, send_back]\n",
                              "          options: [approve, send_back]\n          quorum: 2\n"))
    ctx = context(two)
    run, legal, security = onboard(ctx)
    run = complete(ctx, run, legal, {}).state
    first, second = (t for t in open_tasks(run) if t.step == "legal-ok")
    sent = decide(ctx, run, first, "send_back", to="request")
    assert types(sent) == ["task.decided", "task.sent_back", "task.ready"]
    assert sent.events[1].data["cancelled"] == [security.id, second.id]
    assert sent.state.task(second.id).status == TaskStatus.CANCELLED  # type: ignore[union-attr]


def test_a_parallel_block_whose_condition_is_false_is_skipped_once() -> None:
    skipped = playbook(PARALLEL, ("    type: parallel\n", "    type: parallel\n    when: input.risk > 3\n"))
    ctx = context(skipped)
    run = flow.start_run(ctx, run_id="r-1", actor="bob", input={"risk": 1}, version=1, why=None).state
    done = complete(ctx, run, only_open(run), {})
    assert done.events[1] == event("step.skipped", "t-2", "reviews", data={
        "type": "task", "attempt": 1, "assignee": None, "when": "input.risk > 3"})
    signoff = only_open(done.state)
    assert signoff.step == "signoff"
    assert types(complete(ctx, done.state, signoff, {})) == ["task.completed", "run.completed"]


# ---------------------------------------------------------------------------------------------- send-backs


def test_a_send_back_supersedes_everything_from_the_target_on_including_skipped_steps_and_failed_checks() -> None:
    pb = playbook(PRICE, ("  - id: apply\n", """  - id: sign
    type: decision
    when: input.discount > 30
    rights: {approve: vp}
    options: [approve, send_back]
  - id: final
    type: decision
    rights: {approve: vp}
    options: [approve, send_back]
  - id: apply
"""))
    ctx = context(pb)
    run = start(ctx).state
    first = only_open(run)
    run = complete(ctx, run, first, {"ready": False}).state  # the check fails: attempt 2 of prepare
    failed = next(t for t in run.tasks if t.step == "check")
    second = only_open(run)
    run = complete(ctx, run, second).state
    passed = [t for t in run.tasks if t.step == "check"][-1]
    approve = only_open(run)
    run = decide(ctx, run, approve).state
    skipped = next(t for t in run.tasks if t.step == "sign")
    final = only_open(run)
    assert skipped.status == TaskStatus.SKIPPED and final.step == "final"
    sent = decide(ctx, run, final, "send_back", to="prepare")
    (back,) = of_type(sent, "task.sent_back")
    assert back == event("task.sent_back", final.id, "final", actor=str(final.assignee),
                         authority=auth("role", "vp"), data={
                             "to": "prepare", "superseded": [failed.id, second.id, passed.id, approve.id, skipped.id],
                             "cancelled": []})
    assert first.id not in back.data["superseded"]  # sent back already
    again = only_open(sent.state)
    assert (again.step, again.attempt) == ("prepare", 3)


def test_a_send_back_to_a_later_decision_keeps_what_came_before_it() -> None:
    pb = playbook(PRICE, ("  - id: apply\n", """  - id: final
    type: decision
    rights: {approve: vp}
    options: [approve, send_back]
  - id: apply
"""))
    ctx = context(pb)
    run = at_decision(ctx)
    approve = only_open(run)
    run = decide(ctx, run, approve).state
    final = only_open(run)
    sent = decide(ctx, run, final, "send_back", to="approve")
    (back,) = of_type(sent, "task.sent_back")
    assert back.data == {"to": "approve", "superseded": [approve.id], "cancelled": []}
    seat = only_open(sent.state)
    assert (seat.step, seat.attempt, seat.assignee) == ("approve", 2, "dave")


def test_the_first_attempt_of_a_step_after_reworked_ones_is_its_first() -> None:
    ctx = context()
    run = start(ctx).state
    run = complete(ctx, run, only_open(run), {"ready": False}).state
    run = complete(ctx, run, only_open(run)).state
    run = decide(ctx, run, only_open(run)).state
    apply = only_open(run)
    assert (apply.step, apply.attempt) == ("apply", 1)


def test_a_send_back_needs_the_task_that_sends_it() -> None:
    ctx = context()
    run = start(ctx).state
    with pytest.raises(RuntimeError, match=r"^send-back without a sending task$"):
        flow._Flow(flow.Builder(ctx, run)).send_back(None, ctx.playbook.step("check"), ctx.playbook.step("prepare"),
                                                     actor="system", auth=auth("system"))


# ------------------------------------------------------------------------------------------------- endings


def test_the_last_step_done_completes_the_run() -> None:
    ctx = context()
    run = at_decision(ctx)
    run = decide(ctx, run, only_open(run)).state
    done = complete(ctx, run, only_open(run), {})
    assert done.events[1:] == [event("run.completed", None, None)]
    assert done.state.status == RunStatus.COMPLETED


def test_an_ended_run_does_not_end_again() -> None:
    ctx = context()
    run = at_decision(ctx)
    ended = decide(ctx, run, only_open(run), "reject").state
    with pytest.raises(InvalidTransition) as caught:
        flow._Flow(flow.Builder(ctx, ended)).end(RunStatus.CANCELLED, "run.cancelled")
    assert (caught.value.rule, caught.value.message) == ("run-state", "run r-1 is rejected; it cannot become cancelled")


def test_a_run_that_ended_moves_no_further() -> None:
    ctx = context()
    run = at_decision(ctx)
    ended = replace(run, status=RunStatus.CANCELLED)
    b = flow.Builder(ctx, ended)
    flow._Flow(b).advance()
    assert b.events == []


# ---------------------------------------------------------------------------- decisions as expressions read them


def test_a_step_may_run_only_on_rework_by_asking_whether_the_decision_sent_the_run_back() -> None:
    rework = playbook(PRICE, ("  - id: check\n", """  - id: changes
    type: task
    owner: sales
    when: '"approve" in decision'
  - id: check
"""))
    ctx = context(rework)
    run = at_decision(ctx)
    assert not [t for t in run.tasks if t.step == "changes" and t.status != TaskStatus.SKIPPED]
    run = decide(ctx, run, only_open(run), "send_back", to="prepare").state
    assert flow.expression_context(run, rework)["decision"] == {"approve": "send_back"}
    run = complete(ctx, run, only_open(run)).state
    assert only_open(run).step == "changes"


def test_a_rejected_decision_reads_rejected_even_beside_an_approval() -> None:
    ctx = context(playbook(PRICE, QUORUM))
    run = at_decision(ctx)
    dave, erin = open_tasks(run)
    run = decide(ctx, decide(ctx, run, dave).state, erin, "reject").state
    assert run.status == RunStatus.REJECTED
    assert flow.expression_context(run, ctx.playbook)["decision"] == {"approve": "reject"}
