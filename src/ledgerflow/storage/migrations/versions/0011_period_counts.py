"""keep running counts of each playbook's ISO weeks, and where their decision latencies fall around each
latency trigger's threshold

Risk triggers read a week's scorecard after every run end; counting the week's runs and sorting its
latencies each time made a run's end cost grow with the week's volume. The counts are filled in here from
the runs, tasks and events already recorded; latency marks start empty (a week without complete marks is
counted the slow way).

Revision ID: 0011
Revises: 0010
"""

from collections import Counter
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

runs = sa.table("runs", sa.column("id"), sa.column("playbook"), sa.column("status"), sa.column("ended_at"),
                sa.column("exception"), sa.column("reworked"), sa.column("failed_check"))
events = sa.table("events", sa.column("chain"), sa.column("type"), sa.column("at"))
tasks = sa.table("tasks", sa.column("playbook"), sa.column("type"), sa.column("outcome"), sa.column("ended_at"))


def _week(at: str) -> str:
    year, week, _ = datetime.fromisoformat(at.replace("Z", "+00:00")).isocalendar()
    return f"{year}-W{week:02d}"


def upgrade() -> None:
    table = op.create_table(
        "period_counts",
        sa.Column("playbook", sa.String(200), primary_key=True),
        sa.Column("period", sa.String(10), primary_key=True),
        sa.Column("ended", sa.Integer, nullable=False),
        sa.Column("exceptions", sa.Integer, nullable=False),
        sa.Column("clean", sa.Integer, nullable=False),
        sa.Column("rework", sa.Integer, nullable=False),
        sa.Column("decided", sa.Integer, nullable=False),
    )
    op.create_table(
        "latency_marks",
        sa.Column("playbook", sa.String(200), primary_key=True),
        sa.Column("period", sa.String(10), primary_key=True),
        sa.Column("threshold", sa.Float, primary_key=True),
        sa.Column("decided", sa.Integer, nullable=False),
        sa.Column("below", sa.Integer, nullable=False),
        sa.Column("above", sa.Integer, nullable=False),
        sa.Column("max_below", sa.Float, nullable=True),
        sa.Column("min_above", sa.Float, nullable=True),
    )
    bind = op.get_bind()
    counts: dict[tuple[str, str], Counter[str]] = {}
    ended = sa.select(runs).where(runs.c.status.in_(["completed", "rejected"]), runs.c.ended_at.is_not(None))
    for row in bind.execute(ended.execution_options(yield_per=5000)):
        key = (row.playbook, _week(row.ended_at))
        found = counts.setdefault(key, Counter())
        found["ended"] += 1
        found["exceptions"] += bool(row.exception)
        found["clean"] += row.status == "completed" and not row.reworked and not row.failed_check
    sent_back = (sa.select(runs.c.playbook, events.c.at).select_from(events.join(runs, runs.c.id == events.c.chain))
                 .where(events.c.type == "task.sent_back"))
    for row in bind.execute(sent_back.execution_options(yield_per=5000)):
        counts.setdefault((row.playbook, _week(row.at)), Counter())["rework"] += 1
    decided = sa.select(tasks.c.playbook, tasks.c.ended_at).where(tasks.c.type == "decision",
                                                                 tasks.c.outcome.is_not(None))
    for row in bind.execute(decided.execution_options(yield_per=5000)):
        counts.setdefault((row.playbook, _week(row.ended_at)), Counter())["decided"] += 1
    names = ("ended", "exceptions", "clean", "rework", "decided")
    rows = [{"playbook": playbook, "period": period, **{name: c[name] for name in names}}
            for (playbook, period), c in sorted(counts.items())]
    for start in range(0, len(rows), 1000):
        op.bulk_insert(table, rows[start:start + 1000])


def downgrade() -> None:
    op.drop_table("latency_marks")
    op.drop_table("period_counts")
