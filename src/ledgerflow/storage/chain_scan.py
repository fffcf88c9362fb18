"""Whole chains read for `audit verify`: the driver's rows straight into events, each event's stored body hashed.

A full verify reads every event once, so the per-row cost of SQLAlchemy's result objects and type processors
shows in its rate. Here the rows come off the driver's cursor and each is judged as every reader reads an event
(`event_body.judged`): its body (the event's canonical JSON, the bytes its hash covers) hashed as read and parsed
once, its columns, which reports select and join on, held equal to the body's fields. An event whose body is not
a JSON object with exactly an event's fields, or whose columns say otherwise, gets no hash (None): it is
altered, as when its fields are hashed anew (`chain.event_hash`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, bindparam, select

from ledgerflow.storage import schema
from ledgerflow.storage.event_body import judged
from ledgerflow.storage.hot import Hot

_e = schema.events
_BATCH = 2000

Chain = tuple[str, list[dict[str, Any]], list[str | None]]
"""One chain: its id, its events in chain order (dicts equal to those `Tx.chain_events` gives) and the hash
of each event's stored body (None when the body and its columns disagree, or it is not an event)."""


def _query(low: bool, high: bool) -> Hot:
    query = select(_e)
    if low:
        query = query.where(_e.c.chain >= bindparam("low"))
    if high:
        query = query.where(_e.c.chain < bindparam("high"))
    return Hot(query.order_by(_e.c.chain, _e.c.chain_seq))


_QUERIES = {(low, high): _query(low, high) for low in (False, True) for high in (False, True)}


def scan_chains(conn: Connection, low: str | None, high: str | None) -> Iterator[Chain]:
    """Every chain with an id in [low, high), in id order, each with its events' hashes."""
    hot = _QUERIES[(low is not None, high is not None)]
    params = {name: value for name, value in (("low", low), ("high", high)) if value is not None}
    chain: str | None = None
    rows: list[dict[str, Any]] = []
    hashes: list[str | None] = []
    for values in hot.stream(conn, params, size=_BATCH):
        event, rehashed = judged(values)
        if event["chain"] != chain:
            if chain is not None:
                yield chain, rows, hashes
            chain, rows, hashes = event["chain"], [], []
        rows.append(event)
        hashes.append(rehashed)
    if chain is not None:
        yield chain, rows, hashes
