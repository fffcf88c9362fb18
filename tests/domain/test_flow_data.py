"""What enters a run and what its decisions read (SPEC §3, §11, §14), as pure rules: a run's start and its
input, the system's actions reporting back, the data and documents a decision is taken on, and an agent held
to the autonomy the owners left it when it decides."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from tests.domain.flows import (
    AT,
    AWAY,
    INPUT,
    PRICE,
    READY,
    Workload,
    at_decision,
    auth,
    context,
    decide,
    event,
    only_open,
    people,
    playbook,
    start,
    types,
)

from ledgerflow.domain import flow
from ledgerflow.domain.attachments import Document, bound
from ledgerflow.domain.autonomy import AgentAutonomy, Autonomy
from ledgerflow.domain.canonical import digest
from ledgerflow.domain.errors import Forbidden, InvalidInput, InvalidTransition, NotFound, SchemaViolation
from ledgerflow.domain.runs import RunState, TaskState
from ledgerflow.domain.states import RunStatus, TaskStatus

SHEET = Document(name="sheet.txt", sha256="a" * 64, size=3, media_type="text/plain")
TERMS = Document(name="terms.pdf", sha256="b" * 64, size=9, media_type="application/pdf")


# ------------------------------------------------------------------------------------------ starting a run


def test_a_run_is_started_by_someone_in_the_directory() -> None:
    with pytest.raises(NotFound) as caught:
        start(context(), "zed")
    assert (caught.value.rule, caught.value.message) == (
        "unknown-actor", "unknown actor 'zed': a run is started by a person or agent in the directory")


def test_a_runs_input_is_a_json_object() -> None:
    with pytest.raises(SchemaViolation) as caught:
        flow.start_run(context(), run_id="r-1", actor="bob", input=["a list"], version=1,  # type: ignore[arg-type]
                       why=None)
    assert (caught.value.message, caught.value.details) == (
        "input must be a JSON object", {"violations": [{"path": "/", "message": "not an object"}]})


def test_an_input_that_breaks_the_playbooks_schema_is_refused_naming_every_path() -> None:
    with pytest.raises(SchemaViolation) as caught:
        start(context(), discount="a lot", lines=["one", 2])
    assert caught.value.message == ("input violates its schema: /discount: 'a lot' is not of type 'number'; "
                                    "/lines/1: 2 is not of type 'string'")
    assert caught.value.details == {"violations": [
        {"path": "/discount", "message": "'a lot' is not of type 'number'"},
        {"path": "/lines/1", "message": "2 is not of type 'string'"}]}


def test_a_started_run_records_who_started_it_why_and_the_documents_given_with_it() -> None:
    started = flow.start_run(context(), run_id="r-1", actor="bob", input=INPUT, version=3, why="renewal",
                             attachments=(SHEET,))
    assert started.events[0] == event("run.started", None, None, actor="bob",
                                      authority=auth("starter", "directory member"), data={
                                          "run": "r-1", "playbook": "price", "version": 3, "input": INPUT,
                                          "why": "renewal", "attachments": [SHEET.record()]})
    plain = start(context()).events[0]
    assert plain.data == {"run": "r-1", "playbook": "price", "version": 1, "input": INPUT, "why": None}


# --------------------------------------------------------------------------------- what a decision reads


def with_documents() -> tuple[flow.Context, RunState]:
    """A run started with the deal sheet, whose preparation attached the terms: at the decision."""
    ctx = context()
    run = flow.start_run(ctx, run_id="r-1", actor="bob", input=INPUT, version=1, why=None, attachments=(SHEET,)).state
    run = flow.complete_task(ctx, run, task_id=only_open(run).id, actor="alice", output=READY,
                             attachments=(TERMS,)).state
    return ctx, run


def test_a_decision_reads_the_input_the_earlier_outputs_and_their_documents() -> None:
    ctx, run = with_documents()
    approve = ctx.playbook.step("approve")
    prepare = run.tasks[0]
    assert flow.readable_outputs(run, ctx.playbook, approve) == {"prepare": READY}
    assert flow.documents_under_decision(run, ctx.playbook, approve) == [SHEET.sha256, TERMS.sha256]
    assert flow.data_under_decision(run, ctx.playbook, approve) == digest({
        "input": INPUT, "outputs": {"prepare": READY},
        "attachments": bound(run.attachments, {prepare.id: "prepare"})})
    assert only_open(run).data_hash == flow.data_under_decision(run, ctx.playbook, approve)


def test_a_run_without_documents_hashes_its_input_and_outputs_alone() -> None:
    ctx = context()
    run = at_decision(ctx)
    approve = ctx.playbook.step("approve")
    assert flow.data_under_decision(run, ctx.playbook, approve) == digest({"input": INPUT,
                                                                         "outputs": {"prepare": READY}})
    assert flow.documents_under_decision(run, ctx.playbook, approve) == []


def test_a_step_reads_nothing_of_the_steps_after_it() -> None:
    ctx, run = with_documents()
    prepare = ctx.playbook.step("prepare")
    assert flow.readable_outputs(run, ctx.playbook, prepare) == {}
    assert flow.documents_under_decision(run, ctx.playbook, prepare) == [SHEET.sha256]  # the run's own only


def test_expressions_read_the_input_each_steps_latest_output_the_decisions_and_the_run() -> None:
    ctx = context()
    run = at_decision(ctx, "bob")
    run = decide(ctx, run, only_open(run)).state
    assert flow.expression_context(run, ctx.playbook) == {
        "input": INPUT,
        "steps": {"prepare": {"output": READY}, "check": {}, "approve": {}, "apply": {}},
        "decision": {"approve": "approve"},
        "run": {"id": "r-1", "playbook": "price", "version": 1, "started_by": "bob", "started_at": AT}}


# ------------------------------------------------------------------------------- actions the system runs

HOOK = "    action: {webhook: \"https://erp.example.com/hook\"}\n"
ACTION = (("  - id: apply\n    type: task\n    owner: sales\n", "  - id: apply\n    type: action\n" + HOOK),
          (HOOK, HOOK + "    produces: {type: object, required: [erp_id]}\n"))


def at_action(ctx: flow.Context) -> tuple[RunState, TaskState]:
    run = at_decision(ctx)
    run = decide(ctx, run, only_open(run)).state
    return run, only_open(run)


def test_an_actions_result_becomes_its_output_and_the_run_moves_on() -> None:
    ctx = context(playbook(PRICE, *ACTION))
    run, action = at_action(ctx)
    done = flow.action_succeeded(ctx, run, task_id=action.id, output={"erp_id": "E-1"}, attempts=2)
    assert done.events == [event("action.called", action.id, "apply", data={"ok": True, "attempts": 2}),
                           event("task.completed", action.id, "apply", data={"output": {"erp_id": "E-1"}}),
                           event("run.completed", None, None)]


def test_a_result_that_is_not_an_object_is_kept_as_its_result() -> None:
    ctx = context(playbook(PRICE, ACTION[0]))  # produces nothing in particular
    run, action = at_action(ctx)
    done = flow.action_succeeded(ctx, run, task_id=action.id, output=["E-1"], attempts=1)
    assert done.state.task(action.id).output == {"result": ["E-1"]}  # type: ignore[union-attr]


def test_a_result_that_breaks_what_the_action_produces_is_refused() -> None:
    ctx = context(playbook(PRICE, *ACTION))
    run, action = at_action(ctx)
    with pytest.raises(SchemaViolation) as caught:
        flow.action_succeeded(ctx, run, task_id=action.id, output={"id": 1}, attempts=1)
    assert caught.value.message == "the output of action apply violates its schema: /: 'erp_id' is a required property"


def test_only_an_action_still_waiting_on_the_system_takes_its_result() -> None:
    ctx = context(playbook(PRICE, *ACTION))
    run, action = at_action(ctx)
    for task_id in ("t-none", run.tasks[0].id):
        with pytest.raises(NotFound) as unknown:
            flow.action_succeeded(ctx, run, task_id=task_id, output={}, attempts=1)
        assert (unknown.value.rule, unknown.value.message) == ("unknown-task", f"no action task {task_id!r}")
    handed = replace(run, tasks=(*run.tasks[:-1], replace(action, assignee="alice")))  # after a failure
    done = flow.action_succeeded(ctx, run, task_id=action.id, output={"erp_id": "E-1"}, attempts=1).state
    ended = replace(run, status=RunStatus.CANCELLED)
    for state in (handed, done, ended):
        with pytest.raises(InvalidTransition) as late:
            flow.action_failed(ctx, state, task_id=action.id, error="502", attempts=3)
        assert (late.value.rule, late.value.message) == ("task-state",
                                                         f"action task {action.id} is no longer waiting on the system")


def test_a_failed_action_goes_to_a_member_of_who_executes_it_with_the_error() -> None:
    last = {("price", "apply"): {"alice": ("2026-03-01T09:00:00.000000Z", 1)}}
    ctx = context(playbook(PRICE, *ACTION), workload=Workload(last=last))
    run, action = at_action(ctx)
    failed = flow.action_failed(ctx, run, task_id=action.id, error="502 from the ERP", attempts=3)
    assert failed.events == [
        event("action.failed", action.id, "apply", data={"error": "502 from the ERP", "attempts": 3}),
        event("assignment.changed", action.id, "apply", authority=auth("role", "sales"), data={
            "from": None, "to": "bob", "kind": "routing", "on_behalf_of": None,
            "reason": "the action failed: 502 from the ERP", "blocked": False})]
    held = failed.state.task(action.id)
    assert held is not None and (held.assignee, held.error, held.is_open) == ("bob", "502 from the ERP", True)


def test_a_failed_action_nobody_can_take_is_a_gap_for_the_workflow_owner_or_admin() -> None:
    away = people(*((f"{p}, roles: [sales]}}", f"{p}, roles: [sales], {AWAY}}}") for p in ("alice", "bob", "cora")))
    ctx = context(playbook(PRICE, *ACTION), directory=away)
    run, action = at_action(replace(ctx, directory=people()))
    failed = flow.action_failed(ctx, run, task_id=action.id, error="timeout", attempts=3)
    assert failed.events[1:] == [
        event("ownership.gap", action.id, "apply", data={"role": "sales", "resolved_to": "sam", "blocked": False,
                                                          "attempt": 1}),
        event("assignment.changed", action.id, "apply", authority=auth("role", "sales"), data={
            "from": None, "to": "sam", "kind": "routing", "on_behalf_of": None,
            "reason": "the action failed: timeout", "blocked": False})]
    ownerless = replace(ctx, playbook=playbook(PRICE, *ACTION, ("workflow_owner: sam\n", "")))
    gap = flow.action_failed(ownerless, run, task_id=action.id, error="timeout", attempts=3).events[1]
    assert gap.data["resolved_to"] == "admin"


def test_a_failed_action_without_anyone_to_execute_it_is_a_gap_named_so() -> None:
    unowned = playbook(PRICE, *ACTION, ("rights: {approve: finance, execute: sales}", "rights: {approve: finance}"))
    ctx = context(unowned)
    run, action = at_action(ctx)
    gap, moved = flow.action_failed(ctx, run, task_id=action.id, error="timeout", attempts=3).events[1:]
    assert (gap.data["role"], moved.authority) == (None, auth("role", None))


# ------------------------------------------------------------------------------------- an agent's autonomy

AGENTS = (("bot, roles: [helper]}", "bot, roles: [helper, finance]}"),
          ("dave, roles: [finance]}", f"dave, roles: [finance], {AWAY}}}"),
          ("erin, roles: [finance]}", f"erin, roles: [finance], {AWAY}}}"))


def autonomy(step: str = "approve", **change: Any) -> Autonomy:
    return Autonomy((AgentAutonomy(playbook="price", step=step, agent="bot", limit=change.get("limit"),
                                   withdrawn=change.get("withdrawn", False), decided_by="maria", decided_at=AT,
                                   rationale="it disagreed with finance"),))


def test_an_agent_holding_a_decision_is_held_to_the_autonomy_the_owners_left_it() -> None:
    ctx = context(directory=people(*AGENTS))
    run = at_decision(ctx)
    seat = only_open(run)
    assert (seat.assignee, seat.authority_row) == ("bot", 0)
    refusals: list[tuple[dict[str, Any], str, str]] = [
        ({"limit": 10000.0}, "agent-autonomy-limit",
         "agent bot may decide step approve only up to 10,000 (set by maria at 2026-03-02T08:00:00.000000Z: it "
         "disagreed with finance)"),
        ({"withdrawn": True}, "agent-autonomy-withdrawn",
         "agent bot's authority at step approve was withdrawn by maria at 2026-03-02T08:00:00.000000Z: it "
         "disagreed with finance")]
    for change, rule, message in refusals:
        with pytest.raises(Forbidden) as caught:
            decide(replace(ctx, autonomy=autonomy(**change)), run, seat)
        assert (caught.value.rule, caught.value.message) == (rule, message)
    decided = decide(replace(ctx, autonomy=autonomy(limit=20000.0)), run, seat)  # within the new limit
    assert types(decided)[0] == "task.decided"


def test_the_autonomy_gate_reads_only_the_agents_own_open_decisions() -> None:
    ctx = context(directory=people(*AGENTS))
    run = at_decision(ctx)
    seat = only_open(run)
    withdrawn = replace(ctx, autonomy=autonomy(withdrawn=True))
    done = decide(ctx, run, seat).state
    with pytest.raises(InvalidTransition) as decided:  # said as a decided task, not as the agent's autonomy
        decide(withdrawn, done, seat)
    assert decided.value.rule == "task-state"
    prepare = replace(run.tasks[0], status=TaskStatus.READY, ended_at=None, assignee="bot")
    at_prepare = replace(ctx, autonomy=autonomy(step="prepare", withdrawn=True))
    with pytest.raises(InvalidInput) as wrong:
        flow.decide(at_prepare, replace(run, tasks=(prepare, *run.tasks[1:])), task_id=prepare.id, actor="bot",
                    outcome="approve", rationale="ok", to=None)
    assert wrong.value.rule == "wrong-task-type"
    person = replace(seat, assignee="erin")
    decided_by_person = flow.decide(withdrawn, replace(run, tasks=(*run.tasks[:-1], person)), task_id=seat.id,
                                    actor="erin", outcome="approve", rationale="ok", to=None)
    assert types(decided_by_person)[0] == "task.decided"
    with pytest.raises(NotFound):
        flow.decide(withdrawn, run, task_id="t-none", actor="bot", outcome="approve", rationale="ok", to=None)



def test_a_decision_is_handed_to_an_agent_only_within_the_autonomy_the_owners_left_it() -> None:
    ctx = context(directory=people(AGENTS[0]))
    run = at_decision(ctx)
    seat = only_open(run)
    assert seat.assignee == "dave"
    with pytest.raises(Forbidden) as caught:
        flow.reassign(replace(ctx, autonomy=autonomy(limit=10000.0)), run, task_id=seat.id, actor="sam", to="bot",
                      reason="load")
    assert (caught.value.rule, caught.value.message) == ("agent-not-authorized",
                                                         "agent bot may not decide step approve")
    (moved,) = flow.reassign(replace(ctx, autonomy=autonomy(limit=20000.0)), run, task_id=seat.id, actor="sam",
                             to="bot", reason="load").events
    assert moved.data["to"] == "bot"
