"""`Tx.scan_chains` reads what `Tx.chain_events` reads, and each event's hash is the one `event_hash` gives,
whatever JSON a row holds (what orjson refuses included), so `audit verify` reaches the same verdicts."""

from __future__ import annotations

from typing import Any

import pytest
import rfc8785
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ledgerflow.storage.store import Store, event_hash
from ledgerflow.trust import audit
from tests.engine.helpers import GOOD_OUTPUT, act, decide, only_open, start

WRITTEN_BY_HAND = [
    '{"x": 123456789012345678901234567890}',  # beyond 64 bits: orjson reads a float, the standard library an int
    '{"x": 18446744073709551615}',  # the largest integer orjson reads as an integer, beyond 2^53
    '{"x": 9007199254740993, "y": null}',
    '{"x": 1.5, "y": null}',  # a float: RFC 8785 writes it as ECMAScript does
    '{"x": 1e400}',  # an infinity to the standard library, refused by orjson
    '{"x": NaN, "y": null}',  # not JSON (SQLite only: PostgreSQL refuses it)
    '{"x": "\\ud800"}',  # a lone surrogate (SQLite only)
    '{"x": "\\ud83d\\ude00", "\\ud83d\\ude00": 1, "\\uff61": 2}',  # outside the BMP, in text and in keys
    '{"x": [[[[[[[[[[1]]]]]]]]]], "t": "1.5e3 and 2026-03-02T08:00:00.000000Z", "f": false}',
    "5",  # not an object at all
]


def reference(store: Store) -> dict[str, tuple[list[dict[str, Any]], list[str | None]]]:
    """Every chain as `chain_events` reads it, each event hashed as `audit verify` did before `scan_chains`."""
    chains: dict[str, tuple[list[dict[str, Any]], list[str | None]]] = {}
    with store.read() as tx:
        for row in tx.chain_events():
            try:
                digest: str | None = event_hash({k: v for k, v in row.items() if k != "hash"})
            except (ValueError, TypeError, UnicodeError, rfc8785.CanonicalizationError):
                digest = None
            rows, hashes = chains.setdefault(str(row["chain"]), ([], []))
            rows.append(row)
            hashes.append(digest)
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


@pytest.mark.parametrize("json_text", WRITTEN_BY_HAND)
def test_json_written_into_a_row_by_hand_reads_and_hashes_as_before(store: Store, json_text: str) -> None:
    run = _decided_run(store)
    _decided_run(store)
    with store.read() as tx:
        event = tx.events(run=run)[2]
    cast = "CAST(:d AS json)" if store.engine.dialect.name == "postgresql" else ":d"
    try:
        with store.engine.begin() as conn:
            conn.execute(text(f"UPDATE events SET data = {cast} WHERE seq = :s"), {"d": json_text, "s": event["seq"]})
    except DBAPIError:
        assert store.engine.dialect.name == "postgresql"  # its json type takes valid JSON only
        pytest.skip("PostgreSQL refuses this text")
    found, before = scanned(store), reference(store)
    assert found == before
    rows, hashes = found[run]
    verdict = audit.chain_problem(run, rows, (len(rows), rows[-1]["hash"]), hashes=hashes)
    assert verdict == audit.chain_problem(run, *before[run][:1], (len(rows), rows[-1]["hash"]))
    assert verdict == {"seq": event["seq"], "run": run, "reason": "altered"}
    assert audit.verify(store)["first_bad"] == verdict
