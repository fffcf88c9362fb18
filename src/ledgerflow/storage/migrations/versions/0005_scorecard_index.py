"""index tasks by playbook, type and end: the scorecard's decision latency is a range scan

Revision ID: 0005
Revises: 0003
"""

from alembic import op

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tasks_playbook_type_ended", "tasks", ["playbook", "type", "ended_at"])


def downgrade() -> None:
    op.drop_index("ix_tasks_playbook_type_ended", table_name="tasks")
