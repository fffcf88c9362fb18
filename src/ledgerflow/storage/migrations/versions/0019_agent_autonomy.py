"""the owners' decisions on an agent's autonomy per playbook and decision step (SPEC §11)

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_autonomy",
        sa.Column("playbook", sa.String(200), primary_key=True),
        sa.Column("step", sa.String(200), primary_key=True),
        sa.Column("agent", sa.String(200), primary_key=True),
        sa.Column("limit_value", sa.Float, nullable=True),
        sa.Column("withdrawn", sa.Boolean, nullable=False),
        sa.Column("decided_by", sa.String(200), nullable=False),
        sa.Column("decided_at", sa.String(32), nullable=False),
        sa.Column("rationale", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("agent_autonomy")
