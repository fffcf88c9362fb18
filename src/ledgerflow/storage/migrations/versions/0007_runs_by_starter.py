"""index runs by starter and status: the inbox's "you wait on" list is one indexed join

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_runs_starter_status", "runs", ["started_by", "status"])


def downgrade() -> None:
    op.drop_index("ix_runs_starter_status", table_name="runs")
