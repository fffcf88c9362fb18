"""`Tx.scan_chains` reads what `Tx.chain_events` reads and hashes each event's stored body, whatever a body
holds (JSON written by hand, what orjson refuses, not an event at all), so `audit verify` reaches the verdicts
that hashing each event's fields anew reaches, and readers never fail on it."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from ledgerflow.storage.event_body import event_row
from ledgerflow.storage.store import Store
from ledgerflow.trust import audit
from tests.engine.helpers import GOOD_OUTPUT, act, body_by_hand, decide, only_open, start

WRITTEN_BY_HAND = [
    '{"x": 123456789012345678901234567890}',  # beyond 64 bits: orjson reads a float, the standard library an int
    '{"x": 18446744073709551615}',  # the largest integer orjson reads as an integer, beyond 2^53
    '{"x": 9007199254740993, "y": null}',
    '{"x": 1.5, "y": null}',  # a float: RFC 8785 writes it as ECMAScript does
    '{"x": 1e400}',  # an infinity to the standard library, refused by orjson
    '{"x": NaN, "y": null}',  # not JSON
    '{"x": "\\ud800"}',  # a lone surrogate
    '{"x": "\\ud83d\\ude00", "\\ud83d\\ude00": 1, "\\uff61": 2}',  # outside the BMP, in text and in keys
    '{"x": [[[[[[[[[[1]]]]]]]]]], "t": "1.5e3 and 2026-03-02T08:00:00.000000Z", "f": false}',
    "5",  # not an object at all
]

NOT_AN_EVENT = ["5", "[]", "not json", '{"x": NaN}', ""]
"""Whole bodies written by hand that are no event's fields."""


def reference(store: Store) -> dict[str, tuple[list[dict[str, Any]], list[str | None]]]:
    """Every chain as `chain_events` reads it, with the hashes `chain_tail` gives (the incremental verify's and the
    run page's reading)."""
    chains: dict[str, tuple[list[dict[str, Any]], list[str | None]]] = {}
    with store.read() as tx:
        for row in tx.chain_events():
            chains.setdefault(str(row["chain"]), ([], []))[0].append(row)
        for chain, (rows, hashes) in chains.items():
            tail_rows, tail_hashes = tx.chain_tail(chain, 0)
            assert tail_rows == rows
            hashes.extend(tail_hashes)
    return chains


def scanned(store: Store) -> dict[str, tuple[list[dict[str, Any]], list[str | None]]]:
    with store.read() as tx:
        return {chain: (rows, hashes) for chain, rows, hashes in tx.scan_chains()}


def _decided_run(store: Store) -> str:
    run = start(store)
    decide(store, act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)["opened"][0], "approve")
    return run.id


def test_a_log_reads_and_hashes_as_chain_events_gives_it(store: Store) -> None:
    for _ in range(3):
        _decided_run(store)
    found = scanned(store)
    assert found == reference(store) and len(found) == 4  # three runs and the system chain
    assert all(h == row["hash"] for rows, hashes in found.values() for row, h in zip(rows, hashes, strict=True))


def test_a_range_of_chains_reads_only_those_chains(store: Store) -> None:
    runs = sorted(_decided_run(store) for _ in range(3))
    with store.read() as tx:
        assert [chain for chain, _, _ in tx.scan_chains(runs[1], runs[2])] == [runs[1]]
        assert [chain for chain, _, _ in tx.scan_chains(runs[2], None)] == [runs[2], "system"]


def _verdicts(store: Store, run: str) -> list[dict[str, Any] | None]:
    """The run's chain judged by the full verify's reading, by `chain_tail`'s, and by hashing its fields anew
    (an evidence pack's way), then the whole log's verdict."""
    found, before = scanned(store), reference(store)
    assert found == before  # the readers agree on every event and every hash
    rows, hashes = found[run]
    head = (len(rows), rows[-1]["hash"])
    return [audit.chain_problem(run, rows, head, hashes=hashes), audit.chain_problem(run, rows, head),
            audit.verify(store)["first_bad"]]


@pytest.mark.parametrize("json_text", WRITTEN_BY_HAND)
def test_json_written_into_a_body_by_hand_reads_alike_and_is_altered(store: Store, json_text: str) -> None:
    run = _decided_run(store)
    _decided_run(store)
    with store.read() as tx:
        event = tx.events(run=run)[2]
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE events SET body = :b WHERE seq = :s"),
                     {"b": body_by_hand(event, "data", json_text), "s": event["seq"]})
    assert _verdicts(store, run) == [{"seq": event["seq"], "run": run, "reason": "altered"}] * 3


@pytest.mark.parametrize("body", NOT_AN_EVENT)
def test_a_body_that_is_no_events_fields_is_altered_and_reads_as_missing_fields(store: Store, body: str) -> None:
    run = _decided_run(store)
    with store.read() as tx:
        event = tx.events(run=run)[2]
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE events SET body = :b WHERE seq = :s"), {"b": body, "s": event["seq"]})
    with store.read() as tx:
        read = tx.events(run=run)[2]
    assert read["data"] is None and {k: read[k] for k in ("seq", "type", "hash")} == {
        k: event[k] for k in ("seq", "type", "hash")}
    assert _verdicts(store, run) == [{"seq": event["seq"], "run": run, "reason": "altered"}] * 3


@pytest.mark.parametrize("change", ["a field more", "a field fewer"])
def test_a_body_rehashed_with_a_field_more_or_fewer_is_altered(store: Store, change: str) -> None:
    """Well hashed on its own, yet not an event's fields: the body's hash is not enough."""
    run = _decided_run(store)
    with store.read() as tx:
        event = tx.events(run=run)[2]
    fields = {k: v for k, v in event.items() if k != "hash"}
    if change == "a field more":
        fields["note"] = "slipped in"
    else:
        del fields["v"]
    forged = {**event_row(fields), **{k: event[k] for k in ("seq", "chain", "chain_seq")}}
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE events SET body = :b, hash = :h WHERE seq = :s"),
                     {"b": forged["body"], "h": forged["hash"], "s": event["seq"]})
    assert _verdicts(store, run)[0::2] == [{"seq": event["seq"], "run": run, "reason": "altered"}] * 2
