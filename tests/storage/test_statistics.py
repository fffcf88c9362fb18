"""The worker's hourly pass keeps the statistics SQLite plans the lists of open work by (issue #21)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from ledgerflow.engine.worker import Worker
from ledgerflow.storage.store import Store
from ledgerflow.trust import audit
from tests.engine.helpers import snapshot, start


def test_the_hourly_pass_gives_sqlite_statistics_for_every_index_of_tasks_and_runs(store: Store) -> None:
    start(store)
    before = snapshot(store)
    Worker(store, clock=lambda: datetime(2026, 3, 2, 9, 0, tzinfo=UTC)).tick()
    if store.engine.dialect.name == "sqlite":
        with store.engine.connect() as conn:
            analysed = {row.idx for row in conn.execute(text(
                "SELECT idx FROM sqlite_stat1 WHERE tbl IN ('tasks', 'runs')"))}
        assert {"ix_tasks_inbox", "ix_tasks_status_ready", "ix_runs_started", "ix_runs_starter_status"} <= analysed
    assert snapshot(store) == before  # statistics are no ledger data: nothing recorded changes
    assert audit.verify(store)["ok"]
