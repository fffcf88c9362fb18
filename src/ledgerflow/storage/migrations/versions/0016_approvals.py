"""approval grants for AI agents' actions (SPEC §11)

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "approvals",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("run", sa.String(64), nullable=False, unique=True),
        sa.Column("agent", sa.String(200), nullable=False),
        sa.Column("action", sa.String(200), nullable=False),
        sa.Column("arguments_hash", sa.String(64), nullable=False),
        sa.Column("playbook", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("requested_at", sa.String(32), nullable=False),
        sa.Column("expires_at", sa.String(32), nullable=False),
        sa.Column("consumed_at", sa.String(32), nullable=True),
    )
    op.create_index("ix_approvals_agent", "approvals", ["agent"])


def downgrade() -> None:
    op.drop_index("ix_approvals_agent", table_name="approvals")
    op.drop_table("approvals")
