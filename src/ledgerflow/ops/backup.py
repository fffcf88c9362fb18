"""`ledgerflow backup` and `restore`: a consistent copy of a whole ledger, taken while it serves, put back
onto an empty database of either kind.

The copy is logical: every table's rows, read in one snapshot (a SQLite read transaction under WAL, a
PostgreSQL REPEATABLE READ transaction), written as gzip'd JSON lines with the schema revision they belong
to. The same file restores onto SQLite or PostgreSQL; `restore` creates the schema at the backup's revision,
inserts the rows in one transaction, moves PostgreSQL's sequences past them, then migrates to this version's
schema, so a backup taken before an upgrade restores after it. A file cut short, altered or of another kind
is refused before anything is written (its last line holds the row counts and the SHA-256 of every line
before it). Hashes and links are copied as stored: `audit verify` on the copy checks them again, and
`audit verify --checkpoint` against the last published checkpoint says whether events were lost since.

Documents (SPEC §14) travel as their own lines, `{"document": SHA256, "data": base64}`, whichever store holds
them (files beside SQLite, PostgreSQL's `blobs` table); `restore` checks each against its hash and puts it in
the target's store once the rows are in.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from ledgerflow.domain.errors import Conflict, EnvironmentProblem, InvalidInput
from ledgerflow.domain.times import format_time
from ledgerflow.storage import database
from ledgerflow.storage.backup import Engine, Restoring, TableCopy, is_empty, restoring, snapshot
from ledgerflow.storage.blobs import Blobs, blobs_for
from ledgerflow.storage.errors import StorageError, Unreachable

FORMAT = "ledgerflow-backup"
VERSION = 1
BATCH = 2_000
BLOBS = "blobs"
"""The table PostgreSQL keeps documents in; a backup carries them as document lines instead, counted under it."""


def backup(engine: Engine, url: str, out: str, *, folder: str | None = None) -> dict[str, Any]:
    """Write every table of the database at `url` to a new file `out`, from one snapshot, and its documents
    (kept in `folder` when LEDGERFLOW_ATTACHMENT_DIR names one).

    Raises:
        InvalidInput: `out` exists already (`file-exists`) or cannot be written (`file-unwritable`).
        EnvironmentProblem: the database is missing, uninitialized or unreachable.
    """
    database.check_initialized(engine, url, any_revision=True)  # a backup before `migrate` is the point
    target = Path(out)
    if target.exists():
        raise InvalidInput(f"{out} exists; a backup never replaces a file", rule="file-exists")
    partial = target.with_name(f".{target.name}.partial")
    counts: dict[str, int] = {}
    digest = hashlib.sha256()
    try:
        with snapshot(engine) as copy:
            revision = copy.revision()
            ledger = copy.ledger()
            tables = copy.tables()
            with open(partial, "xb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as packed:
                header = {"format": FORMAT, "version": VERSION, "schema": str(revision), "ledger": ledger,
                          "dialect": copy.dialect, "taken_at": format_time(datetime.now(UTC))}
                _line(packed, digest, header)
                for table in tables:
                    if table.name == BLOBS:
                        continue  # written below, as documents, whichever store holds them
                    columns = table.columns
                    binary = _binary(table)
                    _line(packed, digest, {"table": str(table.name), "columns": columns})
                    count = 0
                    for values in copy.rows(table, BATCH):
                        for index in binary:
                            if values[index] is not None:
                                values[index] = base64.b64encode(values[index]).decode()
                        _line(packed, digest, values)
                        count += 1
                    counts[str(table.name)] = count
                if any(t.name == "attachments" for t in tables):  # from revision 0015
                    documents = blobs_for(engine, url, folder)
                    for sha256, _ in documents.stored():
                        data = documents.get(sha256)
                        if data is not None:
                            _line(packed, digest, {"document": sha256, "data": base64.b64encode(data).decode()})
                            counts[BLOBS] = counts.get(BLOBS, 0) + 1
                packed.write(orjson.dumps({"end": True, "rows": counts, "sha256": digest.hexdigest()}) + b"\n")
                packed.flush()
                raw.flush()
                os.fsync(raw.fileno())
        os.link(partial, target)  # never over a file that appeared meanwhile
    except FileExistsError:
        raise InvalidInput(f"{out} exists; a backup never replaces a file", rule="file-exists") from None
    except OSError as exc:
        raise InvalidInput(f"cannot write {out}: {exc.strerror}", rule="file-unwritable") from None
    except Unreachable as exc:
        raise EnvironmentProblem(f"cannot read {url}: {exc.orig}", rule="database-unreachable") from None
    finally:
        partial.unlink(missing_ok=True)
    return {"db": url, "out": out, "schema": str(revision), "ledger": ledger, "rows": counts,
            "events": counts.get("events", 0), "bytes": target.stat().st_size, "sha256": digest.hexdigest()}


def restore(engine: Engine, url: str, file: str, *, folder: str | None = None) -> dict[str, Any]:
    """Put a backup onto the empty database at `url`, then migrate it to this version's schema; its documents
    go to the database's store (`folder` when LEDGERFLOW_ATTACHMENT_DIR names one).

    Raises:
        InvalidInput: not a ledgerflow backup, cut short or altered (`bad-backup`), or unreadable.
        Conflict: the database is not empty (`not-empty`).
    """
    header, counts = _check(file)
    try:
        if not is_empty(engine):
            raise Conflict(f"{url} is not empty; restore goes onto a new database only", rule="not-empty")
        with restoring(engine) as target:
            tables = target.create_schema(header["schema"])
            _insert(target, tables, file)
            target.finish(tables.values())
        _put_documents(blobs_for(engine, url, folder), file)
    except Unreachable as exc:
        raise EnvironmentProblem(f"cannot restore onto {url}: {exc.orig}", rule="database-unreachable") from None
    except StorageError as exc:  # a schema the rows do not fit: the file was made by another program
        raise InvalidInput(f"{file} does not fit schema {header['schema']}: {exc}", rule="bad-backup") from None
    return {"db": url, "from": file, "schema": header["schema"], "to": database.head_revision(),
            "ledger": header["ledger"], "rows": counts, "events": counts.get("events", 0)}


def _binary(table: TableCopy) -> list[int]:
    """Positions of the columns that hold bytes: written as base64 text, since JSON has no bytes."""
    return [table.columns.index(name) for name in table.binary]


def _line(packed: gzip.GzipFile, digest: Any, value: Any) -> None:
    line = orjson.dumps(value) + b"\n"
    digest.update(line)
    packed.write(line)


def _lines(file: str) -> Iterator[bytes]:
    try:
        with gzip.open(file, "rb") as packed:
            yield from packed
    except FileNotFoundError:
        raise InvalidInput(f"no backup at {file}", rule="file-not-found") from None
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        raise InvalidInput(f"{file} is not a ledgerflow backup ({exc})", rule="bad-backup") from None


def _check(file: str) -> tuple[dict[str, Any], dict[str, int]]:
    """Read the whole file once: the header, every line's hash against the last line, and the row counts."""
    digest = hashlib.sha256()
    header: dict[str, Any] | None = None
    last: Any = None
    counts: dict[str, int] = {}
    table: str | None = None
    for line in _lines(file):
        if last is not None:
            raise InvalidInput(f"{file} goes on after its last line", rule="bad-backup")
        value = _parse(file, line)
        if header is None:
            if not (isinstance(value, dict) and value.get("format") == FORMAT and value.get("version") == VERSION
                    and isinstance(value.get("schema"), str)):
                raise InvalidInput(f"{file} is not a ledgerflow backup (format {FORMAT} {VERSION})", rule="bad-backup")
            header = value
        elif isinstance(value, dict) and value.get("end") is True:
            last = value
            continue
        elif isinstance(value, dict) and isinstance(value.get("table"), str):
            table = value["table"]
            counts[table] = 0
        elif isinstance(value, dict) and isinstance(value.get("document"), str):
            table = None
            counts[BLOBS] = counts.get(BLOBS, 0) + 1
        elif isinstance(value, list) and table is not None:
            counts[table] += 1
        else:
            raise InvalidInput(f"{file} holds a line that is not a table or a row", rule="bad-backup")
        digest.update(line)
    if header is None or last is None:
        raise InvalidInput(f"{file} is cut short: its last line (row counts and SHA-256) is missing",
                           rule="bad-backup")
    if last.get("sha256") != digest.hexdigest() or last.get("rows") != counts:
        raise InvalidInput(f"{file} was altered: its lines do not hash to the SHA-256 its last line holds",
                           rule="bad-backup")
    return header, counts


def _parse(file: str, line: bytes) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        raise InvalidInput(f"{file} holds a line that is not JSON", rule="bad-backup") from None


def _insert(target: Restoring, tables: dict[str, TableCopy], file: str) -> None:
    batch: list[dict[str, Any]] = []
    table: TableCopy | None = None
    columns: list[str] = []
    binary: list[int] = []

    def flush() -> None:
        if batch and table is not None:
            target.insert(table, batch)
            batch.clear()

    for line in _lines(file):
        value = orjson.loads(line)
        if isinstance(value, dict) and "document" in value:
            flush()
            table = None
        elif isinstance(value, dict) and "table" in value:
            flush()
            if value["table"] not in tables:
                raise InvalidInput(f"{file} holds table {value['table']!r}, which its schema does not have",
                                   rule="bad-backup")
            table, columns = tables[value["table"]], value["columns"]
            binary = [columns.index(name) for name in table.binary if name in columns]
        elif isinstance(value, list) and table is not None:
            for index in binary:
                if value[index] is not None:
                    value[index] = base64.b64decode(value[index])
            batch.append(dict(zip(columns, value, strict=True)))
            if len(batch) >= BATCH:
                flush()
    flush()


def _put_documents(documents: Blobs, file: str) -> None:
    """Each document line's bytes into the store, checked against the hash that names them."""
    for line in _lines(file):
        value = orjson.loads(line)
        if isinstance(value, dict) and "document" in value:
            data = base64.b64decode(value["data"])
            if hashlib.sha256(data).hexdigest() != value["document"]:
                raise InvalidInput(f"{file} holds a document that does not hash to its name {value['document']}",
                                   rule="bad-backup")
            documents.put(value["document"], data)

