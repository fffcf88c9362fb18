"""`audit verify` compares each replayed run with its stored rows, every compared column of them: a value changed
behind the log is a `state-mismatch` at the run's last event; a value stored in another form that reads back as
the same state is not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text, update

from ledgerflow.domain.figures import week_of
from ledgerflow.domain.times import format_time, parse_time
from ledgerflow.engine import documents, service
from ledgerflow.storage import schema
from ledgerflow.storage.rows import RECOMMENDATION_COMPARED, RUN_COMPARED, TASK_COMPARED
from ledgerflow.storage.store import Store, Tx
from ledgerflow.trust import audit
from tests.engine.helpers import GOOD_OUTPUT, act, caller, decide, only_open, start

PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n%%EOF\n"
WHEN = "2020-01-01T00:00:00.000000Z"
FORGED: dict[str, dict[str, Any]] = {
    "runs": {"id": "r-forged", "playbook": "forged", "version": 99, "status": "completed", "started_by": "mallory",
             "started_at": WHEN, "ended_at": WHEN, "input": {"customer": "Mallory"}, "why": "forged",
             "attachments": None, "held": False, "exception": False, "reworked": True, "failed_check": True},
    "tasks": {"id": "t-forged", "run": "r-forged", "playbook": "forged", "step": "forged", "type": "action",
              "status": "cancelled", "assignee": "mallory", "attempt": 7, "seat": 3, "ready_at": WHEN,
              "due_at": WHEN, "sla_due_at": WHEN, "started_at": WHEN, "ended_at": WHEN, "outcome": "approve",
              "rationale": "forged", "output": {"forged": 1}, "data_hash": "0" * 64, "approver": "mallory",
              "authority_row": 99, "on_behalf_of": "mallory", "escalated": True, "blocked": True, "error": "forged",
              "note": "forged", "pulled_in": ["mallory"]},
    "recommendations": {"run": "r-forged", "task": "t-forged", "step": "forged", "attempt": 9, "actor": "mallory",
                        "outcome": "reject", "rationale": "forged", "data_hash": "0" * 64, "at": WHEN},
}
"""A value for every column each table's rows are compared by, unlike the one the run below stores."""
COMPARED = {"runs": RUN_COMPARED, "tasks": TASK_COMPARED, "recommendations": RECOMMENDATION_COMPARED}


def test_every_compared_column_has_a_forgery_below() -> None:
    assert {table: tuple(values) for table, values in FORGED.items()} == COMPARED


def _full_run(store: Store) -> tuple[str, int]:
    """A run with a document, a recommendation, a rejection (its scorecard flags set) and a legal hold, and
    another run after it: (the first run's id, its last event's seq)."""
    run = service.start_run(store, "pricing-exception", {"customer": "Acme", "deal_value": 12000, "discount_pct": 18},
                            caller("bob"), attachments=documents.keep(store, [("deal.pdf", PDF)]))[0].id
    decision = act(store, "complete", only_open(store, run), output=GOOD_OUTPUT)["opened"][0]
    act(store, "recommend", decision, "carol", outcome="approve", rationale="margin is fine")
    decide(store, decision, "reject")
    documents.set_hold(store, run, caller("sam"), held=True, reason="matter 2026-114")
    start(store)
    with store.read() as tx:
        return run, tx.events(run=run)[-1]["seq"]


def _set(store: Store, table: str, run: str, values: dict[str, Any], *, task_type: str | None = None) -> None:
    """Change the one row of a run in `table` (of its tasks, the one of `task_type`) behind the log."""
    rows = schema.metadata.tables[table]
    where = (rows.c.id if table == "runs" else rows.c.run) == run
    if task_type is not None:
        where &= rows.c.type == task_type
    with store.engine.begin() as conn:
        assert conn.execute(update(rows).where(where).values(**values)).rowcount == 1


@pytest.mark.parametrize(("table", "column"), [(t, c) for t, columns in COMPARED.items() for c in columns])
def test_a_compared_column_changed_behind_the_log_is_a_state_mismatch_at_its_run(store: Store, table: str,
                                                                                  column: str) -> None:
    run, last_seq = _full_run(store)
    assert audit.verify(store)["ok"]
    _set(store, table, run, {column: FORGED[table][column]}, task_type="decision" if table == "tasks" else None)
    assert audit.verify(store)["first_bad"] == {"seq": last_seq, "run": run, "reason": "state-mismatch"}


def test_an_untouched_log_is_judged_by_its_rows_without_building_stored_runs(store: Store,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The row comparison holds every run the engine wrote (documents, recommendations, flags, a hold): none
    is left to the slower comparison of domain objects."""
    _full_run(store)

    def refused(_tx: Tx, _ids: Any, **_options: Any) -> Any:
        raise AssertionError("a run was built from its rows")

    monkeypatch.setattr(Tx, "runs_by_id", refused)
    assert audit.verify(store)["ok"]


@pytest.mark.parametrize(("table", "values"), [
    ("tasks", {"pulled_in": []}),  # JSON [] for the null of no pulled-in escalation
    ("runs", {"attachments": []}),  # [] for the null of no documents
    ("runs", {"held": False}),  # false for the null of a run never held
])
def test_a_value_stored_in_another_form_that_reads_as_the_same_state_verifies(store: Store, table: str,
                                                                              values: dict[str, Any]) -> None:
    _full_run(store)
    _set(store, table, start(store).id, values)  # a run just started: no documents, no hold, one task
    assert audit.verify(store)["ok"]


def test_a_boolean_stored_as_another_true_number_verifies_on_sqlite(store: Store) -> None:
    if store.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's boolean holds true and false only")
    run, _ = _full_run(store)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE runs SET held = 2, exception = 5 WHERE id = :run"), {"run": run})
    assert audit.verify(store)["ok"]


@given(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)),
       st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59), st.booleans())
def test_a_times_week_is_the_iso_week_of_its_utc_date(moment: datetime, offset: int, stored: bool) -> None:
    """Also for a time written with an offset, whose UTC date may be the day before or after its own."""
    at = format_time(moment) if stored else moment.astimezone(timezone(timedelta(minutes=offset))).isoformat()
    assert audit._week(at) == week_of(parse_time(at)).name
