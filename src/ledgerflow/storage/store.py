"""The SQL store: one transaction per command, state rows and hash-chained events written together.

The service talks to `Tx` only; nothing outside `storage/` sees SQL or driver errors. `Tx` composes one mixin
per concern over the transaction's state (transaction.py): runs and tasks (runs.py), the audit log's chains
(chain.py), running counts (counts.py), the directory and playbooks (catalog.py), timers, the outbox, reads
of tasks and runs (queries.py) and document references (attachments.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import IntegrityError, OperationalError

from ledgerflow.domain.errors import Conflict, EnvironmentProblem
from ledgerflow.ops.config import Settings
from ledgerflow.storage import schema
from ledgerflow.storage.attachments import Attachments
from ledgerflow.storage.blobs import Blobs, blobs_for
from ledgerflow.storage.catalog import Catalog
from ledgerflow.storage.chain import Chain
from ledgerflow.storage.chain import event_hash as event_hash
from ledgerflow.storage.counts import PERIOD_COUNTS as PERIOD_COUNTS
from ledgerflow.storage.counts import Counts
from ledgerflow.storage.database import check_initialized, make_engine, normalize_url
from ledgerflow.storage.group_commit import GroupCommit
from ledgerflow.storage.outbox import Outbox
from ledgerflow.storage.queries import Queries
from ledgerflow.storage.run_cache import RunCache
from ledgerflow.storage.runs import Runs
from ledgerflow.storage.timers import Timers


class Store:
    """A ledgerflow database, opened by URL."""

    def __init__(self, url: str | None = None, *, check: bool = True, settings: Settings | None = None):
        self.url = normalize_url(url)
        self.settings = settings or Settings()
        self.engine: Engine = make_engine(self.url)
        if check:
            check_initialized(self.engine, self.url)
        self._clock: str | None = None
        self._active: ContextVar[Tx | None] = ContextVar(f"ledgerflow-write-{id(self)}", default=None)
        sqlite = self.engine.dialect.name == "sqlite"
        self._writers = GroupCommit(self.engine) if sqlite else None
        self._cache = RunCache() if sqlite else None
        self._blobs: Blobs | None = None

    @property
    def blobs(self) -> Blobs:
        """Where this database's documents are kept (see blobs.py)."""
        if self._blobs is None:
            self._blobs = blobs_for(self.engine, self.url, self.settings.attachment_dir)
        return self._blobs

    def clock_mode(self, conn: Connection) -> str:
        """`simulated` or `real`: fixed by `init`, so read once per store."""
        if self._clock is None:
            value = conn.execute(select(schema.meta.c.value).where(schema.meta.c.key == "clock")).scalar()
            self._clock = str(value or "real")
        return self._clock

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """One write transaction: everything in it commits together or not at all.

        A write or read opened inside it (same thread or task) joins it, so a caller can make several use
        cases one commit (the REST API: an idempotency key, the command and its answer).
        """
        active = self._active.get()
        if active is not None:
            yield active
            return
        try:
            with self._transaction() as conn:
                tx = Tx(conn, self.url, self.clock_mode(conn), write=True, settings=self.settings, cache=self._cache)
                token = self._active.set(tx)
                try:
                    yield tx
                finally:
                    self._active.reset(token)
                tx.flush()
            tx.committed()
        except IntegrityError as exc:
            raise Conflict(f"another command changed the same data first: {exc.orig}", rule="conflict") from None
        except OperationalError as exc:
            raise EnvironmentProblem(f"database error: {exc.orig}", rule="database-error") from None

    def in_transaction(self) -> bool:
        """True inside `write()` on this thread or task: a write opened now would join it."""
        return self._active.get() is not None

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        """A write transaction's connection: SQLite's writers queue in-process and share commits (see
        group_commit.py); PostgreSQL gives each its own transaction."""
        if self._writers is not None:
            with self._writers.transaction() as conn:
                yield conn
            return
        with self.engine.connect().execution_options(ledgerflow_write=True) as conn:
            with conn.begin():
                yield conn

    @contextmanager
    def read(self, *, snapshot: bool = False) -> Iterator[Tx]:
        """A read transaction; `snapshot` makes every statement in it see one moment (verification, exports).

        SQLite's read transactions are snapshots already; on PostgreSQL this asks for REPEATABLE READ.
        Inside a write transaction it joins it, and so reads what that transaction wrote.
        """
        active = self._active.get()
        if active is not None:
            yield active
            return
        try:
            with self.engine.connect() as conn:
                if snapshot and conn.dialect.name == "postgresql":
                    conn = conn.execution_options(isolation_level="REPEATABLE READ")
                with conn.begin():
                    yield Tx(conn, self.url, self.clock_mode(conn), cache=self._cache)
        except OperationalError as exc:
            raise EnvironmentProblem(f"database error: {exc.orig}", rule="database-error") from None

    def optimize(self) -> None:
        """Refresh the statistics SQLite plans queries by (an `ANALYZE` that samples at most 1,000 rows of each
        index, as `PRAGMA optimize` does): without them a list of someone's few runs reads every open task.
        PostgreSQL's autovacuum keeps its own statistics."""
        if self.engine.dialect.name == "sqlite":
            with self._transaction() as conn:  # ANALYZE writes: it takes its turn with the other writers
                conn.exec_driver_sql("PRAGMA analysis_limit=1000")
                conn.exec_driver_sql("ANALYZE")

    def close(self) -> None:
        if self._writers is not None:
            self._writers.close()
        self.engine.dispose()


class Tx(Runs, Chain, Counts, Catalog, Timers, Outbox, Queries, Attachments):
    """Operations inside one transaction. Implements the routing `Workload` view."""

    def flush(self) -> None:
        """Store the running counts the transaction kept in memory, just before it commits.

        On PostgreSQL a count row stays locked from its update to the commit: written last, each kind in key
        order, commands that touch one week or one assignee queue only for that moment, and cannot deadlock
        on the counts.
        """
        self._store_heads()
        self._store_counts()
