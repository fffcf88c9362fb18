"""index runs by start, and the few tasks held for another or pulled in: a page of the runs list or the board
reads the rows it shows, not every run (issue #21)

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_runs_started", "runs", ["started_at", "id"])
    for name, columns, column in (("ix_tasks_on_behalf", ["on_behalf_of", "run"], "on_behalf_of"),
                                  ("ix_tasks_pulled_in", ["run"], "pulled_in")):
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(name, "tasks", columns, sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    op.drop_index("ix_tasks_pulled_in", table_name="tasks")
    op.drop_index("ix_tasks_on_behalf", table_name="tasks")
    op.drop_index("ix_runs_started", table_name="runs")
