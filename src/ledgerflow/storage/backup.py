"""Table copying for `ledgerflow backup` and `restore` (see backup.py, which owns the file format): every
table's rows read in one snapshot, and inserted onto an empty database created at the backup's revision."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, LargeBinary, MetaData, Table, insert, inspect, select, text
from sqlalchemy import Engine as Engine  # the handle backup.py passes through, named here

from ledgerflow.storage import database


@dataclass(frozen=True, slots=True)
class TableCopy:
    """A table as it is in the database (its revision may be older than this code's)."""

    table: Table
    name: str
    columns: list[str]
    binary: list[str]
    """The columns that hold bytes, in table order."""


def _tables(conn: Connection) -> list[TableCopy]:
    """The tables as they are in this database, parents first."""
    reflected = MetaData()
    reflected.reflect(conn)
    return [TableCopy(t, str(t.name), [str(c.name) for c in t.columns],
                      [str(c.name) for c in t.columns if isinstance(c.type, LargeBinary)])
            for t in reflected.sorted_tables if t.name != "alembic_version"]


class Snapshot:
    """One read transaction that sees one moment (SQLite's under WAL; REPEATABLE READ on PostgreSQL)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect = str(conn.dialect.name)

    def revision(self) -> str:
        """The schema revision the database is at."""
        return str(self.conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one())

    def ledger(self) -> Any:
        """The ledger id `init` gave the database (None before ledger ids)."""
        return self.conn.execute(text("SELECT value FROM meta WHERE key = 'ledger'")).scalar()

    def tables(self) -> list[TableCopy]:
        return _tables(self.conn)

    def rows(self, table: TableCopy, batch: int) -> Iterator[list[Any]]:
        """A table's rows in primary key order (every column's when it has none), streamed `batch` at a time."""
        t = table.table
        rows = self.conn.execution_options(stream_results=True, yield_per=batch).execute(
            select(t).order_by(*(list(t.primary_key.columns) or list(t.columns))))
        for row in rows:
            yield list(row)


@contextmanager
def snapshot(engine: Engine) -> Iterator[Snapshot]:
    with engine.connect() as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
        yield Snapshot(conn)


def is_empty(engine: Engine) -> bool:
    """True when the database holds no table at all."""
    with engine.connect() as conn:
        return not inspect(conn).get_table_names()


class Restoring:
    """One write transaction onto an empty database: the schema at a revision, the rows, then the newest schema."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def create_schema(self, revision: str) -> dict[str, TableCopy]:
        """Create the schema at `revision`; its tables by name."""
        from alembic import command

        command.upgrade(database._alembic_config(self.conn), revision)
        return {t.name: t for t in _tables(self.conn)}

    def insert(self, table: TableCopy, rows: list[dict[str, Any]]) -> None:
        self.conn.execute(insert(table.table), rows)

    def finish(self, tables: Iterable[TableCopy]) -> None:
        """Move PostgreSQL's sequences past the rows inserted, then migrate to this version's schema."""
        from alembic import command

        if self.conn.dialect.name == "postgresql":
            _move_sequences(self.conn, [t.table for t in tables])
        command.upgrade(database._alembic_config(self.conn), "head")


@contextmanager
def restoring(engine: Engine) -> Iterator[Restoring]:
    with engine.connect().execution_options(ledgerflow_write=True) as conn, conn.begin():
        yield Restoring(conn)


def _move_sequences(conn: Connection, tables: Any) -> None:
    """PostgreSQL hands out ids and global seqs from sequences: move each past the rows just inserted."""
    if conn.execute(text("SELECT to_regclass('events_seq')")).scalar() is not None:  # from revision 0008
        conn.execute(text("SELECT setval('events_seq', COALESCE((SELECT MAX(seq) FROM events), 0) + 1, false)"))
    for table in tables:
        for column in table.primary_key.columns:
            sequence = conn.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                                    {"t": table.name, "c": column.name}).scalar()
            if sequence is not None:
                conn.execute(text(f"SELECT setval(:s, COALESCE((SELECT MAX({column.name}) FROM {table.name}), 0) "
                                  "+ 1, false)"), {"s": sequence})
