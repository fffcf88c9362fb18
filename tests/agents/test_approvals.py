"""Approval grants on the server (SPEC §11): single-use, bound to agent, action, arguments, version and expiry."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from ledgerflow.domain.errors import Conflict, Forbidden, LedgerflowError, NotFound
from ledgerflow.domain.grants import arguments_hash
from ledgerflow.engine import approvals, service
from ledgerflow.engine.tokens import Principal
from ledgerflow.reporting.timeline import describe
from ledgerflow.storage.store import Store
from tests.agents.helpers import events_of, publish_examples
from tests.conftest import ADMIN
from tests.engine.helpers import caller, decide, only_open, publish_text, snapshot

AGENT = Principal(token_id="tok_agent", actor="intake-bot")
REFUND = {"order": 42, "amount": 19.9}


@pytest.fixture
def requested(store: Store) -> dict[str, Any]:
    publish_examples(store)
    return approvals.request(store, AGENT, "agent-action-approval", action="refund", arguments=REFUND,
                             reason="the customer was charged twice", channel="mcp")


def _approve(store: Store, requested: dict[str, Any], outcome: str = "approve") -> None:
    decision = only_open(store, requested["run"])
    decide(store, decision, outcome, rationale="Duplicate charge confirmed in the ledger")


def _consume(store: Store, requested: dict[str, Any], arguments: Any = None) -> dict[str, Any]:
    return approvals.consume(store, AGENT, requested["approval"], REFUND if arguments is None else arguments,
                             channel="mcp")


def _refused_without_change(store: Store, requested: dict[str, Any], rule: str, arguments: Any = None) -> None:
    """The use is refused with `rule`; nothing changes but one `approval.refused` event on the run's chain."""
    before = snapshot(store)
    with pytest.raises(LedgerflowError) as refusal:
        _consume(store, requested, arguments)
    assert refusal.value.rule == rule
    after = snapshot(store)
    assert {name for name in before if before[name] != after[name]} == {"events", "chains"}
    new = [row for row in after["events"] if row not in before["events"]]
    assert [(row[4], row[7]) for row in new] == [("approval.refused", requested["run"])]
    assert events_of(store, requested["run"], "approval.refused")[-1]["data"]["rule"] == rule


def test_a_request_is_pending_until_a_person_with_the_right_approves_and_the_grant_is_bound(
        store: Store, requested: dict[str, Any]) -> None:
    assert requested["status"] == "pending" and requested["approval"].startswith("ap")
    assert approvals.get(store, AGENT, requested["approval"])["status"] == "pending"
    decision = only_open(store, requested["run"])
    assert decision.step == "approve" and decision.assignee in ("dave", "erin")
    _approve(store, requested)
    got = approvals.get(store, AGENT, requested["approval"])
    grant = got["grant"]
    assert got["status"] == "approved"
    assert (grant["agent"], grant["action"], grant["playbook"], grant["version"]) == (
        "intake-bot", "refund", "agent-action-approval", 1)
    assert grant["arguments_sha256"] == arguments_hash({"amount": 19.9, "order": 42})
    assert grant["approver"] == decision.assignee and grant["consumed_at"] is None
    assert grant["expires_at"] == "2026-03-02T09:00:00Z"  # an hour after the decision


def test_a_grant_is_consumed_once_and_then_refused_as_used(store: Store, requested: dict[str, Any]) -> None:
    _approve(store, requested)
    used = _consume(store, requested)
    assert used["status"] == "approved" and used["grant"]["consumed_at"] is not None
    (consumed,) = events_of(store, requested["run"], "approval.consumed")
    assert (consumed["actor"], consumed["channel"], consumed["authority"]["kind"]) == ("intake-bot", "mcp", "grant")
    assert consumed["data"]["arguments_sha256"] == arguments_hash(REFUND)
    _refused_without_change(store, requested, "approval-used")


def test_other_arguments_are_refused_as_a_mismatch_and_the_grant_stays_usable(
        store: Store, requested: dict[str, Any]) -> None:
    _approve(store, requested)
    _refused_without_change(store, requested, "approval-mismatch", {"order": 42, "amount": 1990})
    assert _consume(store, requested)["grant"]["consumed_at"] is not None


def test_a_grant_not_used_within_its_hour_expires(store: Store, requested: dict[str, Any]) -> None:
    _approve(store, requested)
    service.advance_clock(store, "2h", ADMIN)
    assert approvals.get(store, AGENT, requested["approval"])["status"] == "expired"
    _refused_without_change(store, requested, "approval-expired")


def test_a_pending_or_rejected_request_grants_nothing(store: Store, requested: dict[str, Any]) -> None:
    _refused_without_change(store, requested, "approval-pending")
    _approve(store, requested, "reject")
    assert approvals.get(store, AGENT, requested["approval"])["status"] == "rejected"
    _refused_without_change(store, requested, "approval-rejected")


def test_a_request_nobody_decides_expires_and_its_decision_task_is_cancelled_with_a_reason(
        store: Store, requested: dict[str, Any]) -> None:
    decision = only_open(store, requested["run"])
    service.advance_clock(store, "25h", ADMIN)
    with store.read() as tx:
        run = tx.load_run(requested["run"])
    assert str(run.status) == "cancelled"
    (cancelled,) = [e for e in events_of(store, requested["run"], "task.cancelled") if e["task"] == decision.id]
    assert cancelled["data"]["reason"].startswith(f"approval {requested['approval']} expired undecided")
    assert approvals.get(store, AGENT, requested["approval"])["status"] == "expired"
    _refused_without_change(store, requested, "approval-expired")


def test_a_decided_request_is_not_cancelled_by_its_expiry_timer(store: Store, requested: dict[str, Any]) -> None:
    _approve(store, requested)
    service.advance_clock(store, "25h", ADMIN)
    assert not events_of(store, requested["run"], "run.cancelled")
    execute = only_open(store, requested["run"])
    assert (execute.step, execute.assignee) == ("execute", "intake-bot")


def test_only_the_agent_that_asked_may_use_the_grant_and_strangers_do_not_see_it(
        store: Store, requested: dict[str, Any]) -> None:
    _approve(store, requested)
    approver = only_open(store, requested["run"])  # the execute task; the approver decided already
    decider = next(e["actor"] for e in events_of(store, requested["run"], "task.decided"))
    before = snapshot(store)
    with pytest.raises(Forbidden) as other:
        approvals.consume(store, Principal(token_id="t", actor=decider), requested["approval"], REFUND,
                          channel="api")
    assert other.value.rule == "approval-mismatch" and approver.step == "execute"
    with pytest.raises(NotFound):
        approvals.consume(store, Principal(token_id="t", actor="lena"), requested["approval"], REFUND, channel="api")
    with pytest.raises(NotFound):
        approvals.get(store, Principal(token_id="t", actor="lena"), requested["approval"])
    assert snapshot(store) == before


NO_DECISION = """\
id: notes-only
title: Notes with no decision
outcome: {owner: maria, statement: Notes are kept, measure: notes per week >= 1}
workflow_owner: sam
input: {type: object}
steps:
  - id: note
    type: task
    owner: deal-desk-assistant
    clarity: {what: Write the note, why: It is kept, success: a note is recorded, due: 1d}
    produces: {type: object}
governance: {cadence: weekly}
"""


def test_an_unknown_playbook_or_one_without_a_decision_grants_nothing_and_starts_nothing(
        store: Store, tmp_path: Path) -> None:
    publish_examples(store)
    publish_text(store, tmp_path, NO_DECISION)
    before = snapshot(store)
    for playbook, rule in (("no-such-playbook", "unknown-playbook"), ("notes-only", "not-an-approval-playbook")):
        with pytest.raises(LedgerflowError) as refusal:
            approvals.request(store, AGENT, playbook, action="a", arguments={}, reason="r", channel="mcp")
        assert refusal.value.rule == rule
    assert snapshot(store) == before


def test_concurrent_consumers_of_one_grant_exactly_one_wins(store: Store, requested: dict[str, Any]) -> None:
    _approve(store, requested)
    racers = 4
    barrier = threading.Barrier(racers)
    outcomes: list[str] = []
    lock = threading.Lock()

    def race() -> None:
        barrier.wait()
        try:
            _consume(store, requested)
            result = "won"
        except Conflict as exc:
            result = exc.rule
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=race) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["approval-used"] * (racers - 1) + ["won"]
    assert len(events_of(store, requested["run"], "approval.consumed")) == 1
    assert len(events_of(store, requested["run"], "approval.refused")) == racers - 1


def test_requests_are_recorded_with_their_channel_and_the_audit_chain_verifies(
        store: Store, requested: dict[str, Any]) -> None:
    from ledgerflow.trust import audit

    _approve(store, requested)
    _consume(store, requested)
    with pytest.raises(Conflict):
        _consume(store, requested)
    (started,) = events_of(store, requested["run"], "run.started")
    assert (started["actor"], started["channel"]) == ("intake-bot", "mcp")
    assert started["data"]["input"]["arguments"] == REFUND
    (consumed,) = events_of(store, requested["run"], "approval.consumed")
    (refusal,) = events_of(store, requested["run"], "approval.refused")
    decider = next(e["actor"] for e in events_of(store, requested["run"], "task.decided"))
    assert describe(consumed) == f"intake-bot used approval {requested['approval']} (approved by {decider}) for refund"
    assert describe(refusal) == f"intake-bot was refused approval {requested['approval']} for refund: approval-used"
    assert audit.verify(store)["ok"]
    service.task_command(store, "complete", only_open(store, requested["run"]).id, caller("intake-bot"),
                         output={"result": {"refund_id": "RF-42"}})
