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
