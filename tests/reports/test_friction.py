"""`report friction` (issue #20): per step, re-routes, nudges per completion, send-back loops, handoffs and
ping-pong over a scripted week on the shared example, through the service, the command line and the API."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import update

from ledgerflow.cli.main import main
from ledgerflow.domain.figures import parse_period
from ledgerflow.domain.friction import Holding, passages, per_run, per_step
from ledgerflow.engine import service
from ledgerflow.reporting.friction import friction
from ledgerflow.storage import schema
from ledgerflow.storage.store import Store
from tests.engine.helpers import GOOD_OUTPUT, act, changes_nothing, decide, only_open, start

WEEK = parse_period("2026-W10")  # the simulated clock starts on Monday 2026-03-02 08:00Z


def _advance(store: Store, duration: str) -> None:
    service.advance_clock(store, duration, service.Caller())


def _through_approval(store: Store, run_id: str) -> None:
    """Approve the open decision and apply the discount: the run completes."""
    decide(store, only_open(store, run_id), "approve")
    act(store, "complete", only_open(store, run_id), output={"quote_id": "Q-1"})


def scripted_week(store: Store) -> dict[str, str]:
    """Three runs: one sent back and reassigned (a loop, ping-pong), one clean, one escalated and still open."""
    looped = start(store)
    act(store, "complete", only_open(store, looped.id), output=GOOD_OUTPUT)
    _advance(store, "13h")  # the approver is nudged at 4h and 12h
    decide(store, only_open(store, looped.id), "send_back", rationale="Need the competitor quote", to="prepare")
    act(store, "complete", only_open(store, looped.id), output=GOOD_OUTPUT)  # back to the same preparer
    second = only_open(store, looped.id)
    other = "erin" if second.assignee == "dave" else "dave"
    act(store, "reassign", second, actor="sam", to=other, reason="on a customer visit")
    _through_approval(store, looped.id)
    clean = start(store, customer="Initech")
    act(store, "complete", only_open(store, clean.id), output=GOOD_OUTPUT)
    _through_approval(store, clean.id)
    escalated = start(store, customer="Globex")
    act(store, "complete", only_open(store, escalated.id), output=GOOD_OUTPUT)
    _advance(store, "25h")  # two nudges, then the SLA escalation to maria at 24h
    return {"looped": looped.id, "clean": clean.id, "escalated": escalated.id}


def _by_step(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["step"]: s for s in result["steps"]}


def test_a_scripted_week_counts_each_kind_of_friction_at_its_step(store: Store) -> None:
    scripted_week(store)
    result = friction(store, "pricing-exception", WEEK)
    steps = _by_step(result)
    assert list(steps) == ["prepare", "approve", "apply"]
    prepare, approve, apply = steps["prepare"], steps["approve"], steps["apply"]
    # prepare: the looped run's two attempts, one per other run; the second attempt is the loop and goes
    # back to the preparer the approver had handed it from
    assert {k: prepare[k] for k in ("tasks", "completions", "loops", "send_backs", "handoffs", "ping_pongs",
                                    "reroutes", "nudges")} == {"tasks": 4, "completions": 4, "loops": 1,
                                                               "send_backs": 1, "handoffs": 1, "ping_pongs": 1,
                                                               "reroutes": 0, "nudges": 0}
    # approve: the looped run's two decisions (the second reassigned), the clean one, the escalated one open
    assert {k: approve[k] for k in ("tasks", "completions", "loops", "reassignments", "delegations", "escalations",
                                    "reroutes", "nudges", "handoffs", "ping_pongs")} == {
        "tasks": 4, "completions": 3, "loops": 1, "reassignments": 1, "delegations": 0, "escalations": 1,
        "reroutes": 2, "nudges": 4, "handoffs": 6, "ping_pongs": 1}
    assert approve["nudges_per_completion"] == pytest.approx(4 / 3)
    assert approve["wait_median_hours"] == 0.0
    assert {k: apply[k] for k in ("tasks", "completions", "handoffs", "nudges_per_completion")} == {
        "tasks": 2, "completions": 2, "handoffs": 2, "nudges_per_completion": 0.0}
    # two runs ended: the looped one passed hands 5 times (prepare > approve > prepare > approve > the other
    # approver > apply), the clean one twice
    assert result["runs"] == {"runs": 2, "handoffs": 7, "handoffs_per_run": 3.5, "handoffs_max": 5,
                              "ping_pong_runs": 1}


def test_a_holding_event_whose_body_was_altered_by_hand_counts_with_its_body_fields_missing(store: Store) -> None:
    scripted_week(store)
    e = schema.events
    with store.engine.begin() as conn:  # the reassignment's body is no event's: its kind and new holder are lost
        conn.execute(update(e).where(e.c.type == "assignment.changed", e.c.actor == "sam").values(body='{"data": '))
    result = friction(store, "pricing-exception", WEEK)
    approve = _by_step(result)["approve"]
    assert approve["tasks"] == 4 and approve["reassignments"] == 0 and approve["escalations"] == 1
    assert result["runs"]["runs"] == 2


def test_a_period_without_work_has_empty_figures_and_null_shares(store: Store) -> None:
    scripted_week(store)
    result = friction(store, "pricing-exception", parse_period("2026-W09"))
    assert result["runs"] == {"runs": 0, "handoffs": 0, "handoffs_per_run": None, "handoffs_max": 0,
                              "ping_pong_runs": 0}
    assert all(s["tasks"] == 0 and s["nudges_per_completion"] is None and s["handoffs"] == 0
               for s in result["steps"])


def test_the_command_line_prints_the_json_and_a_table(capsys: pytest.CaptureFixture[str], store: Store) -> None:
    scripted_week(store)
    args = ["report", "friction", "pricing-exception", "--period", "2026-W10", "--db", store.url]
    assert main([*args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == friction(store, "pricing-exception", WEEK)
    assert main(args) == 0
    table = capsys.readouterr().out
    assert "2 runs ended, 3.5 handoffs per run (most 5), 1 went back and forth" in table
    assert "ping_pongs" in table and "nudges_per_completion" in table


def test_the_command_line_refuses_a_bad_period_or_playbook_changing_nothing(store: Store) -> None:
    scripted_week(store)
    with changes_nothing(store):
        assert main(["report", "friction", "pricing-exception", "--period", "W10", "--db", store.url]) == 2
        assert main(["report", "friction", "nope", "--db", store.url]) == 2
        assert main(["report", "friction", "pricing-exception", "--since", "2026-03-02", "--db", store.url]) == 2


# ------------------------------------------------------------------------------------------ pure rules


def _h(run: str, task: str, step: str, holder: str | None, reroute: str | None = None) -> Holding:
    return Holding(run=run, task=task, step=step, holder=holder, reroute=reroute)


def test_a_return_to_an_earlier_holder_is_a_ping_pong_and_a_stay_is_no_handoff() -> None:
    moves = passages([_h("r1", "t1", "a", "ann"), _h("r2", "t5", "a", "ann"), _h("r1", "t2", "b", "ben"),
                      _h("r1", "t3", "a", "ann"), _h("r1", "t4", "c", "ann"), _h("r2", "t6", "b", "ann")])
    assert [(m.handoff, m.ping_pong) for m in moves] == [(False, False), (False, False), (True, False),
                                                         (True, True), (False, False), (False, False)]


def test_someone_pulled_in_beside_the_assignee_is_an_escalation_but_no_handoff() -> None:
    moves = passages([_h("r", "t1", "a", "ann"), _h("r", "t1", "a", None, "escalation"),
                      _h("r", "t1", "a", "cy", "delegation"), _h("r", "t1", "a", "ann", "reassignment")])
    steps = per_step(["a"], moves, counted=frozenset({"t1"}), completed=["a"], loops=[])
    assert steps["a"].reroutes == 3
    assert (steps["a"].escalations, steps["a"].delegations, steps["a"].reassignments) == (1, 1, 1)
    assert (steps["a"].handoffs, steps["a"].ping_pongs, steps["a"].completions) == (2, 1, 1)


def test_only_counted_tasks_and_ended_runs_make_figures() -> None:
    moves = passages([_h("r1", "t1", "a", "ann"), _h("r1", "t2", "b", "ben"), _h("r2", "t3", "a", "ann"),
                      _h("r2", "t4", "b", "cy")])
    steps = per_step(["b"], moves, counted=frozenset({"t2"}), completed=[], loops=[])
    assert (steps["b"].handoffs, steps["b"].completions) == (1, 0)
    assert per_run(["r2"], moves).handoffs == 1 and per_run(["r2"], moves).ping_pong_runs == 0
