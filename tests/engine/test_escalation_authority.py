"""An escalation hands a decision only to someone who may approve it under the matched authority row, or to
the outcome owner; anyone else is pulled in: told, able to read the run and to hand it on (SPEC §3.3)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from ledgerflow.domain.errors import Forbidden
from ledgerflow.engine import access, service
from ledgerflow.storage.store import Store
from tests.conftest import PRICING
from tests.engine.helpers import GOOD_OUTPUT, act, caller, only_open, publish_text, run_state, start


def escalating_to_finance(store: Store, tmp_path: Path) -> None:
    publish_text(store, tmp_path, PRICING.read_text().replace("          to: maria", "          to: dave"))


def test_an_escalation_to_someone_below_the_matched_row_pulls_them_in(store: Store, tmp_path: Path) -> None:
    escalating_to_finance(store, tmp_path)
    run = start(store, deal_value=900000)  # only vp-sales may approve this
    decision = act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)["opened"][0]
    holder = decision.assignee
    assert holder in ("maria", "victor")
    service.advance_clock(store, "25h", service.Caller())
    after = only_open(store, run.id)
    assert (after.assignee, after.pulled_in) == (holder, ("dave",))
    with store.read() as tx:
        events = tx.events(run=run.id)
        assert access.sees_run(tx, run_state(store, run.id), "dave")
    pulled = [e for e in events if e["type"] == "escalation.pulled_in"]
    assert [e["data"]["to"] for e in pulled] == [["dave"]]
    assert "the authority row otherwise (vp-sales)" in pulled[0]["data"]["reason"]
    assert not [e for e in events if e["type"] == "assignment.changed" and e["data"]["kind"] == "escalation"]


def test_who_was_pulled_in_may_hand_the_decision_to_an_eligible_approver(store: Store, tmp_path: Path) -> None:
    escalating_to_finance(store, tmp_path)
    run = start(store, deal_value=900000)
    act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)
    service.advance_clock(store, "25h", service.Caller())
    task = only_open(store, run.id)
    other = "victor" if task.assignee == "maria" else "maria"
    with pytest.raises(Forbidden):
        service.task_command(store, "reassign", task.id, caller("dave"), to="dave", reason="I will take it")
    moved = service.task_command(store, "reassign", task.id, caller("dave"), to=other, reason="holder is out")
    assert moved["task"].assignee == other


def test_an_escalation_within_the_matched_row_still_hands_the_decision_over(store: Store, tmp_path: Path) -> None:
    publish_text(store, tmp_path, PRICING.read_text().replace("          to: maria", "          to: finance"))
    run = start(store, deal_value=20000)  # finance approves this one
    decision = act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)["opened"][0]
    service.advance_clock(store, "25h", service.Caller())
    after = only_open(store, run.id)
    assert {decision.assignee, after.assignee} == {"dave", "erin"} and after.pulled_in == ()


def test_only_tasks_someone_was_pulled_into_enter_the_pulled_in_index(store: Store, tmp_path: Path) -> None:
    escalating_to_finance(store, tmp_path)
    pulled = start(store, deal_value=900000)
    act(store, "complete", only_open(store, pulled.id), output=GOOD_OUTPUT)
    plain = start(store, deal_value=20000)
    act(store, "complete", only_open(store, plain.id), output=GOOD_OUTPUT)
    service.advance_clock(store, "25h", service.Caller())  # escalates both decisions; pulls dave into one
    with store.engine.connect() as conn:  # the partial index holds only rows whose pulled_in is not SQL NULL
        indexed = conn.execute(text("SELECT id FROM tasks WHERE pulled_in IS NOT NULL")).scalars().all()
    assert indexed == [only_open(store, pulled.id).id]
