"""An event's stored body reads back as the values that were hashed: the body's canonical bytes, read and encoded
again, are the same bytes, whatever JSON the event carried (floats written as integer literals included)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from ledgerflow.domain.canonical import canonical_json
from ledgerflow.storage import event_body, schema
from ledgerflow.storage.event_body import KEYS, body_fields, event_of, event_row, field, fields, judged, spread, text_at
from ledgerflow.storage.store import Store
from tests.engine.helpers import start
from tests.strategies import json_documents


def _same(written: Any, read: Any) -> bool:
    """Equal, an integer where one was written, and a float or an integer where a float was (5.0 is written `5`:
    the same double)."""
    if isinstance(written, float):
        return type(read) in (int, float) and written == read
    if isinstance(written, dict):
        return isinstance(read, dict) and written.keys() == read.keys() and all(
            _same(written[k], read[k]) for k in written)
    if isinstance(written, list):
        return isinstance(read, list) and len(written) == len(read) and all(
            _same(x, y) for x, y in zip(written, read, strict=True))
    return type(written) is type(read) and written == read


@given(data=json_documents(max_int=2**53 - 1) | st.floats(allow_nan=False, allow_infinity=False).map(lambda f: [f]))
@settings(max_examples=400)
def test_a_body_reads_back_as_the_values_hashed(data: Any) -> None:
    event = {"data": data, "v": 2}
    body = canonical_json(event)
    read = body_fields(body)
    assert _same(event, read)
    assert canonical_json(read) == body


@pytest.mark.parametrize("number", [3.705303927878146e16, 2.0**60, -(2.0**63), 1e20, 9007199254740994.0, 2.0**53,
                                    -(2.0**53)])
def test_a_float_written_as_an_integer_literal_reads_back_as_that_float(number: float) -> None:
    read = body_fields(canonical_json({"x": number}))["x"]
    assert type(read) is float and read == number


@pytest.mark.parametrize("body", [b"5", b"[]", b"", b"{", b"\xff\xfe", b"[" * 5000 + b"]" * 5000])
def test_a_body_that_is_not_an_object_reads_as_no_fields(body: bytes) -> None:
    assert body_fields(body) == {}


def test_a_nan_written_into_a_body_by_hand_reads_as_the_standard_library_reads_it() -> None:
    assert math.isnan(body_fields(b'{"x": NaN}')["x"])


def test_integers_stay_integers_beside_a_float_written_as_an_integer_literal() -> None:
    read = body_fields(canonical_json({"attempt": 1, "limit": 2**53 - 1, "big": 3.705303927878146e16}))
    assert [type(read[k]) for k in ("attempt", "limit", "big")] == [int, int, float]


def _rows(store: Store) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        return [dict(zip(KEYS, row, strict=True)) for row in conn.execute(
            select(schema.events).order_by(schema.events.c.seq))]


def test_every_stored_row_is_the_row_of_the_event_read_from_it(store: Store) -> None:
    start(store)
    rows = _rows(store)
    assert rows and all(event_row(event_of(tuple(row.values()))) == row for row in rows)
    assert all(judged(tuple(row.values()))[1] == row["hash"] for row in rows)


def test_a_row_forged_with_its_own_hash_keeps_it_and_the_body_holds_no_hash(store: Store) -> None:
    start(store)
    event = event_of(tuple(_rows(store)[-1].values()))
    forged = event_row({**event, "hash": "e" * 64})
    assert forged["hash"] == "e" * 64 and "hash" not in body_fields(forged["body"].encode())
    assert event_row({k: v for k, v in event.items() if k != "hash"})["hash"] == event["hash"]


def test_a_column_that_disagrees_with_the_body_gets_no_hash_and_the_body_still_gives_the_rest(store: Store) -> None:
    start(store)
    row = _rows(store)[-1]
    event, digest = judged(tuple({**row, "actor": "mallory"}.values()))
    assert digest is None and event["actor"] == "mallory"
    assert event["data"] == body_fields(row["body"].encode())["data"] and event["prev_hash"] is not None
    bad, digest = judged(tuple({**row, "body": "5"}.values()))
    assert digest is None and bad["data"] is None and bad["seq"] == row["seq"]


def test_a_field_of_the_body_is_selected_and_searched_in_sql(store: Store) -> None:
    run = start(store)
    with store.engine.connect() as conn:
        data = conn.execute(select(field("data")).where(schema.events.c.seq == _rows(store)[-2]["seq"])).one().data
        found = conn.execute(select(schema.events.c.seq).where(
            schema.events.c.type == "run.started", text_at(conn.dialect.name, "data", "run") == run.id)).all()
    assert data == event_of(tuple(_rows(store)[-2].values()))["data"] and len(found) == 1


def test_several_fields_of_a_body_read_from_one_parse_as_each_field_reads_them(store: Store,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    start(store)
    e, parsed = schema.events, []
    real = event_body.body_fields

    def counted(raw: bytes) -> dict[str, Any]:
        parsed.append(raw)
        return real(raw)

    monkeypatch.setattr(event_body, "body_fields", counted)
    with store.engine.connect() as conn:
        each = conn.execute(select(e.c.seq, field("authority"), field("data")).order_by(e.c.seq)).all()
        parsed.clear()
        together = spread(conn.execute(select(e.c.seq, fields("authority", "data")).order_by(e.c.seq)),
                          ("authority", "data"))
    assert len(parsed) == len(together) == len(each) > 1  # one parse a row, not one a field
    assert [tuple(row) for row in together] == [tuple(row) for row in each]
    assert together[0]._fields == ("seq", "authority", "data") and together[0].data == each[0].data


def test_a_body_altered_by_hand_reads_its_fields_as_missing_through_fields(store: Store) -> None:
    start(store)
    e, seqs = schema.events, [row["seq"] for row in _rows(store)]
    with store.engine.begin() as conn:
        conn.execute(update(e).where(e.c.seq == seqs[0]).values(body="5"))  # JSON, but not an object
        conn.execute(update(e).where(e.c.seq == seqs[1]).values(body='{"data": '))  # not JSON
    with store.engine.connect() as conn:
        rows = spread(conn.execute(select(e.c.seq, fields("authority", "data")).order_by(e.c.seq)),
                      ("authority", "data"))
    assert [(row.authority, row.data) for row in rows[:2]] == [(None, None), (None, None)]
    assert rows[2].authority is not None and rows[2].data is not None
