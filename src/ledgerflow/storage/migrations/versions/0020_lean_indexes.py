"""leaner task and run indexes (issue #25): the "ended" indexes hold ended rows only, and a task pulled into
no one's view stores NULL, so the index of tasks pulled in holds only those that are

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

_ENDED = (("ix_tasks_playbook_type_ended", "tasks", ["playbook", "type", "ended_at"]),
          ("ix_runs_ended", "runs", ["playbook", "ended_at"]))


def upgrade() -> None:
    # Until now an empty list was written as JSON null (or []): a value, so every task entered the partial index.
    text = "CAST(pulled_in AS TEXT)" if op.get_bind().dialect.name == "postgresql" else "pulled_in"
    op.execute(f"UPDATE tasks SET pulled_in = NULL WHERE {text} IN ('null', '[]')")
    where = sa.text("ended_at IS NOT NULL")
    for name, table, columns in _ENDED:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns, sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    for name, table, columns in _ENDED:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns)
