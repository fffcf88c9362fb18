"""index open tasks by assignee, status, then inbox order: an inbox page reads only the rows it returns

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tasks_inbox", "tasks", ["assignee", "status", "ready_at", "id"])
    op.drop_index("ix_tasks_assignee_open", table_name="tasks")


def downgrade() -> None:
    op.create_index("ix_tasks_assignee_open", "tasks", ["assignee", "status"])
    op.drop_index("ix_tasks_inbox", table_name="tasks")
