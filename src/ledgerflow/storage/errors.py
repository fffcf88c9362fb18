"""The storage errors an application module may have to catch, by a storage-level name.

Most driver errors never leave `storage/`: `Store.write` and `Store.read` turn them into `Conflict` or
`EnvironmentProblem`. Code that works on the database outside a transaction of the store (backup, restore,
the worker's loop) catches these instead of naming the driver's or SQLAlchemy's classes.
"""

from __future__ import annotations

from sqlalchemy.exc import OperationalError, SQLAlchemyError

StorageError = SQLAlchemyError
"""Any error the database, its driver or SQLAlchemy raised (`exc.orig` holds the driver's, when there is one)."""

Unreachable = OperationalError
"""The database could not be reached, or failed while running a statement (a `StorageError`)."""
