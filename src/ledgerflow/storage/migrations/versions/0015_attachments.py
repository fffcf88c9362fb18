"""documents attached to runs and tasks (SPEC §14): references, content, uploads, legal holds

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("attachments", sa.JSON, nullable=True))
    op.add_column("runs", sa.Column("held", sa.Boolean, nullable=True))
    op.create_table(
        "attachments",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("run", sa.String(64), primary_key=True),
    )
    op.create_index("ix_attachments_run", "attachments", ["run"])
    op.create_table(
        "blobs",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("stored_at", sa.String(32), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "uploads",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("actor", sa.String(200), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("at", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("uploads")
    op.drop_table("blobs")
    op.drop_index("ix_attachments_run", table_name="attachments")
    op.drop_table("attachments")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("held")
        batch.drop_column("attachments")
