"""Durable timers fire through `clock advance` in time order: nudges, SLA breach, escalation (SPEC §6)."""

from __future__ import annotations

import pytest

from ledgerflow.domain.figures import parse_period
from ledgerflow.domain.times import format_time
from ledgerflow.engine import service
from ledgerflow.reporting.scorecard import scorecard
from ledgerflow.storage.store import Store
from tests.engine.helpers import GOOD_OUTPUT, act, decide, only_open, run_state, start

ADMIN = service.Caller()


def _open_decision(store: Store) -> tuple[str, object]:
    run = start(store)
    decision = act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)["opened"][0]
    return run.id, decision


def test_nudges_fire_at_their_offsets_in_time_order(store: Store) -> None:
    _run_id, _decision = _open_decision(store)
    first = service.advance_clock(store, "5h", ADMIN)
    assert [(f["kind"], f["events"]) for f in first["fired"]] == [("nudge", ["nudge.sent"])]
    assert first["fired"][0]["due_at"] == "2026-03-02T12:00:00Z"
    assert first["to"] == "2026-03-02T13:00:00Z"
    second = service.advance_clock(store, "8h", ADMIN)
    assert [f["kind"] for f in second["fired"]] == ["nudge"]
    assert service.advance_clock(store, "1h", ADMIN)["fired"] == []


def test_an_sla_breach_and_escalation_fire_at_24h_and_escalation_grants_approve(store: Store) -> None:
    run_id, decision = _open_decision(store)
    result = service.advance_clock(store, "2d", ADMIN)
    assert [f["kind"] for f in result["fired"]] == ["nudge", "nudge", "sla", "escalate"]
    escalated = only_open(store, run_id)
    assert escalated.id == decision.id and escalated.assignee == "maria" and escalated.escalated  # type: ignore[attr-defined]
    done = decide(store, escalated, "approve", rationale="Escalated; margin is fine")
    assert done["task"].outcome == "approve"
    with store.read() as tx:
        decided = next(e for e in tx.events(run=run_id) if e["type"] == "task.decided")
    assert decided["authority"]["kind"] == "escalation"


def test_a_timer_whose_task_moved_on_does_nothing_and_is_not_listed(store: Store) -> None:
    run_id, decision = _open_decision(store)
    decide(store, decision, "approve")  # type: ignore[arg-type]
    result = service.advance_clock(store, "3d", ADMIN)
    assert result["fired"] == []  # the decided task's nudges, SLA and escalation came due and did nothing
    assert run_state(store, run_id).task(decision.id).assignee == decision.assignee  # type: ignore[attr-defined,union-attr]


def test_a_breached_run_counts_as_an_exception_in_the_scorecard(store: Store) -> None:
    run_id, _decision = _open_decision(store)
    service.advance_clock(store, "25h", ADMIN)
    escalated = only_open(store, run_id)
    apply = decide(store, escalated, "approve", rationale="late but fine")["opened"][0]
    act(store, "complete", apply, output={"quote_id": "Q"})
    card = scorecard(store, "pricing-exception", parse_period("2026-W10"))
    assert card["throughput"] == 1 and card["exception_rate"] == 1.0
    assert card["decision_latency"]["median_hours"] == 25.0


def test_a_backlog_of_timers_fires_in_batches_in_due_order(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "TIMER_BATCH", 3)
    for _ in range(2):
        _open_decision(store)  # four timers each: two nudges, the SLA, the escalation
    result = service.advance_clock(store, "2d", ADMIN)
    assert [f["kind"] for f in result["fired"]] == ["nudge"] * 4 + ["sla", "escalate"] * 2  # ties: set first
    assert [f["due_at"] for f in result["fired"]] == sorted(f["due_at"] for f in result["fired"])
    with store.read() as tx:
        advanced = [e for e in tx.events() if e["type"] == "clock.advanced"]
    assert [e["data"]["fired"] for e in advanced] == [8]  # one advance, recorded once, at its end


def test_an_advance_cut_short_keeps_the_batches_it_committed_and_the_rest_fires_later(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "TIMER_BATCH", 2)
    _open_decision(store)
    real_fire, calls = service._fire, []

    def failing(tx: object, timer: object, runs: object) -> dict[str, object]:
        calls.append(timer)
        if len(calls) == 3:
            raise RuntimeError("power cut")
        return real_fire(tx, timer, runs)  # type: ignore[arg-type]

    monkeypatch.setattr(service, "_fire", failing)
    with pytest.raises(RuntimeError):
        service.advance_clock(store, "2d", ADMIN)
    with store.read() as tx:
        assert format_time(tx.now()) == "2026-03-02T20:00:00.000000Z"  # the second nudge's due time (12h)
        assert [e["type"] for e in tx.events() if e["type"] == "nudge.sent"] == ["nudge.sent"] * 2
    monkeypatch.setattr(service, "_fire", real_fire)
    rest = service.advance_clock(store, "1d", ADMIN)
    assert [f["kind"] for f in rest["fired"]] == ["sla", "escalate"]


def test_a_timer_set_by_a_fired_timer_fires_in_its_turn_within_the_same_advance(store: Store) -> None:
    from ledgerflow.domain.timers import Timer

    _run_id, decision = _open_decision(store)
    with store.write() as tx:  # a nudge due after the next two Mondays, set before the advance
        tx.add_timers([Timer(due_at="2026-03-17T00:00:00.000000Z", kind="nudge", run=decision.run,  # type: ignore[attr-defined]
                             task=decision.id, data={"index": 0})])  # type: ignore[attr-defined]
    fired = service.advance_clock(store, "16d", ADMIN)["fired"]  # the 03-09 review sets the 03-16 one
    due = [f["due_at"] for f in fired]
    assert due == sorted(due)
    assert [f["kind"] for f in fired][-3:] == ["review", "review", "nudge"]
