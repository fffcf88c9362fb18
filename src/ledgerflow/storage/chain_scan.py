"""Whole chains read for `audit verify`: the driver's rows straight into dicts, each event's hash recomputed.

A full verify reads every event once, so the per-row cost of SQLAlchemy's result objects and type processors
shows in its rate. Here the rows come off the driver's cursor, the two JSON columns are parsed by `_loads` (as
SQLAlchemy parses them: orjson, and the standard library where orjson would read otherwise), and each event is
hashed as it is read (`floatless_json`: the canonical bytes of `event_hash`, by a shorter proof when the event
holds no float). The values are the ones `Tx.chain_events` gives: a value that is not text (a bare number put
into a SQLite row by hand) goes through the column type's own processing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import rfc8785
from sqlalchemy import Connection, Text, bindparam, cast, select

from ledgerflow.domain.canonical import floatless_json
from ledgerflow.storage import schema
from ledgerflow.storage.database import _loads
from ledgerflow.storage.hot import Hot

_e = schema.events
_KEYS = tuple(str(column.name) for column in _e.columns)
_BATCH = 2000

Chain = tuple[str, list[dict[str, Any]], list[str | None]]
"""One chain: its id, its events in chain order (plain dicts, as `Tx.chain_events` gives them) and the hash
each event's stored fields give now (None when they have no canonical form any more)."""


def _query(dialect: str, low: bool, high: bool) -> Hot:
    # PostgreSQL keeps `json` as the text it was given: read it as text, so that `_loads` parses it here (the
    # driver's own parsing would hide which parser read it); SQLite's JSON columns are text already
    columns = [cast(c, Text) if dialect == "postgresql" and c.name in ("authority", "data") else c for c in _e.columns]
    query = select(*columns)
    if low:
        query = query.where(_e.c.chain >= bindparam("low"))
    if high:
        query = query.where(_e.c.chain < bindparam("high"))
    return Hot(query.order_by(_e.c.chain, _e.c.chain_seq))


_QUERIES = {(dialect, low, high): _query(dialect, low, high)
            for dialect in ("sqlite", "postgresql") for low in (False, True) for high in (False, True)}


def _fallback(conn: Connection) -> Callable[[Any], Any]:
    """How SQLAlchemy reads a JSON column's value on this connection, for values that are not text."""
    if conn.dialect.name == "postgresql":
        return _loads  # (the text cast above: the driver would have parsed it with `_loads`)
    processor = _e.c.data.type.dialect_impl(conn.dialect).result_processor(conn.dialect, None)
    if processor is None:
        raise RuntimeError(f"no JSON result processor on {conn.dialect.name}")
    return processor


def scan_chains(conn: Connection, low: str | None, high: str | None) -> Iterator[Chain]:
    """Every chain with an id in [low, high), in id order, each with its events' recomputed hashes."""
    slow = _fallback(conn)
    loads, sha256 = _loads, hashlib.sha256  # as the driver or SQLAlchemy would (orjson, and the exceptions)
    hot = _QUERIES[(conn.dialect.name, low is not None, high is not None)]
    params = {name: value for name, value in (("low", low), ("high", high)) if value is not None}
    chain: str | None = None
    rows: list[dict[str, Any]] = []
    hashes: list[str | None] = []
    for values in hot.stream(conn, params, size=_BATCH):
        row = dict(zip(_KEYS, values, strict=True))
        for key in ("authority", "data"):
            value = row[key]
            row[key] = loads(value) if type(value) is str else None if value is None else slow(value)
        stored = row.pop("hash")
        try:
            rehashed: str | None = sha256(floatless_json(row)).hexdigest()
        except (ValueError, TypeError, UnicodeError, rfc8785.CanonicalizationError):
            rehashed = None  # not JSON any more (a NaN or a lone surrogate put into a row by hand): altered
        row["hash"] = stored
        if str(row["chain"]) != chain:
            if chain is not None:
                yield chain, rows, hashes
            chain, rows, hashes = str(row["chain"]), [], []
        rows.append(row)
        hashes.append(rehashed)
    if chain is not None:
        yield chain, rows, hashes
