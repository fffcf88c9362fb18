"""Earned autonomy (SPEC §11, issue #22 §5): the owners widen, narrow, withdraw and restore what an agent may
decide by a governance decision, without republishing; enforced from the next decision, replayed by audit."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, update

from ledgerflow.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from ledgerflow.domain.escalation_map import map_markdown
from ledgerflow.domain.runs import TaskState
from ledgerflow.engine import autonomy, service
from ledgerflow.ops.backup import backup, restore
from ledgerflow.reporting import reports
from ledgerflow.storage import schema
from ledgerflow.storage.database import make_engine
from ledgerflow.storage.event_body import event_row
from ledgerflow.storage.store import Store, event_hash
from ledgerflow.trust import audit
from tests.conftest import drop_schema, fresh_url
from tests.engine.helpers import caller, changes_nothing, decide, publish_text, run_state

CREDIT = (Path(__file__).parents[1] / "reports" / "small-credit.yaml").read_text()
"""Step `triage`: the row `input.amount <= 100` names intake-bot, finance decides the rest."""
BOT = "intake-bot"


@pytest.fixture
def credit(store: Store, tmp_path: Path) -> Store:
    publish_text(store, tmp_path, CREDIT)
    return store


def _triage(store: Store, amount: float) -> TaskState:
    _, opened = service.start_run(store, "small-credit", {"customer": "Acme", "amount": amount}, caller("bob"))
    (task,) = opened
    assert isinstance(task, TaskState)
    return task


def _set(store: Store, change: str, *, limit: float | None = None, by: str = "sam",
         rationale: str = "agreed with finance in 19 of its last 20 triages") -> dict[str, Any]:
    return autonomy.change(store, "small-credit", actor=by, channel="cli", agent=BOT, step="triage", change=change,
                           limit=limit, rationale=rationale)


def _last(store: Store, type_: str) -> dict[str, Any]:
    with store.read() as tx:
        return tx.events_of_type(type_, "", "9999")[-1]


def test_widening_the_limit_routes_larger_decisions_to_the_agent_from_the_next_run(credit: Store) -> None:
    assert _triage(credit, 300).assignee != BOT  # as written: above 100 goes to finance
    result = _set(credit, "limit", limit=500)
    assert (result["limit"], result["withdrawn"], result["decided_by"]) == (500, False, "sam")
    task = _triage(credit, 300)
    assert (task.assignee, task.authority_row) == (BOT, 0)
    decide(credit, task, "approve", rationale="a credit within the limit the owners gave me")
    assert _triage(credit, 600).assignee != BOT
    event = _last(credit, "governance.autonomy_changed")
    assert event["actor"] == "sam" and event["authority"] == {"kind": "owner", "detail": "workflow owner"}
    assert (event["data"]["change"], event["data"]["limit"], event["data"]["written_limit"]) == ("limit", 500, 100)
    assert event["data"]["rationale"].startswith("agreed with finance")
    assert audit.verify(credit)["ok"]


def test_the_decision_records_the_agents_scorecard_that_informed_it(credit: Store) -> None:
    decide(credit, _triage(credit, 40), "approve", rationale="small credit")
    (row,) = [r for r in reports.agents(credit, playbook="small-credit") if r["step"] == "triage"]
    _set(credit, "limit", limit=200)
    recorded = _last(credit, "governance.autonomy_changed")["data"]["scorecard"]
    assert recorded == [{k: v for k, v in row.items() if k != "autonomy"}]
    assert recorded[0]["decisions"] == 1


def test_narrowing_moves_the_agents_open_decision_and_refuses_its_decide_by_rule(credit: Store) -> None:
    held = _triage(credit, 80)
    assert held.assignee == BOT
    result = _set(credit, "limit", limit=50, by="maria", rationale="two credits reversed this week")
    assert result["moved"] == [held.id]
    moved = run_state(credit, held.run or "").task(held.id)
    assert moved is not None and moved.assignee == "maria" and moved.escalated  # up to the outcome owner
    with changes_nothing(credit), pytest.raises(Forbidden) as info:
        decide(credit, held, "approve", actor=BOT, rationale="as before")
    assert info.value.rule == "agent-autonomy-limit" and "50" in info.value.message
    assert _triage(credit, 80).assignee != BOT  # the next run goes to finance
    small = _triage(credit, 30)
    assert small.assignee == BOT
    decide(credit, small, "approve", rationale="within the narrowed limit")
    assert audit.verify(credit)["ok"]


def test_withdrawing_and_restoring_the_agents_authority_at_a_step(credit: Store) -> None:
    held = _triage(credit, 40)
    _set(credit, "withdraw", rationale="a reversed credit is under investigation")
    with changes_nothing(credit), pytest.raises(Forbidden) as info:
        decide(credit, held, "approve", actor=BOT, rationale="small")
    assert info.value.rule == "agent-autonomy-withdrawn" and "investigation" in info.value.message
    withdrawn = _triage(credit, 10)
    assert withdrawn.assignee != BOT and withdrawn.authority_row == 1  # the agent's row no longer matches
    _set(credit, "restore", rationale="investigation closed: the credit was right")
    restored = _triage(credit, 10)
    assert restored.assignee == BOT
    decide(credit, restored, "approve", rationale="small")
    assert [e["data"]["change"] for e in _events(credit)] == ["withdraw", "restore"]
    assert audit.verify(credit)["ok"]


def _events(store: Store) -> list[dict[str, Any]]:
    with store.read() as tx:
        return tx.events_of_type("governance.autonomy_changed", "", "9999")


@pytest.mark.parametrize(("by", "agent", "step", "change", "limit", "rationale", "error", "rule"), [
    ("bob", BOT, "triage", "limit", 500, "why not", Forbidden, "governance-not-owner"),
    ("intake-bot", BOT, "triage", "limit", 5000, "I have earned it", Forbidden, "governance-not-owner"),
    ("sam", BOT, "triage", "limit", 500, "  ", Forbidden, "rationale-required"),
    ("sam", BOT, "nope", "limit", 500, "why", NotFound, "unknown-step"),
    ("sam", "dave", "triage", "limit", 500, "why", InvalidInput, "not-an-agent"),
    ("sam", BOT, "confirm", "withdraw", None, "why", InvalidInput, "agent-has-no-row"),
    ("sam", BOT, "triage", "limit", -1, "why", InvalidInput, "bad-limit"),
    ("sam", BOT, "triage", "limit", float("inf"), "why", InvalidInput, "not-canonical"),  # the input gate
])
def test_a_refused_autonomy_decision_changes_nothing(credit: Store, by: str, agent: str, step: str, change: str,
                                                    limit: float | None, rationale: str, error: type[Exception],
                                                    rule: str) -> None:
    with changes_nothing(credit), pytest.raises(error) as info:
        autonomy.change(credit, "small-credit", actor=by, channel="cli", agent=agent, step=step, change=change,
                        limit=limit, rationale=rationale)
    assert getattr(info.value, "rule", None) == rule


def test_a_limit_needs_a_guard_with_a_bound(credit: Store, tmp_path: Path) -> None:
    publish_text(credit, tmp_path, CREDIT.replace("id: small-credit", "id: vip-credit").replace(
        "input.amount <= 100", 'input.customer == "Acme"'), name="vip.yaml")
    with changes_nothing(credit), pytest.raises(InvalidInput) as info:
        autonomy.change(credit, "vip-credit", actor="sam", channel="cli", agent=BOT, step="triage", change="limit",
                        limit=500, rationale="why")
    assert info.value.rule == "guard-has-no-limit"
    autonomy.change(credit, "vip-credit", actor="sam", channel="cli", agent=BOT, step="triage", change="withdraw",
                    limit=None, rationale="withdrawal works on any guard")


def test_the_current_autonomy_shows_the_limit_in_force_since_when_and_by_whom(credit: Store) -> None:
    (written,) = autonomy.current(credit, "small-credit")
    assert (written["step"], written["limit"], written["written_limit"], written["changed"]) == (
        "triage", 100, 100, False)
    _set(credit, "limit", limit=250)
    (now,) = autonomy.current(credit, "small-credit")
    assert (now["limit"], now["withdrawn"], now["decided_by"], now["changed"]) == (250, False, "sam", True)
    assert now["decided_at"].endswith("Z")
    (row,) = [r for r in reports.agents(credit) if r["step"] == "triage"]
    assert row["autonomy"]["limit"] == 250 and row["recommendations"] == 0  # listed before the agent acted
    with pytest.raises(Forbidden):
        autonomy.current(credit, "small-credit", actor="bob")


def test_a_tampered_autonomy_event_or_state_row_fails_audit_verify(credit: Store) -> None:
    _set(credit, "limit", limit=500)
    assert audit.verify(credit)["ok"]
    event = _last(credit, "governance.autonomy_changed")
    with credit.engine.begin() as conn:  # the state row says more than the owners decided
        conn.execute(update(schema.agent_autonomy).values(limit_value=50_000))
    problem = audit.verify(credit)["first_bad"]
    assert problem is not None and (problem["seq"], problem["reason"]) == (event["seq"], "state-mismatch")
    with credit.engine.begin() as conn:  # and the event rewritten to match, re-hashed
        data = dict(event["data"], limit=50_000)
        body = {k: v for k, v in dict(event, data=data).items() if k != "hash"}
        conn.execute(update(schema.events).where(schema.events.c.seq == event["seq"]).values(
            **event_row({**body, "hash": event_hash(body)})))
    problem = audit.verify(credit)["first_bad"]
    assert problem is not None and problem["seq"] == event["seq"] and problem["reason"] in ("altered", "truncated")


def test_an_autonomy_row_lost_or_slipped_in_behind_the_log_fails_audit_verify(credit: Store) -> None:
    """Every decision the log holds must have its row, and every row its decision: either side alone is a
    mismatch (the lost one named by the event that made it)."""
    _set(credit, "limit", limit=500)
    event = _last(credit, "governance.autonomy_changed")
    table = schema.agent_autonomy
    with credit.engine.begin() as conn:
        row = dict(conn.execute(select(table)).mappings().one())
        conn.execute(delete(table))
    assert audit.verify(credit)["first_bad"] == {"seq": event["seq"], "run": None, "reason": "state-mismatch"}
    with credit.engine.begin() as conn:  # the row back, and one for an agent no decision named
        conn.execute(insert(table), [row, {**row, "agent": "other-bot"}])
    assert audit.verify(credit)["first_bad"] == {"seq": None, "run": None, "reason": "state-mismatch"}


def test_autonomy_survives_a_restart_and_a_backup_restored_elsewhere(credit: Store, tmp_path: Path) -> None:
    _set(credit, "limit", limit=500)
    reopened = Store(credit.url)
    try:
        assert _triage(reopened, 300).assignee == BOT
    finally:
        reopened.close()
    backup(credit.engine, credit.url, str(tmp_path / "ledger.lfb"))
    (tmp_path / "copy").mkdir()
    url = fresh_url("sqlite", tmp_path / "copy")
    engine = make_engine(url)
    try:
        restore(engine, url, str(tmp_path / "ledger.lfb"))
    finally:
        engine.dispose()
    copy = Store(url)
    try:
        assert audit.verify(copy)["ok"]
        assert _triage(copy, 300).assignee == BOT
        assert autonomy.current(copy, "small-credit")[0]["limit"] == 500
    finally:
        copy.close()
        drop_schema(url)


WATCHED = CREDIT.replace("governance: {cadence: weekly}", """governance:
  cadence: weekly
  triggers:
    - {metric: agent_agreement_rate, below: 0.9, decisions: 3}""")


def _overruled(store: Store, outcome: str) -> None:
    """A credit above the agent's row: it recommends approve, finance decides `outcome`."""
    task = _triage(store, 300)
    service.task_command(store, "recommend", task.id, caller(BOT), outcome="approve",
                         rationale="customer in good standing")
    decide(store, task, outcome, rationale="finance's call")


def _reviews(store: Store) -> list[dict[str, Any]]:
    with store.read() as tx:
        return [e for e in tx.events_of_type("governance.review_opened", "", "9999")
                if (e["data"].get("trigger") or "").startswith("agent_agreement_rate")]


def test_agreement_below_the_threshold_over_the_last_decisions_opens_one_review_naming_the_agent(
        store: Store, tmp_path: Path) -> None:
    publish_text(store, tmp_path, WATCHED)
    _overruled(store, "reject")
    _overruled(store, "approve")
    assert _reviews(store) == []  # two judged recommendations: the window of three is not full yet
    _overruled(store, "reject")
    (opened,) = _reviews(store)
    assert opened["data"]["agent"] == BOT and "1 of its last 3" in opened["data"]["reason"]
    with store.read() as tx:
        (review,) = tx.standalone(playbook="small-credit", open_only=True).values()
    assert review.assignee == "sam" and review.type == "review"
    _overruled(store, "reject")
    assert len(_reviews(store)) == 1  # once, not on every decision
    _set(store, "limit", limit=50, rationale="its recommendations are overruled too often")
    _overruled(store, "reject")
    assert len(_reviews(store)) == 2  # after the owners decided, it watches afresh
    assert audit.verify(store)["ok"]


def test_the_agreement_trigger_reads_below_and_a_positive_window(store: Store, tmp_path: Path) -> None:
    for bad in ("{metric: agent_agreement_rate, above: 0.9}",
                "{metric: agent_agreement_rate, below: 0.9, decisions: 0}",
                "{metric: exception_rate, above: 0.2, decisions: 5}"):
        text = CREDIT.replace("governance: {cadence: weekly}", f"governance:\n  triggers:\n    - {bad}")
        with changes_nothing(store), pytest.raises(Conflict) as info:
            publish_text(store, tmp_path, text)
        assert info.value.rule == "lint-errors"


def test_two_owners_deciding_at_once_both_land_in_order_and_the_state_replays(credit: Store) -> None:
    barrier, failures = threading.Barrier(2), []

    def change(by: str, limit: float) -> None:
        barrier.wait()
        try:
            _set(credit, "limit", limit=limit, by=by)
        except Exception as exc:  # a lost race would be a bug here: both are valid decisions
            failures.append(exc)

    threads = [threading.Thread(target=change, args=args) for args in (("sam", 200), ("maria", 300))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    decided = _events(credit)
    assert len(decided) == 2 and decided[1]["data"]["before"] == {"limit": decided[0]["data"]["limit"],
                                                                   "withdrawn": False}
    (now,) = autonomy.current(credit, "small-credit")
    assert (now["limit"], now["decided_by"]) == (decided[1]["data"]["limit"], decided[1]["actor"])
    assert audit.verify(credit)["ok"]


def test_the_agreement_trigger_defaults_to_ninety_percent_over_twenty_decisions(store: Store, tmp_path: Path) -> None:
    text = CREDIT.replace("governance: {cadence: weekly}",
                          "governance:\n  triggers:\n    - {metric: agent_agreement_rate}")
    publish_text(store, tmp_path, text)
    with store.read() as tx:
        (trigger,) = tx.playbook("small-credit")[0].governance.triggers
    assert (trigger.below, trigger.decisions) == (0.9, 20)


def test_restoring_a_widened_limit_moves_the_decisions_it_had_let_the_agent_take(credit: Store) -> None:
    _set(credit, "limit", limit=500)
    held = _triage(credit, 300)
    assert held.assignee == BOT
    assert _set(credit, "restore", rationale="back to the playbook's 100")["moved"] == [held.id]
    with changes_nothing(credit), pytest.raises(Forbidden) as info:
        decide(credit, held, "approve", actor=BOT, rationale="as before")
    assert info.value.rule == "not-assignee"  # restored, the agent holds no autonomy decision: the plain rule
    assert audit.verify(credit)["ok"]


def test_the_escalation_map_shows_the_owners_decisions_on_an_agents_autonomy_beside_the_rows_as_written(
        credit: Store) -> None:
    assert reports.playbook_map(credit, "small-credit")["agent_autonomy"] == []
    _set(credit, "limit", limit=500, rationale="agreed with finance in 19 of its last 20")
    (entry,) = reports.playbook_map(credit, "small-credit")["agent_autonomy"]
    assert (entry["agent"], entry["step"], entry["written_limit"], entry["limit"], entry["withdrawn"],
            entry["decided_by"]) == (BOT, "triage", 100, 500, False, "sam")
    page = map_markdown(reports.playbook_map(credit, "small-credit"))
    assert f"- Agent {BOT} decides up to 500 (as written: 100), by sam on " in page
    assert page.index("## triage") < page.index(f"Agent {BOT}")
    _set(credit, "withdraw", rationale="two wrong calls this week", by="maria")
    page = map_markdown(reports.playbook_map(credit, "small-credit"))
    assert f"- Agent {BOT} may not decide here (withdrawn), by maria on " in page
    _set(credit, "restore", rationale="back to the rows as written")
    assert reports.playbook_map(credit, "small-credit")["agent_autonomy"] == []
