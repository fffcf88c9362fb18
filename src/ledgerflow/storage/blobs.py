"""Document bytes stored by SHA-256 (SPEC §14): files beside a SQLite database, a table in PostgreSQL.

A document is written before the command that refers to it, in a step of its own: a command that then fails
leaves the bytes unreferenced (the orphan sweep removes them after a grace period), never a reference without
bytes. Both stores are content-addressed, so the same bytes are kept once however often they are attached.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import OperationalError

from ledgerflow.domain.errors import EnvironmentProblem
from ledgerflow.domain.times import format_time
from ledgerflow.storage import schema
from ledgerflow.storage.database import sqlite_path


class Blobs(Protocol):
    """Where document bytes live, by their SHA-256 (the caller computes it)."""

    def put(self, sha256: str, data: bytes) -> None:
        """Keep the bytes (nothing happens when they are there already)."""

    def get(self, sha256: str) -> bytes | None:
        """The bytes, or None when none are kept under that hash."""

    def delete(self, sha256: str) -> bool:
        """Remove the bytes; whether there were any."""

    def stored(self) -> Iterator[tuple[str, str]]:
        """Every hash kept, with when it was stored (RFC 3339): what the orphan sweep looks at."""


class FileBlobs:
    """A folder of files named by hash (`ab/abcdef…`), each written to a temporary name, synced and renamed,
    so a crash leaves a whole file or none."""

    def __init__(self, root: Path):
        self.root = root

    def _path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def put(self, sha256: str, data: bytes) -> None:
        path = self._path(sha256)
        if path.exists():
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, scratch = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
            try:
                with os.fdopen(fd, "wb") as file:
                    file.write(data)
                    file.flush()
                    os.fsync(file.fileno())
                os.replace(scratch, path)
            except BaseException:
                Path(scratch).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise EnvironmentProblem(f"cannot store a document in {self.root}: {exc.strerror}",
                                     rule="attachment-store") from None

    def get(self, sha256: str) -> bytes | None:
        try:
            return self._path(sha256).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, sha256: str) -> bool:
        path = self._path(sha256)
        existed = path.exists()
        path.unlink(missing_ok=True)
        return existed

    def stored(self) -> Iterator[tuple[str, str]]:
        if not self.root.is_dir():
            return
        for path in sorted(self.root.glob("??/*")):
            if not path.name.startswith("."):
                yield path.name, format_time(datetime.fromtimestamp(path.stat().st_mtime, UTC))


class TableBlobs:
    """The `blobs` table, each document written and removed in a transaction of its own."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def put(self, sha256: str, data: bytes) -> None:
        from sqlalchemy.dialects.postgresql import insert as pg_insert  # here: a SQLite command never loads it

        row = {"sha256": sha256, "size": len(data), "stored_at": format_time(datetime.now(UTC)), "data": data}
        try:
            with self.engine.begin() as conn:
                conn.execute(pg_insert(schema.blobs).values(**row).on_conflict_do_nothing())
        except OperationalError as exc:
            raise EnvironmentProblem(f"database error: {exc.orig}", rule="database-error") from None

    def get(self, sha256: str) -> bytes | None:
        with self.engine.connect() as conn:
            data = conn.execute(select(schema.blobs.c.data).where(schema.blobs.c.sha256 == sha256)).scalar()
        return None if data is None else bytes(data)

    def delete(self, sha256: str) -> bool:
        with self.engine.begin() as conn:
            return conn.execute(delete(schema.blobs).where(schema.blobs.c.sha256 == sha256)).rowcount > 0

    def stored(self) -> Iterator[tuple[str, str]]:
        with self.engine.connect() as conn:
            rows = list(conn.execute(select(schema.blobs.c.sha256, schema.blobs.c.stored_at)
                                     .order_by(schema.blobs.c.sha256)))
        for row in rows:
            yield row.sha256, row.stored_at


def blobs_for(engine: Engine, url: str, folder: str | None = None) -> Blobs:
    """The store of a database: `folder` when configured (LEDGERFLOW_ATTACHMENT_DIR), else for SQLite the folder
    `<database file>-attachments` beside it, for PostgreSQL its `blobs` table."""
    if folder:
        return FileBlobs(Path(folder))
    if engine.dialect.name != "sqlite":
        return TableBlobs(engine)
    path = sqlite_path(url)
    if path is None or path == ":memory:":
        raise EnvironmentProblem("an in-memory database has nowhere to keep documents; set "
                                 "LEDGERFLOW_ATTACHMENT_DIR", rule="attachment-store")
    return FileBlobs(Path(path).with_name(Path(path).name + "-attachments"))
