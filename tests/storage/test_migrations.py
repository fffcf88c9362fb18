"""The Alembic migrations build exactly the schema that `storage/schema.py` declares."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from ledgerflow.storage.schema import metadata
from tests.conftest import make_store


def test_migrations_match_the_declared_tables(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    store.close()
    assert diff == []


def test_migrate_brings_an_older_database_up_and_keeps_its_history(tmp_path: Path) -> None:
    from alembic import command

    from ledgerflow import audit, service
    from ledgerflow.storage.database import _alembic_config, migrate
    from ledgerflow.storage.store import Store
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
