"""The engine's hot statements: built and compiled by SQLAlchemy, executed straight on the driver's cursor.

Every command runs the same dozen statements. Through `Connection.execute` each costs 15-20 us of Python on
top of the driver (cache lookup, parameter processing, execution context, result wrapping), about a third of
a human step. A `Hot` statement is compiled once per dialect (and per set of columns given, for INSERT and
UPDATE) with SQLAlchemy's own compiler and type processors; executing it is then the driver's call plus a
tuple of parameters. It runs on the SQLAlchemy connection's own driver connection, inside its transaction,
and driver errors are wrapped as SQLAlchemy's, so callers see the same exceptions as before.

Only plain statements qualify: no expanding IN (bind a fixed number of parameters instead) and no column
defaults that SQLAlchemy would compute in Python (the schema has none).
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement

Params = Mapping[str, Any]
StatementSpan = Callable[[str, str], AbstractContextManager[Any]]
"""Wraps one statement's execution, given its SQL and the dialect's name (a trace span: see ops/tracing.py)."""

_span: StatementSpan | None = None
_OPEN_SPAN = "ledgerflow_span"


def trace_statements(engine: Engine, span: StatementSpan | None) -> None:
    """Run every statement on `engine` inside `span(sql, dialect)` from now on; None stops it. The hot statements
    go straight to the driver, where SQLAlchemy's events (and the instrumentations built on them) cannot see
    them, so both kinds are wrapped here, by the same function."""
    global _span
    _span = span
    hooks: list[tuple[str, Callable[..., None]]] = [
        ("before_cursor_execute", _opened), ("after_cursor_execute", _closed), ("handle_error", _failed)]
    for name, hook in hooks:
        if span is not None and not event.contains(engine, name, hook):
            event.listen(engine, name, hook)
        elif span is None and event.contains(engine, name, hook):
            event.remove(engine, name, hook)


def _opened(conn: Connection, _cursor: Any, sql: str, _params: Any, context: Any, _many: bool) -> None:
    if _span is not None and context is not None:
        opened = _span(sql, conn.dialect.name)
        opened.__enter__()
        setattr(context, _OPEN_SPAN, opened)


def _closed(_conn: Connection, _cursor: Any, _sql: str, _params: Any, context: Any, _many: bool) -> None:
    opened = getattr(context, _OPEN_SPAN, None)
    if opened is not None:
        setattr(context, _OPEN_SPAN, None)
        opened.__exit__(None, None, None)


def _failed(error: Any) -> None:
    opened = getattr(error.execution_context, _OPEN_SPAN, None)
    if opened is not None:
        setattr(error.execution_context, _OPEN_SPAN, None)
        failure = error.original_exception
        opened.__exit__(type(failure), failure, failure.__traceback__)


@dataclass(slots=True)
class _Compiled:
    sql: str
    order: tuple[str, ...] | None  # bind names in position order (qmark); None: the driver takes a mapping
    defaults: dict[str, Any]  # values bound in the statement itself
    binds: tuple[tuple[str, Callable[[Any], Any]], ...]  # type processors (JSON to text, bool to int ...)
    pick: Callable[[Params], Any] | None  # positional: the parameters in order, as a tuple
    at: tuple[tuple[int, Callable[[Any], Any]], ...]  # positional: the type processors by position
    row: Any  # a namedtuple class for the selected columns, None for statements that return no rows
    types: tuple[Any, ...]  # the selected columns' types
    results: tuple[Callable[[Any], Any] | None, ...] | None = None  # their result processors, from the first run


class Hot:
    """One hot statement."""

    def __init__(self, statement: ClauseElement, *, by_columns: bool = False):
        self.statement = statement
        self.by_columns = by_columns  # INSERT/UPDATE: compile for exactly the columns given
        self._compiled: dict[tuple[str, tuple[str, ...]], _Compiled] = {}

    def rows(self, conn: Connection, params: Params | None = None) -> list[Any]:
        """The rows of a SELECT, as named tuples."""
        compiled = self._get(conn.dialect, params or {})
        cursor = self._run(conn, compiled.sql, self._args(compiled, params or {}), many=False)
        fetched = cursor.fetchall()
        if compiled.results is None:  # a type's processor may depend on what the driver says it returns
            compiled.results = tuple(t.dialect_impl(conn.dialect).result_processor(conn.dialect, d[1])
                                     for t, d in zip(compiled.types, cursor.description, strict=True))
        cursor.close()
        if any(compiled.results):
            processed = [(index, process) for index, process in enumerate(compiled.results) if process is not None]
            fetched = [list(r) for r in fetched]
            for r in fetched:  # only the columns that have a processor (a few of a table's)
                for index, process in processed:
                    r[index] = process(r[index])
        make = compiled.row._make
        return [make(r) for r in fetched]

    def stream(self, conn: Connection, params: Params, *, size: int) -> Iterator[tuple[Any, ...]]:
        """The rows of a SELECT as the driver gives them (no type processing), fetched `size` at a time; on
        PostgreSQL through a server-side cursor, so a long result never sits whole in memory."""
        compiled = self._get(conn.dialect, params)
        cursor = self._run(conn, compiled.sql, self._args(compiled, params), many=False,
                           name="ledgerflow_stream" if conn.dialect.name == "postgresql" else None)
        try:
            while batch := cursor.fetchmany(size):
                yield from batch
        finally:
            cursor.close()

    def first(self, conn: Connection, params: Params | None = None) -> Any:
        found = self.rows(conn, params)
        return found[0] if found else None

    def scalar(self, conn: Connection, params: Params | None = None) -> Any:
        found = self.first(conn, params)
        return None if found is None else found[0]

    def run(self, conn: Connection, params: Params | Sequence[Params]) -> int:
        """Execute an INSERT/UPDATE/DELETE once, or once per mapping in a list; returns the rows it touched."""
        many = not isinstance(params, Mapping)
        batch: Sequence[Params] = [params] if isinstance(params, Mapping) else params
        if not batch:
            return 0
        compiled = self._get(conn.dialect, batch[0])
        args = [self._args(compiled, p) for p in batch]
        cursor = self._run(conn, compiled.sql, args if many else args[0], many=many)
        touched = int(cursor.rowcount)
        cursor.close()
        return touched

    @staticmethod
    def _args(compiled: _Compiled, params: Params) -> Any:
        if compiled.defaults:
            params = {**compiled.defaults, **params}
        if compiled.pick is None:  # the driver takes a mapping
            values = dict(params)
            for name, process in compiled.binds:
                values[name] = process(values[name])
            return values
        if not compiled.at:
            return compiled.pick(params)
        ordered = list(compiled.pick(params))
        for index, process in compiled.at:
            ordered[index] = process(ordered[index])
        return ordered

    @staticmethod
    def _run(conn: Connection, sql: str, args: Any, *, many: bool, name: str | None = None) -> Any:
        if _span is None:
            return Hot._execute(conn, sql, args, many=many, name=name)
        with _span(sql, conn.dialect.name):
            return Hot._execute(conn, sql, args, many=many, name=name)

    @staticmethod
    def _execute(conn: Connection, sql: str, args: Any, *, many: bool, name: str | None) -> Any:
        """On a cursor of the driver; `name` makes it a server-side cursor (PostgreSQL)."""
        driver: Any = conn.connection.driver_connection
        cursor = driver.cursor() if name is None else driver.cursor(name=name)
        try:
            if many:
                cursor.executemany(sql, args)
            else:
                cursor.execute(sql, args)
        except conn.dialect.loaded_dbapi.Error as exc:
            raise DBAPIError.instance(sql, args, exc, conn.dialect.loaded_dbapi.Error,
                                      dialect=conn.dialect) from exc
        return cursor

    def _get(self, dialect: Dialect, params: Params) -> _Compiled:
        key = (dialect.name, tuple(params) if self.by_columns else ())  # callers build their rows alike
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = self._compile(dialect, key[1])
        return compiled

    def _compile(self, dialect: Dialect, columns: tuple[str, ...]) -> _Compiled:
        compiled: Any = self.statement.compile(dialect=dialect, column_keys=list(columns) if self.by_columns else None)
        sql = str(compiled)
        if "POSTCOMPILE" in sql:
            raise ValueError("a hot statement cannot expand IN parameters at execution time")
        binds = []
        for name, bind in compiled.binds.items():
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                binds.append((name, process))
        row: Any = None
        selected = list(getattr(self.statement, "selected_columns", ()))
        if selected:
            row = namedtuple("Row", [c.key or f"c{i}" for i, c in enumerate(selected)], rename=True)  # type: ignore[misc,no-redef]
        order = tuple(compiled.positiontup) if compiled.positional else None
        pick: Callable[[Params], Any] | None = None
        at: tuple[tuple[int, Callable[[Any], Any]], ...] = ()
        if order is not None:
            pick = _picker(order)
            processors = dict(binds)
            at = tuple((index, processors[name]) for index, name in enumerate(order) if name in processors)
        return _Compiled(sql=sql, order=order, pick=pick, at=at,
                         defaults={name: value for name, value in compiled.params.items() if value is not None},
                         binds=tuple(binds), row=row, types=tuple(c.type for c in selected))


def _picker(order: tuple[str, ...]) -> Callable[[Params], tuple[Any, ...]]:
    """A function giving a mapping's values in `order`, as a tuple (itemgetter, in C)."""
    if not order:
        return lambda _params: ()
    get = itemgetter(*order)
    if len(order) == 1:
        return lambda params: (get(params),)
    return get
