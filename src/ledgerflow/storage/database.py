"""Opening a database by URL, creating it (`init`) and the SQLite settings that make commits durable."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event, insert, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from ledgerflow.domain.errors import Conflict, EnvironmentProblem, InvalidInput
from ledgerflow.domain.times import format_time
from ledgerflow.storage import schema
from ledgerflow.storage.hot import Hot

DEFAULT_URL = "sqlite:///ledgerflow.db"
MIGRATIONS = Path(__file__).parent / "migrations"
SCHEMA_REVISION = "0022"
"""The newest migration (a test holds it equal to Alembic's head): every command checks the database against
it without loading Alembic, which only `init` and `migrate` need."""


def normalize_url(url: str | None) -> str:
    """`--db` takes a SQLAlchemy-style URL, a plain path (SQLite) or `postgresql://` (psycopg 3)."""
    url = url or os.environ.get("LEDGERFLOW_DB") or DEFAULT_URL
    if "://" not in url:
        return "sqlite:///" + url
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def sqlite_path(url: str) -> str | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    return parsed.database or ":memory:"


_BEGIN_WRITE, _BEGIN_READ = Hot(text("BEGIN IMMEDIATE")), Hot(text("BEGIN DEFERRED"))  # on every transaction


_DIGITS = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x7C if byte in b":,[-+.eE \t\r\n" else 0x2E for byte in range(256))


def digit_run(raw: bytes, length: int) -> bool:
    """True when a JSON text may hold a number with a run of `length` digits or more. Every ASCII digit is mapped to
    "0", and what may come before a number or a run of its digits (`:`, `,`, `[`, `-`, `+`, `.`, `e`, `E`,
    whitespace) to "|", so a digit run inside a string (a hex digest, the zero hash) is not taken for one unless
    such a character precedes it, which costs only a slower path. Both steps run in C: a regular expression took
    ~6 us over an event's text, this ~0.5 us."""
    mapped, run = raw.translate(_DIGITS), b"0" * length
    return b"|" + run in mapped or mapped.startswith(run)


def _loads(text: str | bytes | memoryview) -> Any:
    """JSON columns as Python values: orjson, 5-10x faster than the standard library; what orjson refuses (a lone
    surrogate, a NaN put into a row by hand) or may read otherwise (long numbers) is read as the standard library
    reads it, so a value reads back the same either way."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text) if isinstance(
        text, memoryview) else text
    if not digit_run(raw, 19):  # 19 digits: an integer orjson may read as a float (beyond 64 bits), or a float
        # it may round otherwise than the standard library
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text if isinstance(text, str) else raw)


_DUMPS = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME  # as the standard library: refused


def _dumps(value: Any) -> str:
    """Values into JSON columns: orjson, ~10x faster than the standard library, for about nine columns a command.
    Whatever orjson would write differently is written by the standard library, as before: what it refuses (an
    integer beyond 64 bits, a lone surrogate, keys that are not text) and a NaN or an infinity, which orjson
    writes as `null` (a document with a `null` is read back and compared)."""
    try:
        out = orjson.dumps(value, option=_DUMPS)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(value)
    if b"null" in out and orjson.loads(out) != value:
        return json.dumps(value)  # (or a tuple, which only looks unequal: the standard library writes it alike)
    return out.decode()


def make_engine(url: str) -> Engine:
    """An engine with one connection setup for every use: WAL, synchronous=FULL, BEGIN IMMEDIATE for writes."""
    try:
        engine = create_engine(url, json_serializer=_dumps, json_deserializer=_loads)
    except (ArgumentError, ImportError) as exc:
        raise InvalidInput(f"--db {url!r} is not a database ledgerflow can open: give sqlite:///FILE, a path, or "
                           "postgresql://...", rule="bad-db-url", details={"cause": str(exc)}) from None
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _connect(dbapi: Any, _record: Any) -> None:
            dbapi.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            (_BEGIN_WRITE if conn.get_execution_options().get("ledgerflow_write") else _BEGIN_READ).run(conn, {})

    return engine


def _alembic_config(connection: Any = None) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest migration, as Alembic reads it from the migrations folder."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("no migrations")
    return head


def _revision(conn: Any) -> str | None:
    """The schema revision a database is at (Alembic's version table), None before any migration."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    value = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return None if value is None else str(value)


def check_initialized(engine: Engine, url: str, *, any_revision: bool = False) -> None:
    """Raise EnvironmentProblem (exit 4) unless the database exists and was made by `init` (and is at this
    version's schema, unless `any_revision`: a backup is taken before `migrate` too)."""
    path = sqlite_path(url)
    if path is not None and path != ":memory:" and not Path(path).exists():
        raise EnvironmentProblem(f"no database at {path}; run `ledgerflow init` first", rule="not-initialized")
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("meta"):
                raise EnvironmentProblem(f"{url} is not a ledgerflow database; run `ledgerflow init` first",
                                         rule="not-initialized")
            current = _revision(conn)
    except OperationalError as exc:
        raise EnvironmentProblem(f"cannot open {url}: {exc.orig}", rule="database-unreachable") from None
    if current != SCHEMA_REVISION and not any_revision:
        raise EnvironmentProblem(f"the database schema is at {current}, this ledgerflow needs {SCHEMA_REVISION}; "
                                 "run `ledgerflow migrate`", rule="schema-mismatch")


def pending(engine: Engine, url: str) -> dict[str, Any]:
    """The migrations `migrate` would apply, oldest first, without applying them (`migrate --check`)."""
    from alembic.script import ScriptDirectory

    check_initialized(engine, url, any_revision=True)
    with engine.connect() as conn:
        current = _revision(conn)
    script = ScriptDirectory.from_config(_alembic_config())
    ahead = [rev.revision for rev in script.iterate_revisions(head_revision(), current)]
    return {"db": url, "current": current, "head": head_revision(), "pending": list(reversed(ahead))}


def migrate(engine: Engine, url: str) -> dict[str, Any]:
    """Bring an initialized database to the newest schema (Alembic upgrade, one transaction)."""
    from alembic import command

    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("meta"):
                raise EnvironmentProblem(f"{url} is not a ledgerflow database; run `ledgerflow init` first",
                                         rule="not-initialized")
            before = _revision(conn)
        with engine.connect().execution_options(ledgerflow_write=True) as conn:
            with conn.begin():
                command.upgrade(_alembic_config(conn), "head")
    except OperationalError as exc:
        raise EnvironmentProblem(f"cannot migrate {url}: {exc.orig}", rule="database-unreachable") from None
    return {"db": url, "from": before, "to": head_revision()}


def initialize(engine: Engine, url: str, simulated_start: datetime | None) -> dict[str, Any]:
    """Create the schema; refuse (exit 3) an initialized database."""
    from alembic import command

    try:
        with engine.connect() as conn:
            if inspect(conn).has_table("meta"):
                raise Conflict(f"{url} is already initialized; nothing was changed", rule="already-initialized")
        with engine.connect().execution_options(ledgerflow_write=True) as conn:
            with conn.begin():
                command.upgrade(_alembic_config(conn), "head")
                clock = format_time(simulated_start) if simulated_start else None
                conn.execute(insert(schema.meta), [
                    {"key": "clock", "value": "simulated" if simulated_start else "real"},
                    {"key": "now", "value": clock},
                    {"key": "created_at", "value": format_time(datetime.now(UTC))},
                    {"key": "ledger", "value": uuid.uuid4().hex},
                ])
    except OperationalError as exc:
        raise EnvironmentProblem(f"cannot create {url}: {exc.orig}", rule="database-unreachable") from None
    except SQLAlchemyError as exc:
        raise EnvironmentProblem(f"cannot create {url}: {exc}", rule="database-error") from None
    return {"db": url, "clock": "simulated" if simulated_start else "real",
            "now": format_time(simulated_start) if simulated_start else None}
