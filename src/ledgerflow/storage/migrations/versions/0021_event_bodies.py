"""every event stored as its canonical body (issue #25): the bytes its hash covers, which `audit verify` hashes
as read; `authority`, `data`, `v` and `prev_hash` live in the body only

An event's hash has always been the SHA-256 of the canonical JSON (RFC 8785) of its fields, so the body written
here for an untouched event hashes to its stored hash. A row altered by hand keeps what it holds: its fields are
written as they read (a value with no canonical form by the standard library, NaN included), and verify still
finds the body and hash apart.

Revision ID: 0021
Revises: 0020
"""

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

from ledgerflow.domain.canonical import canonical_json

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

_BATCH = 5000
_COLUMNS = ("seq", "chain", "chain_seq", "at", "type", "actor", "channel", "run", "task", "step")
_ONLY_IN_BODY = ("authority", "data", "v", "prev_hash")
_old = sa.table("events", *(sa.column(name) for name in _COLUMNS), sa.column("authority", sa.JSON),
                sa.column("data", sa.JSON), sa.column("v", sa.Integer), sa.column("prev_hash"),
                sa.column("body", sa.Text))


def _body(fields: dict[str, Any]) -> str:
    try:
        return canonical_json(fields).decode()
    except (ValueError, TypeError):  # altered by hand into something with no canonical form: kept as it reads
        return json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)


def _pages(bind: Any, query: Any) -> Any:
    """`query`'s rows by seq, a page at a time (each page read whole before it is written back)."""
    last = None
    while True:
        page = query if last is None else query.where(_old.c.seq > last)
        rows = bind.execute(page.order_by(_old.c.seq).limit(_BATCH)).all()
        if not rows:
            return
        yield rows
        last = rows[-1].seq


def upgrade() -> None:
    bind = op.get_bind()
    op.add_column("events", sa.Column("body", sa.Text, nullable=True))
    fields = [_old.c[name] for name in (*_COLUMNS, *_ONLY_IN_BODY)]
    write = sa.update(_old).where(_old.c.seq == sa.bindparam("at_seq")).values(body=sa.bindparam("new_body"))
    for rows in _pages(bind, sa.select(*fields)):
        bind.execute(write, [{"at_seq": row.seq, "new_body": _body(dict(row._mapping))} for row in rows])
    with op.batch_alter_table("events") as batch:
        for name in _ONLY_IN_BODY:
            batch.drop_column(name)
        batch.alter_column("body", existing_type=sa.Text, nullable=False)


def downgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("authority", sa.JSON, nullable=True))
        batch.add_column(sa.Column("data", sa.JSON, nullable=True))
        batch.add_column(sa.Column("v", sa.Integer, nullable=True))
        batch.add_column(sa.Column("prev_hash", sa.String(64), nullable=True))
    write = sa.update(_old).where(_old.c.seq == sa.bindparam("at_seq")).values(
        authority=sa.bindparam("new_authority"), data=sa.bindparam("new_data"), v=sa.bindparam("new_v"),
        prev_hash=sa.bindparam("new_prev_hash"))
    for rows in _pages(bind, sa.select(_old.c.seq, _old.c.body)):
        values = []
        for row in rows:
            try:
                fields = json.loads(row.body)
            except ValueError:
                fields = {}
            fields = fields if isinstance(fields, dict) else {}
            values.append({"at_seq": row.seq, "new_authority": fields.get("authority"), "new_data": fields.get("data"),
                           "new_v": fields.get("v", 0), "new_prev_hash": fields.get("prev_hash", "")})
        bind.execute(write, values)
    with op.batch_alter_table("events") as batch:
        for name in _ONLY_IN_BODY:
            batch.alter_column(name, nullable=False)
        batch.drop_column("body")
