"""SQLite writers within one process: one at a time, and those that queue up share one commit.

SQLite has a single writer. Left to itself, a second thread's `BEGIN IMMEDIATE` finds the database locked and
SQLite's busy handler sleeps (1, 2, 5, 10 ... ms) before trying again, so concurrent requests wait far longer
than the write in front of them takes, and every command pays its own fsync. Here writers queue on a lock
instead and run on one long-lived connection. A group's first command runs in the group's transaction, each
later one inside a SAVEPOINT of it (a failing command rolls back only its own changes); the writer that finds
nobody queued behind it commits the whole group with one fsync and wakes the others. No writer returns before
the commit that holds its change is durable, so "acknowledged means fsynced" still holds; commands are atomic
as before.

PostgreSQL runs commands on different runs side by side and groups commits itself; it does not use this.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TypeVar

from sqlalchemy import Connection, Engine, RootTransaction

from ledgerflow.domain.errors import EnvironmentProblem

T = TypeVar("T")

MAX_GROUP = 16
"""Commands per commit at most: bounds how long the first of a group waits for the ones behind it."""
ORPHAN_CHECK_S = 0.1
"""How often a writer waiting for its group's commit checks that someone is still there to make it."""
COMMIT_SIZES: list[Callable[[int], None]] = []
"""Told how many commands each group commit held (the server's metrics listen; the storage knows no metrics)."""
QUEUE_TIMEOUT_S = 10.0
"""How long a writer waits for its turn before giving up (SQLite's own busy timeout is the same)."""


class _Group:
    """One transaction shared by the commands that ran while others were queued."""

    def __init__(self, conn: Connection, root: RootTransaction):
        self.conn = conn
        self.root = root
        self.members = 0
        self.committed = threading.Event()
        self.error: BaseException | None = None


class GroupCommit:
    """The writer queue of one SQLite database in this process."""

    def __init__(self, engine: Engine):
        self._engine = engine
        self._turn = threading.Lock()  # held by the one writer running its command
        self._counter = threading.Lock()  # guards _waiting
        self._waiting = 0
        self._conn: Connection | None = None
        self._group: _Group | None = None

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """The writer connection inside a savepoint of the open group; exits once the group has committed."""
        with self._counter:
            self._waiting += 1
        got_turn = self._turn.acquire(timeout=QUEUE_TIMEOUT_S)
        with self._counter:
            self._waiting -= 1
        if not got_turn:
            raise EnvironmentProblem(f"the database stayed busy for {QUEUE_TIMEOUT_S:.0f} s; try again",
                                     rule="database-busy")
        group: _Group | None = None
        try:
            group = self._join()
            if not group.members:  # the group's first command: if it fails, the whole (empty) group rolls back
                yield group.conn
            else:
                savepoint = self._step(group, group.conn.begin_nested)
                try:
                    yield group.conn
                except BaseException:
                    self._step(group, savepoint.rollback)  # the command failed: only its own changes go
                    raise
                self._step(group, savepoint.commit)
            group.members += 1
        except BaseException:
            self._end_turn(group)
            raise
        if not self._end_turn(group):
            self._await_commit(group)
        if group.error is not None:
            raise EnvironmentProblem(f"database error: the commit failed: {group.error}",
                                     rule="database-error") from None

    def _await_commit(self, group: _Group) -> None:
        """Wait for a writer queued behind to commit the group. Should that writer give up waiting for its
        turn (the busy timeout) just as the turn was handed to it, nobody would: then a member commits it."""
        while not group.committed.wait(ORPHAN_CHECK_S):
            if self._turn.acquire(blocking=False):
                try:
                    if self._group is group:
                        self._finish(group)
                finally:
                    self._turn.release()

    def close(self) -> None:
        with self._turn:
            if self._group is not None:  # a writer queued behind the last one never took its turn
                self._finish(self._group)
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _join(self) -> _Group:
        """The open group, or a new one (BEGIN IMMEDIATE) on the writer connection."""
        if self._group is None:
            if self._conn is None:
                self._conn = self._engine.connect().execution_options(ledgerflow_write=True)
            try:
                self._group = _Group(self._conn, self._conn.begin())
            except BaseException:
                self._discard()
                raise
        return self._group

    @staticmethod
    def _step(group: _Group, step: Callable[[], T]) -> T:
        """A savepoint step; if it fails the transaction is in doubt and the whole group must roll back."""
        try:
            return step()
        except BaseException as exc:
            group.error = group.error or exc
            raise

    def _end_turn(self, group: _Group | None) -> bool:
        """Commit the group if nobody is queued behind (or it is full, or broken); hand the turn on. Returns
        whether this writer ended the group."""
        try:
            if group is None:
                return True
            with self._counter:
                queued = self._waiting
            if queued and 0 < group.members < MAX_GROUP and group.error is None:
                return False  # the next writer joins the group; the last one commits it
            self._finish(group)
            return True
        finally:
            self._turn.release()

    def _finish(self, group: _Group) -> None:
        """Commit the group (or roll it back if it is broken or empty) and wake its writers."""
        self._group = None
        try:
            if group.members and group.error is None:
                group.root.commit()
                for listener in COMMIT_SIZES:
                    listener(group.members)
            else:
                group.root.rollback()
        except BaseException as exc:
            group.error = exc
        if group.error is not None:
            self._discard()
        group.committed.set()

    def _discard(self) -> None:
        """After a failed commit or rollback the connection's state is unknown: start the next group afresh."""
        if self._conn is not None:
            with suppress(Exception):  # it is being thrown away
                self._conn.invalidate()
                self._conn.close()
            self._conn = None
