"""The Alembic migrations build exactly the schema that `storage/schema.py` declares."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from ledgerflow.storage.schema import metadata
from ledgerflow.storage.store import Store
from tests.conftest import make_store


def test_migrations_match_the_declared_tables(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    store.close()
    assert diff == []


def test_migrate_brings_an_older_database_up_and_keeps_its_history(tmp_path: Path) -> None:
    from alembic import command

    from ledgerflow.engine import service
    from ledgerflow.storage.database import _alembic_config, migrate
    from ledgerflow.storage.store import Store
    from ledgerflow.trust import audit
    from tests.conftest import ADMIN, DIRECTORY

    store = make_store(tmp_path)
    service.load_directory_file(store, str(DIRECTORY), ADMIN)
    with store.engine.connect().execution_options(ledgerflow_write=True) as conn, conn.begin():
        command.downgrade(_alembic_config(conn), "0002")
    store.close()
    result = migrate(store.engine, store.url)
    assert result["from"] == "0002" and result["to"] == result["to"].strip()
    again = Store(store.url)
    assert audit.verify(again)["ok"]
    again.close()


def _downgrade(store: Store, revision: str) -> None:
    from alembic import command

    from ledgerflow.storage.database import _alembic_config

    with store.engine.connect().execution_options(ledgerflow_write=True) as conn, conn.begin():
        command.downgrade(_alembic_config(conn), revision)


_CONTENT = ("at", "type", "actor", "channel", "run", "task", "step", "authority", "data")


def test_migrating_a_global_chain_rechains_it_per_run_and_keeps_every_event(store: Store) -> None:
    from ledgerflow.storage.database import migrate
    from ledgerflow.trust import audit
    from tests.engine.helpers import GOOD_OUTPUT, act, only_open, start

    for _ in range(2):
        run = start(store)
        act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)
    with store.read() as tx:
        before = [{k: r[k] for k in _CONTENT} for r in tx.events()]
    _downgrade(store, "0007")
    with store.engine.connect() as conn:
        old_head = conn.execute(text("SELECT seq, hash FROM chain_head")).one()
    assert old_head.seq == len(before)
    assert migrate(store.engine, store.url)["from"] == "0007"
    again = Store(store.url)
    assert audit.verify(again)["ok"]
    with again.read() as tx:
        after = tx.events()
        heads = tx.chain_heads()
    again.close()
    assert [{k: r[k] for k in _CONTENT} for r in after[:-1]] == before
    assert after[-1]["type"] == "audit.rechained" and after[-1]["chain"] == "system"
    assert after[-1]["data"]["old_head"] == {"seq": old_head.seq, "hash": old_head.hash}
    assert set(heads) == {"system"} | {r["run"] for r in after if r["run"]}


def test_an_old_chain_that_does_not_verify_is_not_migrated(store: Store) -> None:
    from ledgerflow.domain.errors import EnvironmentProblem
    from ledgerflow.storage.database import migrate

    _downgrade(store, "0007")
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE events SET actor = 'mallory' WHERE seq = 1"))
    with pytest.raises(EnvironmentProblem, match="does not verify at seq 1"):
        migrate(store.engine, store.url)
    with store.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == "0007"
        assert conn.execute(text("SELECT actor FROM events WHERE seq = 1")).scalar() == "mallory"


def _bodies(store: Store) -> list[tuple[int, str, str]]:
    with store.engine.connect() as conn:
        return [(int(r.seq), str(r.hash), str(r.body)) for r in conn.execute(
            text("SELECT seq, hash, body FROM events ORDER BY seq"))]


def test_event_bodies_taken_down_to_columns_and_back_are_the_bytes_their_hashes_cover(store: Store) -> None:
    import hashlib

    from ledgerflow.storage.database import migrate
    from ledgerflow.trust import audit
    from tests.engine.helpers import GOOD_OUTPUT, act, only_open, start

    run = start(store, customer="Ünïcode \U0001f600 GmbH")
    act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)
    before = _bodies(store)
    _downgrade(store, "0020")
    with store.engine.connect() as conn:
        columns = {row[0] for row in conn.execute(text("SELECT * FROM events LIMIT 1")).cursor.description}
    assert {"authority", "data", "v", "prev_hash"} <= columns and "body" not in columns
    assert migrate(store.engine, store.url)["from"] == "0020"
    assert _bodies(store) == before
    assert all(hashlib.sha256(body.encode()).hexdigest() == digest for _, digest, body in before)
    assert audit.verify(store)["ok"]


def test_an_event_altered_before_the_bodies_keeps_what_it_holds_and_is_still_found(store: Store) -> None:
    from ledgerflow.storage.database import migrate
    from ledgerflow.trust import audit
    from tests.engine.helpers import start

    start(store)
    _downgrade(store, "0020")
    nan = "'{\"x\": NaN}'" if store.engine.dialect.name == "sqlite" else "'{\"x\": 1.5}'"  # PostgreSQL's json: no NaN
    with store.engine.begin() as conn:
        seq = conn.execute(text("SELECT max(seq) FROM events")).scalar_one()
        conn.execute(text(f"UPDATE events SET data = {nan} WHERE seq = :s"), {"s": seq})
    migrate(store.engine, store.url)
    with store.read() as tx:
        event = tx.events()[-1]
    x = event["data"]["x"]
    assert event["seq"] == seq and (x != x if store.engine.dialect.name == "sqlite" else x == 1.5)  # NaN != NaN
    assert audit.verify(store)["first_bad"] == {"seq": seq, "run": event["run"], "reason": "altered"}


def test_the_revision_every_command_checks_is_the_newest_migration() -> None:
    from ledgerflow.storage.database import SCHEMA_REVISION, head_revision

    assert SCHEMA_REVISION == head_revision()


def test_migrate_check_lists_what_is_pending_and_changes_nothing(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from ledgerflow.cli.main import main
    from ledgerflow.storage.database import SCHEMA_REVISION

    store = make_store(tmp_path)
    _downgrade(store, "0011")
    with store.engine.connect() as conn:
        before = [tuple(row) for row in conn.execute(text("SELECT * FROM alembic_version"))]
    assert main(["migrate", "--check", "--db", store.url, "--json"]) == 1
    state = json.loads(capsys.readouterr().out)
    assert state["current"] == "0011" and state["head"] == SCHEMA_REVISION
    versions = Path(__file__).resolve().parents[2] / "src" / "ledgerflow" / "storage" / "migrations" / "versions"
    revisions = sorted(p.name[:4] for p in versions.glob("[0-9][0-9][0-9][0-9]_*.py"))  # numbers may skip one
    assert state["pending"] == [r for r in revisions if r > "0011"]
    with store.engine.connect() as conn:
        assert [tuple(row) for row in conn.execute(text("SELECT * FROM alembic_version"))] == before
    assert main(["migrate", "--db", store.url]) == 0
    capsys.readouterr()
    assert main(["migrate", "--check", "--db", store.url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["pending"] == []


def test_counts_in_slots_taken_down_to_one_row_per_week_keep_their_sums_and_extremes(store: Store) -> None:
    from sqlalchemy import insert

    from ledgerflow.domain.figures import Marks
    from ledgerflow.storage import schema
    from ledgerflow.storage.database import migrate

    week, threshold = "2026-W10", 48.0
    marks = [Marks(decided=2, below=1, above=1, max_below=3.0, min_above=50.0),
             Marks(decided=1, below=1, above=0, max_below=5.0, min_above=None)]
    with store.engine.begin() as conn:
        conn.execute(insert(schema.period_counts), [
            {"playbook": "p", "period": week, "slot": slot, "ended": 1, "exceptions": slot, "clean": 0, "rework": 0,
             "decided": m.decided} for slot, m in ((0, marks[0]), (5, marks[1]))])
        conn.execute(insert(schema.latency_marks), [
            {"playbook": "p", "period": week, "threshold": threshold, "slot": slot, "decided": m.decided,
             "below": m.below, "above": m.above, "max_below": m.max_below, "min_above": m.min_above}
            for slot, m in ((0, marks[0]), (5, marks[1]))])
    with store.read() as tx:
        counts, folded = tx.period_counts("p", week), tx.all_latency_marks()
    _downgrade(store, "0021")
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT playbook, period, ended, exceptions, decided FROM period_counts")).all() == [
            ("p", week, 2, 5, 3)]
        assert conn.execute(text("SELECT decided, below, above, max_below, min_above FROM latency_marks")).all() == [
            (3, 2, 1, 5.0, 50.0)]
    assert migrate(store.engine, store.url)["from"] == "0021"
    with store.read() as tx:
        assert tx.period_counts("p", week) == counts and tx.all_latency_marks() == folded
