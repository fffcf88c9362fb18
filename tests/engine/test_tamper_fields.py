"""`audit verify` finds a change to any one stored field of an event, and names the event, its run and why."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from ledgerflow.storage import schema
from ledgerflow.storage.event_body import COLUMNS, FIELDS, ONLY_IN_BODY, event_row
from ledgerflow.storage.store import Store, event_hash
from ledgerflow.trust import audit
from tests.engine.helpers import GOOD_OUTPUT, act, decide, only_open, start

FORGED: dict[str, Any] = {
    "seq": 10_000,
    "chain": "r-forged",
    "chain_seq": 1_000,
    "at": "2020-01-01T00:00:00.000000Z",
    "type": "task.decided",
    "actor": "mallory",
    "channel": "api",
    "run": "r-other",
    "task": "t-other",
    "step": "approve",
    "authority": {"kind": "escalation", "detail": "maria"},
    "data": {"output": {**GOOD_OUTPUT, "justification": "none"}},
    "v": 1,
    "prev_hash": "f" * 64,
    "hash": "e" * 64,
}
"""A forged value for every field of an event (every one is hashed, or is the hash)."""


def test_every_field_of_an_event_and_every_column_has_a_forgery_below() -> None:
    assert set(FORGED) == {*FIELDS, "hash"} == set(schema.events.c.keys()) - {"body"} | set(ONLY_IN_BODY)


def _completed(store: Store) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    """A decided run: (its id, its `task.completed` event, mid-chain, and its whole chain)."""
    run = start(store)
    decide(store, act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)["opened"][0], "approve")
    start(store)  # another run after it, so the tampered event is not the log's last
    with store.read() as tx:
        chain = tx.events(run=run.id)
    event = next(e for e in chain if e["type"] == "task.completed")
    assert event["seq"] != chain[-1]["seq"] and all(event[k] != v for k, v in FORGED.items())
    return run.id, event, chain


def _set(store: Store, seq: int, /, **values: Any) -> None:
    with store.engine.begin() as conn:
        conn.execute(update(schema.events).where(schema.events.c.seq == seq).values(**values))


@pytest.mark.parametrize("field", [key for key in FORGED if key in COLUMNS or key == "hash"])
def test_a_change_to_any_one_column_of_an_event_is_found_at_that_event(store: Store, field: str) -> None:
    _, event, _ = _completed(store)
    assert audit.verify(store)["ok"]
    _set(store, event["seq"], **{field: FORGED[field]})
    where = {k: FORGED[k] if k == field else event[k] for k in ("seq", "run")}  # the changed row as stored now
    assert audit.verify(store)["first_bad"] == {**where, "reason": "altered"}


@pytest.mark.parametrize("field", FIELDS)
def test_a_change_to_any_one_field_of_an_events_body_is_found_at_that_event(store: Store, field: str) -> None:
    _, event, _ = _completed(store)
    _set(store, event["seq"], body=event_row({**event, field: FORGED[field]})["body"])  # columns and hash as they were
    assert audit.verify(store)["first_bad"] == {"seq": event["seq"], "run": event["run"], "reason": "altered"}


@pytest.mark.parametrize("field", ["actor", "authority", "data", "at"])
def test_a_rewritten_and_rehashed_last_event_is_found_against_its_chains_head(store: Store, field: str) -> None:
    run, _, chain = _completed(store)
    last = chain[-1]
    forged = {**last, field: FORGED[field]}
    forged["hash"] = event_hash({k: v for k, v in forged.items() if k != "hash"})  # well formed on its own
    _set(store, last["seq"], **event_row(forged))
    assert audit.verify(store)["first_bad"] == {"seq": last["seq"], "run": run, "reason": "altered"}
