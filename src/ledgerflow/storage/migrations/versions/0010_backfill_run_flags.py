"""fill in the scorecard flags of runs that ended before 0006 stored them, from their events

The scorecard then counts every ended run in SQL, with no per-run fallback (which bound one parameter per
run and could exceed SQLite's limit on a large period).

Revision ID: 0010
Revises: 0009
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

from ledgerflow.domain.figures import FLAG_EVENTS, run_flags

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_BATCH = 500
runs = sa.table("runs", sa.column("id"), sa.column("status"), sa.column("exception"), sa.column("reworked"),
                sa.column("failed_check"))
events = sa.table("events", sa.column("run"), sa.column("seq"), sa.column("type"),
                  sa.column("authority", sa.JSON), sa.column("data", sa.JSON))


def upgrade() -> None:
    bind = op.get_bind()
    missing = [row.id for row in bind.execute(sa.select(runs.c.id).where(
        runs.c.status.in_(["completed", "rejected"]), runs.c.exception.is_(None)).order_by(runs.c.id))]
    for start in range(0, len(missing), _BATCH):
        batch = missing[start:start + _BATCH]
        found: dict[str, list[tuple[str, Any, Any]]] = {run_id: [] for run_id in batch}
        for row in bind.execute(sa.select(events.c.run, events.c.type, events.c.authority, events.c.data)
                                .where(events.c.run.in_(batch), events.c.type.in_(FLAG_EVENTS))
                                .order_by(events.c.seq)):
            found[row.run].append((row.type, row.authority, row.data))
        flags = [dict(zip(("new_exception", "new_reworked", "new_failed"), run_flags(rows), strict=True), key=run)
                 for run, rows in found.items()]
        bind.execute(sa.update(runs).where(runs.c.id == sa.bindparam("key")).values(
            exception=sa.bindparam("new_exception"), reworked=sa.bindparam("new_reworked"),
            failed_check=sa.bindparam("new_failed")), flags)


def downgrade() -> None:
    """Nothing to undo: the flags are what the events say, and 0006's downgrade drops the columns."""
