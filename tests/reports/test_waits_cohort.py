"""`report waits` counts only tasks that waited on someone: a skipped step never did."""

from __future__ import annotations

from ledgerflow.domain.figures import parse_period
from ledgerflow.reporting import reports
from ledgerflow.storage.store import Store
from tests.engine.helpers import GOOD_OUTPUT, act, only_open, start


def test_a_skipped_decision_is_not_a_wait(store: Store) -> None:
    run = start(store, discount_pct=5)  # the decision's `when` is discount_pct > 10: it is skipped
    act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)
    result = reports.waits(store, "pricing-exception", parse_period("2026-W10"))
    approve = next(s for s in result["steps"] if s["step"] == "approve")
    assert (approve["tasks"], approve["assignees"]) == (0, [])
