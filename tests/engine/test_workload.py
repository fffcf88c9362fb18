"""Least-loaded routing reads running open-task counts, kept with the task rows in every transaction."""

from __future__ import annotations

from collections import Counter
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from sqlalchemy import insert

from ledgerflow.engine import service
from ledgerflow.storage import schema
from ledgerflow.storage.counts import LISTED_FROM
from ledgerflow.storage.hot import trace_statements
from ledgerflow.storage.store import Store
from tests.conftest import DIRECTORY
from tests.engine.helpers import GOOD_OUTPUT, act, only_open, start


def _counted(store: Store) -> tuple[dict[str, int], dict[str, int]]:
    with store.read() as tx:
        return tx.workload(), dict(Counter(t.assignee for t in tx.tasks(status="open") if t.assignee))


def test_open_task_counts_follow_tasks_as_they_open_close_and_move(store: Store) -> None:
    runs = [start(store, customer=f"c{i}") for i in range(3)]
    stored, counted = _counted(store)
    assert stored == counted and sum(stored.values()) == 3
    act(store, "complete", only_open(store, runs[0].id), output=GOOD_OUTPUT)  # prepare closes, a decision opens
    decision = only_open(store, runs[0].id)
    service.task_command(store, "reassign", decision.id, service.Caller(actor="sam"),
                         to="erin" if decision.assignee == "dave" else "dave", reason="balance")
    stored, counted = _counted(store)
    assert stored == counted and sum(stored.values()) == 3


def test_runs_started_in_one_transaction_are_spread_by_the_counts_it_has_not_stored_yet(store: Store) -> None:
    assert start(store, customer="a").tasks[0].assignee == "alice"  # directory order breaks the first tie
    with store.write():
        second = start(store, customer="b")  # bob holds none: his
        third = start(store, customer="c")  # one each, and bob's is not stored yet: alice's (assigned longest ago)
    assert (second.tasks[0].assignee, third.tasks[0].assignee) == ("bob", "alice")
    stored, counted = _counted(store)
    assert stored == counted == {"alice": 2, "bob": 1}


def test_migration_counts_the_open_tasks_recorded_before_it(store: Store) -> None:
    from alembic import command
    from sqlalchemy import delete

    from ledgerflow.storage import schema
    from ledgerflow.storage.database import _alembic_config, migrate

    for index in range(3):
        start(store, customer=f"c{index}")
    before = _counted(store)[0]
    with store.engine.connect().execution_options(ledgerflow_write=True) as conn, conn.begin():
        conn.execute(delete(schema.workload))
        command.downgrade(_alembic_config(conn), "0011")
    migrate(store.engine, store.url)
    assert _counted(store)[0] == before


def test_a_role_of_hundreds_goes_to_its_least_loaded_member_in_one_routing_read(store: Store,
                                                                                tmp_path: Path) -> None:
    """Routing asks for every candidate's count and last assignment in one statement whatever the team's size (a
    UNION of one SELECT per candidate cost 16 ms for 200 on SQLite, 290 ms on PostgreSQL)."""
    members = [f"ae{n:03d}" for n in range(250)]
    extra = "".join(f"  - {{id: {m}, name: {m}, email: {m}@example.com, roles: [account-exec]}}\n" for m in members)
    bigger = tmp_path / "directory.yaml"
    bigger.write_text(DIRECTORY.read_text(encoding="utf-8").replace("agents:\n", extra + "agents:\n"),
                      encoding="utf-8")
    service.load_directory_file(store, str(bigger), service.Caller())
    with store.write() as tx:  # everyone busy but one member near the end of the role (past the first query)
        tx.conn.execute(insert(schema.workload), [{"actor": a, "open": 0 if a == "ae240" else 3}
                                                  for a in ["alice", "bob", *members]])
    statements: list[str] = []

    def counted(sql: str, _dialect: str) -> AbstractContextManager[None]:
        statements.append(sql)
        return nullcontext()

    trace_statements(store.engine, counted)
    try:
        assert start(store, customer="c").tasks[0].assignee == "ae240"
    finally:
        trace_statements(store.engine, None)
    assert len([sql for sql in statements if sql.lstrip().startswith("SELECT") and "workload.open" in sql]) == 1


def test_routing_reads_the_same_answers_for_candidates_bound_one_by_one_or_as_a_list(store: Store) -> None:
    runs = [start(store, customer=f"c{n}") for n in range(3)]  # prepare tasks for alice and bob, at the same time
    fillers = [f"nobody{n}" for n in range(LISTED_FROM)]
    with store.read() as tx:
        few = tx.assigned("pricing-exception", "prepare", ["alice", "bob", *fillers[:LISTED_FROM - 3]])  # a UNION
        many = tx.assigned("pricing-exception", "prepare", ["alice", "bob", *fillers])  # one list
    assert {run.tasks[0].assignee for run in runs} == {"alice", "bob"}
    assert few[0]["alice"] + few[0]["bob"] == 3 and many[0] == {**few[0], **dict.fromkeys(fillers, 0)}
    assert set(few[1]) == {"alice", "bob"} and few[1] == many[1]
    with store.read() as tx:
        assert tx.assigned("pricing-exception", "prepare", []) == ({}, {})  # no one to ask about: no statement
