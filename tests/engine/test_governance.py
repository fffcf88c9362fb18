"""Governance decisions are enforced; reviews open on cadence and on risk triggers (SPEC §3.7)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from ledgerflow.domain.errors import Conflict, Forbidden, InvalidInput
from ledgerflow.engine import governance, service
from ledgerflow.storage.store import Store
from ledgerflow.trust import audit
from tests.conftest import PRICING
from tests.engine.helpers import GOOD_OUTPUT, act, caller, changes_nothing, decide, only_open, snapshot, start

ADMIN = service.Caller()


def _decide(store: Store, decision: str, actor: str = "maria", rationale: str = "figures say so",
            follow_ups: list[tuple[str, str, str]] | None = None) -> dict[str, Any]:
    return governance.decide(store, "pricing-exception", actor=actor, channel="cli", decision=decision,
                             rationale=rationale, follow_ups=follow_ups or [])


def test_pause_refuses_new_runs_naming_who_when_and_why_while_open_runs_finish(store: Store) -> None:
    run = start(store)
    _decide(store, "pause", rationale="Margin leakage under review")
    with changes_nothing(store), pytest.raises(Conflict) as info:
        start(store)
    assert info.value.rule == "playbook-paused"
    assert "maria" in info.value.message and "Margin leakage under review" in info.value.message
    assert "2026-03-02T08:00:00" in info.value.message
    act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)  # the open run goes on
    _decide(store, "continue", actor="sam")
    start(store)


def test_stabilize_caps_open_runs_at_the_wip_limit(store: Store) -> None:
    _decide(store, "stabilize")
    for _ in range(5):
        start(store)
    with changes_nothing(store), pytest.raises(Conflict) as info:
        start(store)
    assert info.value.rule == "playbook-stabilizing"


def test_stop_retires_every_version_until_a_new_one_is_published(store: Store) -> None:
    _decide(store, "stop", rationale="Policy replaced")
    with changes_nothing(store), pytest.raises(Conflict) as info:
        start(store)
    assert info.value.rule == "playbook-stopped"
    again = service.publish(store, str(PRICING), ADMIN)
    assert (again["version"], again["created"]) == (2, True)
    run = start(store)
    assert run.version == 2
    with changes_nothing(store), pytest.raises(Conflict):
        service.start_run(store, "pricing-exception", {"customer": "A", "deal_value": 1, "discount_pct": 1},
                          caller("bob"), version=1)


@pytest.mark.parametrize(("actor", "decision", "rationale", "error"), [
    ("bob", "pause", "no", Forbidden),
    ("maria", "pause", "  ", Forbidden),
    ("maria", "halt", "why", InvalidInput),
])
def test_only_owners_decide_with_a_rationale_and_a_known_decision(store: Store, actor: str, decision: str,
                                                                   rationale: str, error: type[Exception]) -> None:
    before = snapshot(store)
    with pytest.raises(error):
        _decide(store, decision, actor=actor, rationale=rationale)
    assert snapshot(store) == before


def test_a_decision_records_its_scorecard_and_opens_follow_ups_tracked_like_tasks(store: Store) -> None:
    result = _decide(store, "continue", actor="sam", follow_ups=[("Retrain account execs on deal sheets", "bob",
                                                                   "1w")])
    follow_up_id = result["follow_ups"][0]
    with store.read() as tx:
        task = tx.tasks(assignee="bob", status="open")[0]
        decided = next(e for e in tx.events() if e["type"] == "governance.decided")
    assert task.id == follow_up_id and task.type == "follow_up" and task.run is None
    assert task.due_at == "2026-03-09T08:00:00.000000Z" and task.note == "Retrain account execs on deal sheets"
    assert decided["data"]["scorecard"]["playbook"] == "pricing-exception"
    with pytest.raises(Forbidden):
        service.task_command(store, "complete", task.id, caller("alice"), output={})
    done = service.task_command(store, "complete", task.id, caller("bob"), output={"note": "done"})
    assert done["task"].status == "completed" and done["run"] is None
    assert audit.verify(store)["ok"]


def test_the_weekly_cadence_opens_a_review_each_monday_that_a_decision_closes(store: Store) -> None:
    result = service.advance_clock(store, "7d", ADMIN)  # 2026-03-09 is the next Monday
    assert [f["kind"] for f in result["fired"]] == ["review"]
    with store.read() as tx:
        review = tx.tasks(assignee="sam", status="open")[0]
    assert (review.type, review.step, review.run) == ("review", "governance-review", None)
    assert (review.ready_at, review.due_at) == ("2026-03-09T00:00:00.000000Z", "2026-03-11T00:00:00.000000Z")
    closed = _decide(store, "continue", actor="sam")
    assert closed["closed"] == [review.id]
    next_week = service.advance_clock(store, "7d", ADMIN)
    assert [f["kind"] for f in next_week["fired"]] == ["review"]
    assert audit.verify(store)["ok"]


def test_two_owners_deciding_at_once_close_the_open_review_once_and_the_log_replays(store: Store) -> None:
    service.advance_clock(store, "7d", ADMIN)  # the Monday review is open
    barrier, results, failures = threading.Barrier(2), [], []

    def decide_now(actor: str, decision: str) -> None:
        barrier.wait()
        try:
            results.append(_decide(store, decision, actor=actor))
        except Exception as exc:  # both are valid decisions: a lost race would be a bug
            failures.append(exc)

    threads = [threading.Thread(target=decide_now, args=args) for args in (("sam", "continue"), ("maria", "pause"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sorted(len(r["closed"]) for r in results) == [0, 1]  # the second read what the first left
    with store.read() as tx:
        assert [e["type"] for e in tx.events() if e["type"] == "task.completed"] == ["task.completed"]
    assert audit.verify(store)["ok"]


def test_a_crossed_trigger_opens_one_review_with_the_figures_once_per_period(store: Store) -> None:
    for _ in range(6):  # discounts above 40% are rejected by the check: every run is an exception
        run = start(store, discount_pct=45)
        act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)
    with store.read() as tx:
        opened = [e for e in tx.events() if e["type"] == "governance.review_opened"]
        reviews = [t for t in tx.tasks(status="open") if t.type == "review"]
    assert len(opened) == 1 and len(reviews) == 1
    assert opened[0]["data"]["trigger"] == "exception_rate above 0.15"
    assert opened[0]["data"]["figures"]["throughput"] == 5
    assert audit.verify(store)["ok"]


def _decided_after(store: Store, wait: str) -> None:
    run = start(store)
    act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)
    service.advance_clock(store, wait, ADMIN)
    result = decide(store, only_open(store, run.id), "approve", rationale="ok")
    act(store, "complete", result["opened"][0], output={"quote_id": "Q"})


def _latency_reviews(store: Store) -> list[dict[str, Any]]:
    with store.read() as tx:
        return [e for e in tx.events() if e["type"] == "governance.review_opened"
                and e["data"]["trigger"] == "decision_latency_p90_hours above 48"]


def test_a_latency_trigger_opens_a_review_when_the_weeks_p90_decision_latency_crosses(store: Store) -> None:
    for wait in ("1h", "1h", "1h", "50h", "1h"):  # p90 of [1, 1, 1, 1, 50] is 30.4 hours
        _decided_after(store, wait)
    assert _latency_reviews(store) == []
    _decided_after(store, "50h")  # p90 of [1, 1, 1, 1, 50, 50] is 50 hours
    opened = _latency_reviews(store)
    assert len(opened) == 1
    assert opened[0]["data"]["figures"]["decision_latency"]["p90_hours"] == pytest.approx(50)


def test_a_weeks_latency_marks_place_every_decision_around_the_threshold(store: Store) -> None:
    for wait in ("1h", "48h", "50h"):
        _decided_after(store, wait)
    with store.read() as tx:
        marks = tx.complete_latency_marks("pricing-exception", "2026-W10", 48.0)
    assert marks is not None and (marks.decided, marks.below, marks.above) == (3, 1, 1)
    assert marks.max_below == pytest.approx(1) and marks.min_above == pytest.approx(50)


def test_a_latency_trigger_without_complete_marks_reads_the_weeks_latencies(store: Store) -> None:
    from sqlalchemy import delete

    from ledgerflow.storage import schema

    for wait in ("1h", "1h", "1h", "50h"):
        _decided_after(store, wait)
    with store.write() as tx:  # as when the trigger arrived mid-week with a new version
        tx.conn.execute(delete(schema.latency_marks))
    _decided_after(store, "50h")
    with store.read() as tx:
        assert tx.period_counts("pricing-exception", "2026-W10")["decided"] == 5
        assert tx.complete_latency_marks("pricing-exception", "2026-W10", 48.0) is None  # one of 5: not used
    assert len(_latency_reviews(store)) == 1
