"""one hash chain per run (plus `system`) instead of one global chain

The global chain made every command on every run queue on one head row. This migration first checks
the old chain (a broken chain is refused: nothing is changed), then links each event to the previous
event of its run (events of no run form the `system` chain), records each chain's head in `chains`, and
appends an `audit.rechained` event to the system chain that names the old chain's head, so a checkpoint
signed before the migration can still be matched against it. Every event is kept; only the link fields
(`v`, `chain`, `chain_seq`, `prev_hash`, `hash`) are rewritten. The downgrade links them back into one chain.

Revision ID: 0008
Revises: 0007
"""

import hashlib
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import CreateSequence, DropSequence

from ledgerflow.domain.canonical import ZERO_HASH, canonical_json
from ledgerflow.domain.errors import EnvironmentProblem

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SYSTEM = "system"
_V1 = ("v", "seq", "at", "type", "actor", "channel", "run", "task", "step", "authority", "data", "prev_hash")
_V2 = (*_V1, "chain", "chain_seq")

events = sa.table("events", *[sa.column(name, sa.JSON if name in ("authority", "data") else None)
                              for name in (*_V2, "hash")])
_LINKS = ("v", "chain", "chain_seq", "prev_hash", "hash")


def _hash(row: dict[str, Any], fields: tuple[str, ...]) -> str:
    return hashlib.sha256(canonical_json({k: row[k] for k in fields})).hexdigest()


def _rows(columns: tuple[str, ...]) -> list[dict[str, Any]]:
    query = sa.select(*[events.c[name] for name in columns]).order_by(events.c.seq)
    return [dict(row._mapping) for row in op.get_bind().execute(query)]


def _now(bind: Any) -> str:
    simulated = bind.execute(sa.text("SELECT value FROM meta WHERE key = 'clock'")).scalar() == "simulated"
    if simulated:
        return str(bind.execute(sa.text("SELECT value FROM meta WHERE key = 'now'")).scalar())
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def upgrade() -> None:
    bind = op.get_bind()
    old = _rows((*_V1, "hash"))
    prev = ZERO_HASH
    for index, row in enumerate(old, start=1):
        if row["seq"] != index or row["prev_hash"] != prev or _hash(row, _V1) != row["hash"]:
            raise EnvironmentProblem(f"the audit chain does not verify at seq {row['seq']}; run `ledgerflow audit "
                                     "verify` and keep this database as evidence; nothing was migrated",
                                     rule="chain-broken")
        prev = row["hash"]
    old_head = {"seq": len(old), "hash": prev}

    op.create_table("chains",
                    sa.Column("id", sa.String(length=64), nullable=False),
                    sa.Column("length", sa.Integer(), nullable=False),
                    sa.Column("hash", sa.String(length=64), nullable=False),
                    sa.PrimaryKeyConstraint("id"))
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("chain", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("chain_seq", sa.Integer(), nullable=True))

    heads: dict[str, tuple[int, str]] = {}
    updates = []
    for row in old:
        chain = row["run"] or SYSTEM
        length, link = heads.get(chain, (0, ZERO_HASH))
        row.update(v=2, chain=chain, chain_seq=length + 1, prev_hash=link)
        row["hash"] = _hash(row, _V2)
        heads[chain] = (length + 1, row["hash"])
        updates.append({"k": row["seq"], **{f"new_{name}": row[name] for name in _LINKS}})
    if updates:
        bind.execute(sa.update(events).where(events.c.seq == sa.bindparam("k")).values(
            {name: sa.bindparam(f"new_{name}") for name in _LINKS}), updates)
        _mark(bind, heads, old_head, len(old))
    chains = sa.table("chains", sa.column("id"), sa.column("length"), sa.column("hash"))
    if heads:
        bind.execute(sa.insert(chains), [{"id": c, "length": n, "hash": h} for c, (n, h) in sorted(heads.items())])

    with op.batch_alter_table("events") as batch:
        batch.alter_column("chain", existing_type=sa.String(length=64), nullable=False)
        batch.alter_column("chain_seq", existing_type=sa.Integer(), nullable=False)
        batch.drop_index("ix_events_run")
        batch.create_index("ix_events_chain", ["chain", "chain_seq"], unique=True)
    op.drop_table("chain_head")
    if bind.dialect.name == "postgresql":
        op.execute(CreateSequence(sa.Sequence("events_seq", start=len(old) + (2 if old else 1))))


def _mark(bind: Any, heads: dict[str, tuple[int, str]], old_head: dict[str, Any], count: int) -> None:
    """Append `audit.rechained` to the system chain: the old chain's head, for checkpoints signed before."""
    length, link = heads.get(SYSTEM, (0, ZERO_HASH))
    marker: dict[str, Any] = {
              "v": 2, "seq": count + 1, "chain": SYSTEM, "chain_seq": length + 1, "at": _now(bind),
              "type": "audit.rechained", "actor": "system", "channel": "system", "run": None, "task": None,
              "step": None, "authority": {"kind": "system", "detail": "migration 0008"},
              "data": {"from": "one global chain", "to": "one chain per run", "events": count,
                       "old_head": old_head}, "prev_hash": link}
    marker["hash"] = _hash(marker, _V2)
    heads[SYSTEM] = (length + 1, marker["hash"])
    bind.execute(sa.insert(events), [marker])


def downgrade() -> None:
    bind = op.get_bind()
    rows = _rows((*_V2, "hash"))
    renumber = {row["seq"]: index for index, row in enumerate(rows, start=1)}
    prev = ZERO_HASH
    updates = []
    for row in rows:
        row.update(v=1, seq=renumber[row["seq"]], prev_hash=prev)
        prev = row["hash"] = _hash(row, _V1)
        updates.append({"k": row["seq"], "new_v": 1, "new_prev": row["prev_hash"], "new_hash": row["hash"]})
    outbox = sa.table("outbox", sa.column("event_seq"))
    moved = [{"old": old, "new": new} for old, new in renumber.items() if old != new]
    if moved:  # PostgreSQL's seqs have gaps; one chain needs them dense. Shift out of the way, then in place.
        shift = max(renumber) + 1
        for pairs in ([{"old": p["old"], "new": p["old"] + shift} for p in moved],
                      [{"old": p["old"] + shift, "new": p["new"]} for p in moved]):
            bind.execute(sa.update(events).where(events.c.seq == sa.bindparam("old")).values(
                seq=sa.bindparam("new")), pairs)
            bind.execute(sa.update(outbox).where(outbox.c.event_seq == sa.bindparam("old")).values(
                event_seq=sa.bindparam("new")), pairs)
    if updates:
        bind.execute(sa.update(events).where(events.c.seq == sa.bindparam("k")).values(
            v=sa.bindparam("new_v"), prev_hash=sa.bindparam("new_prev"), hash=sa.bindparam("new_hash")), updates)
    op.create_table("chain_head",
                    sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
                    sa.Column("seq", sa.Integer(), nullable=False),
                    sa.Column("hash", sa.String(length=64), nullable=False),
                    sa.PrimaryKeyConstraint("id"))
    bind.execute(sa.text("INSERT INTO chain_head (id, seq, hash) VALUES (1, :seq, :hash)"),
                 {"seq": len(rows), "hash": prev})
    with op.batch_alter_table("events") as batch:
        batch.drop_index("ix_events_chain")
        batch.create_index("ix_events_run", ["run", "seq"], unique=False)
        batch.drop_column("chain_seq")
        batch.drop_column("chain")
    op.drop_table("chains")
    if bind.dialect.name == "postgresql":
        op.execute(DropSequence(sa.Sequence("events_seq")))
