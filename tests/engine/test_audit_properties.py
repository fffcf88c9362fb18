"""Hypothesis tampers with a real log in random ways; `audit verify` must notice every one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from ledgerflow.domain.canonical import canonical_json
from ledgerflow.engine import service
from ledgerflow.storage.store import Store
from ledgerflow.trust import audit
from tests.conftest import ADMIN, BACKENDS, DIRECTORY, PRICING, drop_schema, make_store
from tests.engine.helpers import GOOD_OUTPUT, act, decide, only_open, start

_FIELDS = ["at", "type", "actor", "channel", "run", "task", "step", "hash", "body", "seq", "chain", "chain_seq"]
_MOVED = _FIELDS[:9]  # what a swap exchanges: all but the event's place


@pytest.fixture(scope="module", params=BACKENDS)
def template(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """A log with several interleaved runs (some finished, some open), its events and heads kept aside so each
    example tampers with the same log (SQLite and PostgreSQL)."""
    store = make_store(tmp_path_factory.mktemp("audit-template"), backend=request.param)
    service.load_directory_file(store, str(DIRECTORY), ADMIN)
    service.publish(store, str(PRICING), ADMIN)
    runs = [start(store) for _ in range(3)]
    decisions = [act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)["opened"][0] for run in runs]
    decide(store, decisions[0], "approve")
    decide(store, decisions[1], "reject")
    service.advance_clock(store, "1d", ADMIN)
    assert audit.verify(store)["ok"]
    with store.engine.begin() as conn:
        for table in _TAMPERED:
            conn.execute(text(f"CREATE TABLE {table}_kept AS SELECT * FROM {table}"))
    yield store
    assert audit.verify(store)["ok"]  # every example put the log back as it was
    store.close()
    drop_schema(store.url)


_TAMPERED = ("events", "chains")


def _restore(store: Store) -> None:
    with store.engine.begin() as conn:
        for table in _TAMPERED:
            conn.execute(text(f"DELETE FROM {table}"))
            conn.execute(text(f"INSERT INTO {table} SELECT * FROM {table}_kept"))


def _tampered_body(body: str) -> str:
    """The body with its data changed, still canonical JSON with an event's fields (only its hash tells)."""
    fields = json.loads(body)
    fields["data"] = {**fields["data"], "tampered": True}
    return canonical_json(fields).decode()


def _tamper(db: Connection, kind: str, pick: int, other: int, field: str) -> None:
    rows = db.execute(text("SELECT seq FROM events ORDER BY seq")).all()
    seq = rows[pick % len(rows)][0]
    second = rows[other % len(rows)][0]
    if kind == "alter":
        current = db.execute(text(f"SELECT {field} FROM events WHERE seq = :a"), {"a": seq}).scalar()
        changed: Any = current + 1000 if isinstance(current, int) else (
            "x" if current is None else _tampered_body(current) if field == "body" else
            current[:-1] + ("0" if current[-1:] != "0" else "1"))
        db.execute(text(f"UPDATE events SET {field} = :v WHERE seq = :a"), {"v": changed, "a": seq})
    elif kind == "delete":
        db.execute(text("DELETE FROM events WHERE seq = :a"), {"a": seq})
    elif kind == "swap":
        if seq == second:
            second = rows[(other + 1) % len(rows)][0]
        body = ", ".join(f"{f} = (SELECT {f} FROM events WHERE seq = :b)" for f in _MOVED)
        db.execute(text("CREATE TEMP TABLE keep AS SELECT * FROM events WHERE seq = :a"), {"a": seq})
        db.execute(text(f"UPDATE events SET {body} WHERE seq = :a"), {"a": seq, "b": second})
        body = ", ".join(f"{f} = (SELECT {f} FROM keep)" for f in _MOVED)
        db.execute(text(f"UPDATE events SET {body} WHERE seq = :b"), {"b": second})
        db.execute(text("DROP TABLE keep"))
    elif kind == "duplicate":
        top = db.execute(text("SELECT max(seq) FROM events")).scalar_one()
        columns = ", ".join(_FIELDS)
        copied = columns.replace("seq, chain, chain_seq", ":top, chain, chain_seq + 1")  # a copy one position on
        db.execute(text(f"INSERT INTO events ({columns}) SELECT {copied} FROM events WHERE seq = :a"),
                   {"top": top + 1, "a": seq})
    elif kind == "head":
        db.execute(text("UPDATE chains SET length = length + 1 WHERE id = (SELECT chain FROM events WHERE seq = :a)"),
                   {"a": seq})
    elif kind == "drop_head":
        db.execute(text("DELETE FROM chains WHERE id = (SELECT chain FROM events WHERE seq = :a)"), {"a": seq})


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(["alter", "delete", "swap", "duplicate", "head", "drop_head"]),
       pick=st.integers(min_value=0, max_value=10_000), other=st.integers(min_value=0, max_value=10_000),
       field=st.sampled_from([*_MOVED, "seq", "chain_seq"]))
def test_any_single_tampering_with_the_log_is_found(template: Store, kind: str, pick: int, other: int,
                                                    field: str) -> None:
    try:
        with template.engine.begin() as db:
            _tamper(db, kind, pick, other, field)
    except IntegrityError:
        return  # the tampering broke a constraint: the database itself refused it
    try:
        result = audit.verify(template)
    finally:
        _restore(template)
    assert result["ok"] is False and result["first_bad"] is not None
