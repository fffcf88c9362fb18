"""What the engine reads of a run's log when the run ends: its flag events (which the scorecard's flags come
from), each body parsed once for both fields, and readers never fail on a body altered by hand."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from ledgerflow.domain.figures import FLAG_EVENTS
from ledgerflow.storage import schema
from ledgerflow.storage.event_body import field
from ledgerflow.storage.store import Store, Tx
from tests.engine.helpers import GOOD_OUTPUT, act, decide, only_open, start


def _flag_events_one_field_at_a_time(tx: Tx, run: str) -> list[tuple[str, Any, Any]]:
    """The read as it was before one parse served both fields: each field selected on its own."""
    e = schema.events
    return [(row.type, row.authority, row.data) for row in tx.conn.execute(
        select(e.c.type, field("authority"), field("data")).where(e.c.chain == run, e.c.type.in_(FLAG_EVENTS))
        .order_by(e.c.seq))]


def _ended_after_a_send_back(store: Store) -> str:
    """A run with flag events of several kinds: sent back once, then approved and applied."""
    run = start(store)
    act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)
    decide(store, only_open(store, run.id), "send_back", rationale="Need the competitor quote", to="prepare")
    act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)
    decide(store, only_open(store, run.id), "approve")
    act(store, "complete", only_open(store, run.id), output={"quote_id": "Q"})
    return run.id


def test_a_runs_flag_events_read_both_fields_as_each_field_read_alone_gives_them(store: Store) -> None:
    run = _ended_after_a_send_back(store)
    with store.read() as tx:
        found = tx.run_flag_events(run)
        assert {type_ for type_, _, _ in found} >= {"task.sent_back", "task.ready"}
        assert sorted(map(repr, found)) == sorted(map(repr, _flag_events_one_field_at_a_time(tx, run)))


def test_a_flag_event_whose_body_was_altered_by_hand_reads_with_its_fields_missing(store: Store) -> None:
    run = _ended_after_a_send_back(store)
    e = schema.events
    with store.engine.begin() as conn:
        conn.execute(update(e).where(e.c.chain == run, e.c.type == "task.sent_back").values(body="[]"))
    with store.read() as tx:
        assert ("task.sent_back", None, None) in tx.run_flag_events(run)
