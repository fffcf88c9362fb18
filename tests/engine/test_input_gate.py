"""The service applies the input gate itself (SPEC §10), whatever channel called it: in-process clients, web
forms, anything to come. A refused command changes nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ledgerflow.domain.errors import LimitExceeded
from ledgerflow.engine import governance, service
from ledgerflow.storage.store import Store
from tests.engine.helpers import GOOD_OUTPUT, changes_nothing, only_open, start

INPUT = {"customer": "Acme", "deal_value": 12000, "discount_pct": 18}


def refused(call: Callable[[], object]) -> str:
    with pytest.raises(LimitExceeded) as caught:
        call()
    return caught.value.rule


def test_every_command_refuses_values_without_a_canonical_form_and_writes_nothing(store: Store) -> None:
    task = only_open(store, start(store).id)
    bob, owner = service.Caller(actor="bob"), service.Caller(actor=str(task.assignee))
    with changes_nothing(store):
        assert refused(lambda: service.start_run(store, "pricing-exception", {**INPUT, "deal_value": float("nan")},
                                                 bob)) == "not-canonical"
        assert refused(lambda: service.start_run(store, "pricing-exception", INPUT, bob, why="\ud800")) == (
            "not-canonical")
        deep: object = "leaf"
        for _ in range(64):
            deep = [deep]
        assert refused(lambda: service.start_run(store, "pricing-exception", {**INPUT, "notes": deep}, bob)) == (
            "input-too-deep")
        assert refused(lambda: service.task_command(store, "complete", task.id, owner,
                                                    output={**GOOD_OUTPUT, "n": 2**60})) == "not-canonical"
        assert refused(lambda: service.cancel_run(store, str(task.run), bob, "a\x00b")) == "not-canonical"
        assert refused(lambda: governance.decide(store, "pricing-exception", actor="maria", channel="web",
                                                 decision="stabilize", rationale="why\x00", follow_ups=[])) == (
            "not-canonical")
        assert refused(lambda: governance.decide(store, "pricing-exception", actor="maria", channel="web",
                                                 decision="stabilize", rationale="r",
                                                 follow_ups=[("t", "sam", "99999999999w")])) == "duration-too-large"
