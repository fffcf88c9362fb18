"""running counts kept in slots (issue #25): a week's counts and latency marks are spread over several rows
per (playbook, week), which readers add up, so that concurrent commands on PostgreSQL no longer queue on one
row lock per playbook and week until each commits

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

_KEYS = {"period_counts": ["playbook", "period"], "latency_marks": ["playbook", "period", "threshold"]}
_FOLDS = {"period_counts": {"ended": "SUM", "exceptions": "SUM", "clean": "SUM", "rework": "SUM", "decided": "SUM"},
          "latency_marks": {"decided": "SUM", "below": "SUM", "above": "SUM", "max_below": "MAX",
                            "min_above": "MIN"}}


def _primary_key(table: str, columns: list[str]) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(f"{table}_pkey", table, type_="primary")
        op.create_primary_key(f"{table}_pkey", table, columns)
        return
    # SQLite changes a primary key by copying the table into one declared with the new key
    found = sa.Table(table, sa.MetaData(), autoload_with=op.get_bind())
    names = [column.name for column in found.columns]
    op.create_table(f"_new_{table}", *(sa.Column(c.name, c.type, nullable=c.nullable, server_default=c.server_default,
                                                 primary_key=c.name in columns) for c in found.columns))
    op.execute(f"INSERT INTO _new_{table} ({', '.join(names)}) SELECT {', '.join(names)} FROM {table}")
    op.drop_table(table)
    op.rename_table(f"_new_{table}", table)


def upgrade() -> None:
    for table, keys in _KEYS.items():
        op.add_column(table, sa.Column("slot", sa.Integer, nullable=False, server_default="0"))
        _primary_key(table, [*keys, "slot"])


def downgrade() -> None:
    for table, keys in _KEYS.items():
        # every key's slots folded into one row (sums, and the extremes of the marks), then the slot dropped
        folds = _FOLDS[table]
        columns = ", ".join([*keys, "slot", *folds])
        folded = ", ".join(f"{fold}({column}) AS {column}" for column, fold in folds.items())
        op.execute(f"CREATE TABLE _folded_{table} AS SELECT {', '.join(keys)}, 0 AS slot, {folded} "
                   f"FROM {table} GROUP BY {', '.join(keys)}")
        op.execute(f"DELETE FROM {table}")
        op.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM _folded_{table}")
        op.drop_table(f"_folded_{table}")
        _primary_key(table, keys)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("slot")
