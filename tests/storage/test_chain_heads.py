"""A transaction keeps the chain heads it moves (stored once, before it commits) and the runs it read."""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from pathlib import Path

import pytest

from ledgerflow.domain.errors import Conflict, LimitExceeded
from ledgerflow.domain.events import Event
from ledgerflow.domain.runs import Recommendation
from ledgerflow.domain.times import format_time
from ledgerflow.storage.hot import trace_statements
from ledgerflow.storage.store import Store
from ledgerflow.trust import audit
from tests.conftest import PRICING
from tests.engine.helpers import changes_nothing, publish_text, start


def _nudge(run: str, at: str) -> Event:
    return Event(type="nudge.sent", at=at, actor="system", run=run)


def test_appends_in_one_transaction_link_up_and_reads_of_the_head_see_them(store: Store) -> None:
    run = start(store)
    with store.read() as tx:
        length, _ = tx.chain_head(run.id)
    with store.write() as tx:
        at = format_time(tx.now())
        first = tx.append([_nudge(run.id, at)])
        second = tx.append([_nudge(run.id, at), _nudge(run.id, at)])
        assert second[0]["prev_hash"] == first[0]["hash"]  # the second append continues from the first
        assert tx.chain_head(run.id) == (length + 3, second[-1]["hash"])  # a read in the transaction sees them
    with store.read() as tx:
        assert tx.chain_head(run.id) == (length + 3, second[-1]["hash"])
    assert audit.verify(store)["ok"]


def test_a_transaction_writes_each_moved_head_once(store: Store) -> None:
    if store.engine.dialect.name != "sqlite":
        pytest.skip("counts the statements SQLite runs (its trace callback)")
    run = start(store)
    statements: list[str] = []
    with store.write() as tx:
        driver = tx.conn.connection.driver_connection
        driver.set_trace_callback(statements.append)  # type: ignore[union-attr]
        at = format_time(tx.now())
        for _ in range(3):
            tx.append([_nudge(run.id, at)])
        tx.flush()
        driver.set_trace_callback(None)  # type: ignore[union-attr]
    head_reads = [s for s in statements if s.startswith("SELECT") and "FROM chains" in s]
    head_writes = [s for s in statements if s.startswith("UPDATE chains")]
    assert (len(head_reads), len(head_writes)) == (1, 1), statements
    assert audit.verify(store)["ok"]


def test_a_head_moved_by_someone_else_meanwhile_fails_the_command_and_keeps_nothing(store: Store) -> None:
    run = start(store)
    with store.read() as tx:
        before = tx.chain_head(run.id)
    with pytest.raises(Conflict) as lost, store.write() as tx:
        tx.append([_nudge(run.id, format_time(tx.now()))])
        tx._stored_length[run.id] = before[0] - 1  # as if the head had been read before another append
    assert (lost.value.rule, lost.value.message) == ("conflict", "another command appended to the log first; "
                                                                 "try again")
    with store.read() as tx:
        assert tx.chain_head(run.id) == before
    assert audit.verify(store)["ok"]


def test_a_transaction_reads_a_run_once_and_later_reads_see_what_it_saved(store: Store) -> None:
    run = start(store)
    with store.read() as tx:
        (task,) = tx.tasks(run=run.id, status="open")
    with store.write() as tx:
        first = tx.load_run(run.id)
        assert tx.load_task_run(task.id) is first  # the run of the task, already read in this transaction
        changed = replace(first, why="changed in this transaction")
        tx.save_run(first, changed)
        assert tx.load_run(run.id) is changed
    with store.read() as tx:  # another transaction reads the rows afresh
        again = tx.load_run(run.id)
    assert again is not first and again == first


def test_a_run_read_from_its_rows_has_each_task_once_and_its_recommendations_in_the_order_made(store: Store) -> None:
    run = start(store)
    with store.write() as tx:
        before = tx.load_run(run.id)
        first = before.tasks[0]
        second = replace(first, id=f"{first.id}-2")

        def made(task: str, actor: str, second_: int) -> Recommendation:
            return Recommendation(task=task, step=first.step, attempt=1, actor=actor, outcome="approve",
                                  rationale="fine", data_hash="0" * 64, at=f"2026-01-01T00:00:0{second_}Z")

        recs = (made(first.id, "dave", 1), made(second.id, "carol", 2), made(first.id, "erin", 3))
        after = replace(before, tasks=(*before.tasks, second), recommendations=recs)
        tx.save_run(before, after)
    afresh = Store(store.url)  # keeps no runs yet: reads the rows
    try:
        with afresh.read() as tx:
            assert tx.load_run(run.id) == after
    finally:
        afresh.close()


def test_a_version_published_after_a_run_was_read_is_the_newest_the_transaction_reads(store: Store,
                                                                                      tmp_path: Path) -> None:
    run = start(store)
    with store.write() as tx:
        tx.load_run(run.id)  # the newest version of the run's playbook comes with it
        assert tx.playbook(run.playbook)[1] == 1
        publish_text(store, tmp_path, PRICING.read_text().replace("title: ", "title: Renamed ", 1))  # joins it
        assert tx.playbook(run.playbook)[1] == 2


def test_a_transaction_over_many_runs_keeps_only_the_last_few_in_memory(store: Store) -> None:
    runs = [start(store) for _ in range(20)]
    with store.read() as tx:
        for run in runs:
            tx.load_run(run.id)
        kept = list(tx._runs)
        assert len(kept) < len(runs) and kept == [run.id for run in runs][-len(kept):]
        assert tx.load_run(runs[0].id) == runs[0]  # read again when no longer kept


def test_an_event_with_no_canonical_form_is_refused_naming_its_type_and_writes_nothing(store: Store) -> None:
    run = start(store)
    with changes_nothing(store), pytest.raises(LimitExceeded) as refused, store.write() as tx:
        tx.append([replace(_nudge(run.id, format_time(tx.now())), data={"ratio": float("nan")})])
    assert refused.value.rule == "not-canonical"
    assert refused.value.details == {"event": "nudge.sent"}
    assert refused.value.message.startswith("event nudge.sent has no canonical form: ")


def test_two_writers_on_postgresql_append_side_by_side_with_their_own_seqs(store: Store) -> None:
    if store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time; PostgreSQL draws seqs from a sequence for concurrent ones")
    first_run, second_run = start(store), start(store)
    outcome: dict[str, object] = {}

    def second_writer() -> None:  # its own thread: a write opened on this one would join the first
        try:
            with store.write() as tx:
                tx.conn.exec_driver_sql("SET LOCAL lock_timeout = '5s'")  # waiting on the first writer fails
                outcome["rows"] = tx.append([_nudge(second_run.id, format_time(tx.now()))])
        except Exception as exc:  # the assertion below names it
            outcome["error"] = exc

    with store.write() as tx:
        first = tx.append([_nudge(first_run.id, format_time(tx.now()))])
        writer = threading.Thread(target=second_writer)
        writer.start()
        writer.join()  # the second commits while the first is still open: neither waits for the other's seq
    assert "error" not in outcome, outcome
    second = outcome["rows"]
    assert isinstance(second, list)
    assert first[0]["seq"] != second[0]["seq"]
    assert audit.verify(store)["ok"]


def test_a_writer_waiting_for_a_chain_head_draws_its_seqs_after_the_holder_so_seqs_rise_along_the_chain(
        store: Store) -> None:
    if store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time; PostgreSQL draws seqs in the statement that locks the heads")
    run = start(store)
    outcome: dict[str, object] = {}
    waiting = threading.Event()

    def second_writer() -> None:  # its own thread: a write opened on this one would join the first
        try:
            with store.write() as tx:
                tx.conn.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
                outcome["pid"] = tx.conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
                waiting.set()
                outcome["rows"] = tx.append([_nudge(run.id, format_time(tx.now()))])  # waits for the head
        except Exception as exc:  # the assertion below names it
            outcome["error"] = exc
            waiting.set()

    writer = threading.Thread(target=second_writer)
    with store.write() as tx:
        at = format_time(tx.now())
        tx.append([_nudge(run.id, at)])  # holds the run's head until it commits
        writer.start()
        assert waiting.wait(5)
        with store.engine.connect() as watcher:  # until the second writer waits for that head
            for _ in range(500):
                if "error" in outcome or watcher.exec_driver_sql(
                        f"SELECT cardinality(pg_blocking_pids({int(str(outcome['pid']))}))").scalar():
                    break
                threading.Event().wait(0.01)
        last = tx.append([_nudge(run.id, at)])  # seqs drawn while the second writer waits
    writer.join()
    assert "error" not in outcome, outcome
    second = outcome["rows"]
    assert isinstance(second, list)
    assert second[0]["prev_hash"] == last[0]["hash"] and second[0]["seq"] > last[0]["seq"]
    assert audit.verify(store)["ok"]


def test_an_append_on_postgresql_locks_its_heads_and_draws_its_seqs_in_one_statement(store: Store) -> None:
    if store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite numbers seqs itself, under its one writer")
    run = start(store)
    statements: list[str] = []

    def counted(sql: str, _dialect: str) -> AbstractContextManager[None]:
        statements.append(sql)
        return nullcontext()

    with store.write() as tx:
        at = format_time(tx.now())
        trace_statements(store.engine, counted)
        try:
            tx.append([_nudge(run.id, at), Event(type="nudge.sent", at=at, actor="system")])  # and the system chain
        finally:
            trace_statements(store.engine, None)
    assert [sql.split()[0] for sql in statements] == ["SELECT", "INSERT"], statements
    assert audit.verify(store)["ok"]
