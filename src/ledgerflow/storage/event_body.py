"""An event as the `events` table keeps it: its canonical JSON `body` (the bytes its hash is the SHA-256 of) and
the columns that repeat the body's fields queries select and join on.

Writing an event is one canonical encoding, which both the hash and the row take; a full `audit verify` hashes
the body as read instead of rebuilding it, and holds the columns equal to the body's fields (`judged`).
Every reader gets an event as one dict: the columns as stored, the fields only the body holds parsed from it.
"""

from __future__ import annotations

import hashlib
import json
from collections import namedtuple
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import JSON, Text, cast, func, type_coerce
from sqlalchemy.sql.elements import ColumnElement, Label
from sqlalchemy.types import TypeDecorator

from ledgerflow.domain.canonical import canonical_json
from ledgerflow.storage import schema
from ledgerflow.storage.database import digit_run

_e = schema.events

FIELDS = ("seq", "chain", "chain_seq", "at", "type", "actor", "channel", "run", "task", "step", "authority", "data",
          "v", "prev_hash")
"""An event's hashed fields, in the order readers have always had them (`hash` follows)."""

COLUMNS = tuple(str(c.name) for c in _e.columns if c.name not in ("hash", "body"))
"""The fields the table repeats beside the body."""

ONLY_IN_BODY = tuple(key for key in FIELDS if key not in COLUMNS)

KEYS = tuple(str(c.name) for c in _e.columns)
_FIELD_SET = frozenset(FIELDS)
_SAFE_INT = 2**53
_HASH, _BODY = KEYS.index("hash"), KEYS.index("body")
_column_values = itemgetter(*(KEYS.index(key) for key in COLUMNS))
_field_values = itemgetter(*COLUMNS)


def body_fields(raw: bytes) -> dict[str, Any]:
    """The fields of a stored body; {} when it is not a JSON object (a body altered by hand, which verify
    reports: readers then see its fields as missing rather than fail). Numbers read as RFC 8785 wrote them: see
    `_number`; a body with a 16-digit number takes the standard library's parser, which can say so."""
    try:
        fields = _exact(raw) if digit_run(raw, 16) else orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            fields = _exact(raw)  # NaN and the like, written by hand
        except (ValueError, RecursionError):
            return {}
    return fields if type(fields) is dict else {}


def _exact(raw: bytes) -> Any:
    return json.loads(raw, parse_int=_number)


def _number(text: str) -> int | float:
    """A JSON integer literal as RFC 8785 meant it, a double. Within ±2^53 the integer is that double exactly;
    beyond, only a float is written so (the canonical encoder refuses such integers: 3.705303927878146e16 is
    written 37053039278781460), and read as an integer it would be another value than the one hashed."""
    value = int(text)
    return value if -_SAFE_INT < value < _SAFE_INT else float(text)


def event_row(event: Mapping[str, Any]) -> dict[str, Any]:
    """The `events` row of an event: its columns, its body (the canonical JSON of every field but `hash`) and its
    hash, the body's SHA-256 unless the event names one (a row forged by hand, in tests). Raises ValueError for
    fields with no canonical form."""
    body = canonical_json({key: value for key, value in event.items() if key != "hash"})
    row = {key: event[key] for key in COLUMNS}
    row["hash"] = event["hash"] if "hash" in event else hashlib.sha256(body).hexdigest()
    row["body"] = body.decode()
    return row


def judged(values: Sequence[Any]) -> tuple[dict[str, Any], str | None]:
    """An events row (every column, in table order) as an event, and the SHA-256 of its body; None when the body
    is not an event's fields or a column disagrees with it. The columns stand in the event as stored (an altered
    one is what verify reports), the rest comes from the body, a field it lacks as None. A full verify judges
    every event, so the columns are picked and compared as tuples (in C)."""
    raw = values[_BODY].encode()  # text: the drivers give a TEXT column as str
    event = body_fields(raw)
    columns = _column_values(values)
    rehashed: str | None = None
    if event.keys() == _FIELD_SET and _field_values(event) == columns:
        rehashed = hashlib.sha256(raw).hexdigest()
    else:
        event = {key: event.get(key) for key in FIELDS}
    event.update(zip(COLUMNS, columns, strict=True))
    event["hash"] = values[_HASH]
    return event, rehashed


def event_of(row: Sequence[Any]) -> dict[str, Any]:
    """An event as a dict from a row of every column (as `judged` reads it)."""
    return judged(row)[0]


class _BodyFields(TypeDecorator[Any]):
    """The body read as some of its fields from one parse (as a JSON column's value would be): one field as its
    value, several as a tuple in the order asked; None for a field the body lacks."""

    impl = Text
    cache_ok = True

    def __init__(self, keys: tuple[str, ...]) -> None:
        super().__init__()
        self.keys = keys

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        found = body_fields(value.encode())  # (the body is NOT NULL, and TEXT reads as str)
        return found.get(self.keys[0]) if len(self.keys) == 1 else tuple(map(found.get, self.keys))


def field(key: str) -> Label[Any]:
    """A column expression that selects one of the body's fields, labelled by its name (`row.data`)."""
    return type_coerce(_e.c.body, _BodyFields((key,))).label(key)


def fields(*keys: str) -> Label[Any]:
    """A column expression that selects several of the body's fields as one tuple, in the order given, parsing
    the body once (`field` for each would parse it once each); labelled `fields`. `spread` puts them in
    their own places."""
    return type_coerce(_e.c.body, _BodyFields(keys)).label("fields")


def spread(rows: Iterable[Any], keys: Sequence[str]) -> list[Any]:
    """Rows that selected `fields(*keys)` last, as named tuples with each of those fields under its own name in
    its place (`row.authority`, `row.data`), as rows that selected `field` for each would have them."""
    made: list[Any] = []
    make: Any = None
    for row in rows:
        if make is None:
            make = _spread_row(tuple(row._fields[:-1]), tuple(keys))._make
        made.append(make((*row[:-1], *row[-1])))
    return made


@cache
def _spread_row(columns: tuple[str, ...], keys: tuple[str, ...]) -> Any:
    return namedtuple("Row", (*columns, *keys))


def text_at(dialect: str, *path: str) -> ColumnElement[Any]:
    """The text at a path inside the body, in SQL (for a WHERE clause; PostgreSQL keeps the body as text)."""
    if dialect == "postgresql":
        found: ColumnElement[Any] = cast(_e.c.body, JSON)[path].as_string()
        return found
    return func.json_extract(_e.c.body, "$" + "".join(f'."{key}"' for key in path), type_=Text)

