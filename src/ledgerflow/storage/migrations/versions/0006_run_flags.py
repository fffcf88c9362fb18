"""runs.exception, runs.reworked, runs.failed_check: an ended run's figures, stored when it ends

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("exception", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("reworked", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("failed_check", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("failed_check")
        batch.drop_column("reworked")
        batch.drop_column("exception")
