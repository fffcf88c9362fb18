"""Hot statements behave as SQLAlchemy's own execution does: same values in and out, same errors."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from ledgerflow.domain.errors import Conflict
from ledgerflow.storage import schema
from ledgerflow.storage.hot import Hot
from ledgerflow.storage.store import Store
from tests.engine.helpers import start

_r = schema.runs
_ROW = {"id": "r-hot", "playbook": "pricing-exception", "version": 1, "status": "completed",
        "started_by": "bob", "started_at": "2026-03-02T08:00:00.000000Z", "ended_at": None,
        "input": {"customer": "Acme", "tags": ["a", "ü"], "nested": {"n": 3, "none": None}}, "why": None,
        "exception": True, "reworked": False, "failed_check": None}
_INSERT = Hot(insert(_r), by_columns=True)
_BY_ID = Hot(select(_r).where(_r.c.id == bindparam("id")))


def test_values_go_in_and_come_out_as_through_sqlalchemy(store: Store) -> None:
    with store.write() as tx:
        assert _INSERT.run(tx.conn, _ROW) == 1
        hot = _BY_ID.first(tx.conn, {"id": "r-hot"})
        plain = tx.conn.execute(select(_r).where(_r.c.id == "r-hot")).one()
        assert tuple(hot) == tuple(plain)  # JSON decoded, booleans as booleans, NULLs as None
        assert hot.input == _ROW["input"] and hot.exception is True and hot.failed_check is None
        assert _BY_ID.first(tx.conn, {"id": "r-none"}) is None


def test_a_constraint_violation_is_sqlalchemys_error_and_the_command_keeps_nothing(store: Store) -> None:
    run = start(store)
    with store.read() as tx:
        before = tx.event_count()
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        _INSERT.run(conn, {**_ROW, "id": run.id})  # the run's id is taken: the driver's error, wrapped
    with pytest.raises(Conflict), store.write() as tx:  # what a command sees: a conflict, nothing written
        _INSERT.run(tx.conn, _ROW)
        _INSERT.run(tx.conn, _ROW)
    with store.read() as tx:
        assert tx.event_count() == before
        assert _BY_ID.first(tx.conn, {"id": "r-hot"}) is None


def test_a_statement_that_would_expand_an_in_list_is_refused(store: Store) -> None:
    query = Hot(select(_r.c.id).where(_r.c.id.in_(bindparam("ids", expanding=True))))
    with store.read() as tx, pytest.raises(ValueError, match="expand"):
        query.rows(tx.conn, {"ids": ["a"]})
