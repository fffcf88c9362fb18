"""the outcome measure recorded per playbook and ISO week (SPEC §12)

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outcome_values",
        sa.Column("playbook", sa.String(200), primary_key=True),
        sa.Column("period", sa.String(10), primary_key=True),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.Column("recorded_at", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("outcome_values")
