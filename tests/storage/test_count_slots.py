"""A week's running counts and latency marks are spread over slots (migration 0022): readers add the slots up,
`audit verify` compares the sums, and on PostgreSQL two commands counting in one week do not queue on one row."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import func, insert, select, update

from ledgerflow.domain.figures import Marks, week_of
from ledgerflow.engine import service
from ledgerflow.storage import schema
from ledgerflow.storage.store import Store
from ledgerflow.trust import audit
from tests.engine.helpers import GOOD_OUTPUT, act, decide, only_open, start

PLAYBOOK = "pricing-exception"
_pc, _lm = schema.period_counts, schema.latency_marks


def _week(store: Store) -> str:
    with store.read() as tx:
        return week_of(tx.now()).name


def _decided_twice(store: Store) -> None:
    for _ in range(2):
        run = start(store)
        act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)
        decide(store, only_open(store, run.id), "approve")


def test_a_weeks_counts_in_several_slots_are_read_and_verified_as_their_sum(store: Store) -> None:
    _decided_twice(store)
    week = _week(store)
    with store.read() as tx:
        before = tx.period_counts(PLAYBOOK, week)
    assert before["decided"] == 2
    with store.engine.begin() as conn:  # one decision's count moved to a slot of its own
        low = conn.execute(select(func.min(_pc.c.slot)).where(_pc.c.playbook == PLAYBOOK, _pc.c.period == week)
                           ).scalar()
        conn.execute(update(_pc).where(_pc.c.playbook == PLAYBOOK, _pc.c.period == week, _pc.c.slot == low)
                     .values(decided=_pc.c.decided - 1))
        conn.execute(insert(_pc).values(playbook=PLAYBOOK, period=week, slot=99, ended=0, exceptions=0, clean=0,
                                        rework=0, decided=1))
    with store.read() as tx:
        assert tx.period_counts(PLAYBOOK, week) == before
        assert tx.all_period_counts()[PLAYBOOK, week] == before
    assert audit.verify(store)["ok"]
    with store.engine.begin() as conn:  # one more in any slot is one more than the log gives
        conn.execute(update(_pc).where(_pc.c.slot == 99).values(decided=2))
    assert audit.verify(store)["first_bad"] == {"seq": None, "run": None, "reason": "state-mismatch"}


def test_a_weeks_latency_marks_in_several_slots_fold_as_marks_merge(store: Store) -> None:
    week, threshold = "2026-W10", 48.0
    first = Marks(decided=2, below=1, above=1, max_below=3.0, min_above=50.0)
    second = Marks(decided=1, below=1, above=0, max_below=5.0, min_above=None)
    with store.engine.begin() as conn:
        conn.execute(insert(_pc), [{"playbook": PLAYBOOK, "period": week, "slot": slot, "ended": 0, "exceptions": 0,
                                    "clean": 0, "rework": 0, "decided": marks.decided}
                                   for slot, marks in ((3, first), (7, second))])
        conn.execute(insert(_lm), [{"playbook": PLAYBOOK, "period": week, "threshold": threshold, "slot": slot,
                                    "decided": m.decided, "below": m.below, "above": m.above,
                                    "max_below": m.max_below, "min_above": m.min_above}
                                   for slot, m in ((3, first), (7, second))])
    with store.read() as tx:
        assert tx.complete_latency_marks(PLAYBOOK, week, threshold) == first.merged(second)
        assert tx.all_latency_marks()[PLAYBOOK, week, threshold] == first.merged(second)
    with store.engine.begin() as conn:  # a week that counts a decision more than its marks place: not used
        conn.execute(update(_pc).where(_pc.c.slot == 7).values(decided=2))
    with store.read() as tx:
        assert tx.complete_latency_marks(PLAYBOOK, week, threshold) is None


class _Abandon(Exception):
    """Rolls the holding transaction back once the other command has had its chance."""


def test_a_decision_does_not_wait_for_another_transaction_counting_in_its_week(store: Store) -> None:
    if store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer by design: one slot per week")
    run = start(store)
    act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)
    decision = only_open(store, run.id)
    outcome: list[Any] = []

    def decide_now() -> None:
        outcome.append(service.task_command(store, "decide", decision.id, service.Caller(actor=str(decision.assignee)),
                                            outcome="approve", rationale="within policy", to=None))

    with pytest.raises(_Abandon), store.write() as tx:
        # another command's counts for this week, written (their row locked until it commits) ...
        tx.count_period(PLAYBOOK, week_of(tx.now()).name, {"decided": 1})
        tx.flush()
        # ... while a decision in the same week adds to the week's counts too: with one row per week it would wait
        deciding = threading.Thread(target=decide_now)
        deciding.start()
        deciding.join(timeout=20)
        done_while_held = list(outcome)
        raise _Abandon
    deciding.join(timeout=60)
    assert len(done_while_held) == 1 and isinstance(done_while_held[0], dict), outcome
    with store.read() as tx:
        assert tx.period_counts(PLAYBOOK, _week(store))["decided"] == 1  # the decision's; the held one rolled back
    assert audit.verify(store)["ok"]
