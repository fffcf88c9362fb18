"""keep the number of open tasks per assignee, for least-loaded routing

Routing counted every open task of each candidate, so a role holding many open tasks made every routing
decision slow (170 ms at a million). The counts are filled in here from the task rows.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

tasks = sa.table("tasks", sa.column("assignee"), sa.column("status"))


def upgrade() -> None:
    table = op.create_table(
        "workload",
        sa.Column("actor", sa.String(200), primary_key=True),
        sa.Column("open", sa.Integer, nullable=False),
    )
    bind = op.get_bind()
    counts = bind.execute(sa.select(tasks.c.assignee, sa.func.count()).where(
        tasks.c.status.in_(["ready", "in_progress"]), tasks.c.assignee.is_not(None)).group_by(tasks.c.assignee))
    rows = [{"actor": actor, "open": n} for actor, n in counts]
    for start in range(0, len(rows), 1000):
        op.bulk_insert(table, rows[start:start + 1000])


def downgrade() -> None:
    op.drop_table("workload")
