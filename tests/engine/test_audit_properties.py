"""Hypothesis tampers with a real log in random ways; `audit verify` must notice every one."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledgerflow import audit, service
from ledgerflow.storage.store import Store
from tests.conftest import ADMIN, DIRECTORY, PRICING, make_store
from tests.engine.helpers import GOOD_OUTPUT, act, decide, only_open, start

_FIELDS = ["at", "type", "actor", "channel", "run", "task", "step", "authority", "data", "prev_hash", "hash", "seq",
           "chain", "chain_seq", "v"]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A SQLite log with several interleaved runs (some finished, some open), checkpointed into one file."""
    directory = tmp_path_factory.mktemp("audit-template")
    store = make_store(directory)
    service.load_directory_file(store, str(DIRECTORY), ADMIN)
    service.publish(store, str(PRICING), ADMIN)
    runs = [start(store) for _ in range(3)]
    decisions = [act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)["opened"][0] for run in runs]
    decide(store, decisions[0], "approve")
    decide(store, decisions[1], "reject")
    service.advance_clock(store, "1d", ADMIN)
    store.close()
    path = Path(store.url.removeprefix("sqlite:///"))
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    intact = Store(store.url)
    assert audit.verify(intact)["ok"]
    intact.close()
    yield path


def _tamper(db: sqlite3.Connection, kind: str, pick: int, other: int, field: str) -> None:
    rows = db.execute("SELECT seq FROM events ORDER BY seq").fetchall()
    seq = rows[pick % len(rows)][0]
    second = rows[other % len(rows)][0]
    if kind == "alter":
        current = db.execute(f"SELECT {field} FROM events WHERE seq = ?", (seq,)).fetchone()[0]
        changed: Any = current + 1000 if isinstance(current, int) else (
            "x" if current is None else '{"tampered": true}' if field in ("authority", "data") else
            current[:-1] + ("0" if current[-1:] != "0" else "1"))
        db.execute(f"UPDATE events SET {field} = ? WHERE seq = ?", (changed, seq))
    elif kind == "delete":
        db.execute("DELETE FROM events WHERE seq = ?", (seq,))
    elif kind == "swap":
        if seq == second:
            second = rows[(other + 1) % len(rows)][0]
        body = ", ".join(f"{f} = (SELECT {f} FROM events WHERE seq = :b)" for f in _FIELDS[:11])
        db.execute("CREATE TEMP TABLE keep AS SELECT * FROM events WHERE seq = :a", {"a": seq})
        db.execute(f"UPDATE events SET {body} WHERE seq = :a", {"a": seq, "b": second})
        body = ", ".join(f"{f} = (SELECT {f} FROM keep)" for f in _FIELDS[:11])
        db.execute(f"UPDATE events SET {body} WHERE seq = :b", {"b": second})
    elif kind == "duplicate":
        top = db.execute("SELECT max(seq) FROM events").fetchone()[0]
        columns = ", ".join(_FIELDS)
        copied = columns.replace("seq, chain, chain_seq", "?, chain, chain_seq + 1")  # a copy one position on
        db.execute(f"INSERT INTO events ({columns}) SELECT {copied} FROM events WHERE seq = ?", (top + 1, seq))
    elif kind == "head":
        db.execute("UPDATE chains SET length = length + 1 WHERE id = (SELECT chain FROM events WHERE seq = ?)",
                   (seq,))
    elif kind == "drop_head":
        db.execute("DELETE FROM chains WHERE id = (SELECT chain FROM events WHERE seq = ?)", (seq,))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["alter", "delete", "swap", "duplicate", "head", "drop_head"]),
       pick=st.integers(min_value=0, max_value=10_000), other=st.integers(min_value=0, max_value=10_000),
       field=st.sampled_from([*_FIELDS[:9], "prev_hash", "hash", "seq", "chain_seq"]))
def test_any_single_tampering_with_the_log_is_found(template: Path, tmp_path: Path, kind: str, pick: int,
                                                    other: int, field: str) -> None:
    folder = Path(tempfile.mkdtemp(dir=tmp_path))  # hypothesis reuses tmp_path across examples
    copy = folder / "tampered.db"
    shutil.copyfile(template, copy)
    try:
        with sqlite3.connect(copy) as db:
            _tamper(db, kind, pick, other, field)
    except sqlite3.IntegrityError:
        return  # the tampering broke a constraint: the database itself refused it
    finally:
        db.close()
    store = Store(f"sqlite:///{copy}")
    try:
        result = audit.verify(store)
    finally:
        store.close()
        shutil.rmtree(folder)
    assert result["ok"] is False and result["first_bad"] is not None
