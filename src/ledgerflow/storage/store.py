"""The SQL store: one transaction per command, state rows and hash-chained events written together.

The service talks to `Tx` only; nothing outside `storage/` sees SQL or driver errors.

The audit log is a set of hash chains, one per run plus the `system` chain for events of no run. An
event's `prev_hash` is the hash of the event before it *in its chain* (`chain_seq` one less), and the
chain's head (length, hash) sits in `chains`, moved in the same transaction. A command locks only the
heads of the chains it appends to, and a command's run is locked already, so commands on different runs
never wait on each other. `seq` is a global number (PostgreSQL: a sequence, so values may commit out of
order and leave gaps; SQLite: max + 1 under its single writer); it is hashed with the event and rises
along each chain, but verification relies on the chains, not on seq being dense. Removal, insertion or
reordering anywhere breaks a chain's links or disagrees with its head; rewriting a chain *and* its head
is caught by a signed checkpoint, which covers every chain's head (see evidence.py).
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    String,
    and_,
    bindparam,
    case,
    func,
    insert,
    or_,
    select,
    text,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError

from ledgerflow.config import Settings
from ledgerflow.domain.attachments import Attachment, records
from ledgerflow.domain.autonomy import AgentAutonomy, Autonomy
from ledgerflow.domain.canonical import ZERO_HASH, canonical_json
from ledgerflow.domain.directory import Directory, load_directory
from ledgerflow.domain.errors import Conflict, EnvironmentProblem, LimitExceeded, NotFound
from ledgerflow.domain.events import Event, record
from ledgerflow.domain.figures import FLAG_EVENTS, Marks
from ledgerflow.domain.playbook import Playbook, load_playbook
from ledgerflow.domain.routing import Last
from ledgerflow.domain.runs import Recommendation, RunState, TaskState
from ledgerflow.domain.source import Source
from ledgerflow.domain.states import OPEN_TASK, RunStatus, TaskStatus
from ledgerflow.domain.timers import Timer
from ledgerflow.domain.times import format_time, parse_time
from ledgerflow.storage import schema
from ledgerflow.storage.blobs import Blobs, blobs_for
from ledgerflow.storage.database import check_initialized, make_engine, normalize_url
from ledgerflow.storage.group_commit import GroupCommit
from ledgerflow.storage.hot import Hot
from ledgerflow.storage.run_cache import RunCache

_TASK_COLUMNS = [f.name for f in fields(TaskState)]

# The engine's hot path runs these on every command: built once, so each execution skips statement
# construction and only looks up SQLAlchemy's compiled-statement cache.
_t, _r, _rec, _e, _h = schema.tasks, schema.runs, schema.recommendations, schema.events, schema.chains
_OPEN = ["ready", "in_progress"]
_RUN_OF_TASK = select(_t.c.run).where(_t.c.id == bindparam("task"))
_DIRECTORY_VERSION = select(func.max(schema.directory_versions.c.version))
_NOW = select(schema.meta.c.value).where(schema.meta.c.key == "now")
_LAST_SEQ = select(func.max(_e.c.seq))
# a command's run comes with what every command reads next, the directory version, the (simulated) clock and
# the run's chain head (see run_cache.py) and SQLite's last seq: one round trip instead of several
_RUN_CONTEXT = (_DIRECTORY_VERSION.scalar_subquery().label("directory_version"),
                _NOW.scalar_subquery().label("clock_now"),
                select(_h.c.length).where(_h.c.id == _r.c.id).scalar_subquery().label("head_length"),
                select(_h.c.hash).where(_h.c.id == _r.c.id).scalar_subquery().label("head_hash"),
                _LAST_SEQ.scalar_subquery().label("last_seq"))
_RUN = select(_r, *_RUN_CONTEXT).where(_r.c.id == bindparam("run"))
_RUN_LOCKED = _RUN.with_for_update()  # PostgreSQL: deciders racing on one run queue here; SQLite ignores it
_TASK_RUN = select(_r, *_RUN_CONTEXT).where(_r.c.id == _RUN_OF_TASK.scalar_subquery())  # found through the task
_TASK_RUN_LOCKED = _TASK_RUN.with_for_update()
_RUN_TASKS = select(_t).where(_t.c.run == bindparam("run")).order_by(_t.c.ord)
_RUN_RECS = select(_rec).where(_rec.c.run == bindparam("run")).order_by(_rec.c.at)
_INSERT_RUN = insert(_r)
_UPDATE_RUN = update(_r).where(_r.c.id == bindparam("run_id"))
_INSERT_TASKS = insert(_t)
_MUTABLE = [c for c in _TASK_COLUMNS if c not in ("id", "run", "playbook", "step", "type")]
_UPDATE_TASK = update(_t).where(_t.c.id == bindparam("task_id"))  # SET only what changed: SQLite then leaves
# alone the indexes over columns it does not assign (an UPDATE of every column rewrote all five)
_NEW_HEADS = insert(_h)
_MOVE_HEAD = update(_h).where(_h.c.id == bindparam("chain"), _h.c.length == bindparam("old_length")).values(
    length=bindparam("new_length"), hash=bindparam("new_hash"))
_NEXT_SEQS = select(schema.event_seq.next_value()).select_from(func.generate_series(1, bindparam("n")))
_INSERT_EVENTS = insert(_e)
_INSERT_TIMERS = insert(schema.timers)
_DUE_TIMERS = (select(schema.timers).where(schema.timers.c.fired_at.is_(None),
                                           schema.timers.c.due_at <= bindparam("until"))
               .order_by(schema.timers.c.due_at, schema.timers.c.id)
               .with_for_update(skip_locked=True))  # several workers: each timer fires once
_FIRE_TIMER = update(schema.timers).where(schema.timers.c.id == bindparam("timer_id"),
                                          schema.timers.c.fired_at.is_(None)).values(fired_at=bindparam("at"))
_SET_NOW = update(schema.meta).where(schema.meta.c.key == "now").values(value=bindparam("now"))
_DIRECTORY_VERSION_AND_NOW = select(_DIRECTORY_VERSION.scalar_subquery(), _NOW.scalar_subquery())
_LATEST_PLAYBOOK = select(func.max(schema.playbooks.c.version)).where(schema.playbooks.c.id == bindparam("playbook"))
_GOVERNANCE = select(schema.governance).where(schema.governance.c.playbook == bindparam("playbook"))
_EVENT_DATA = select(_e.c.data).where(_e.c.type == bindparam("type"), _e.c.at >= bindparam("start"),
                                     _e.c.at < bindparam("end"))
# a run's events are its chain: read through the chain index, not a scan of every flag event in the log
_RUN_FLAG_EVENTS = select(_e.c.type, _e.c.authority, _e.c.data).where(  # (no IN: a hot statement binds a fixed list)
    _e.c.chain == bindparam("run"), or_(*(_e.c.type == type_ for type_ in FLAG_EVENTS)))
_w = schema.workload
_CANDIDATES_PER_QUERY = 200  # below SQLite's limit of 500 terms in one compound SELECT


# the hot path's statements, run on the driver's cursor (see hot.py)
_HOT_RUN, _HOT_RUN_LOCKED = Hot(_RUN), Hot(_RUN_LOCKED)
_HOT_TASK_RUN, _HOT_TASK_RUN_LOCKED = Hot(_TASK_RUN), Hot(_TASK_RUN_LOCKED)
_HOT_RUN_TASKS, _HOT_RUN_RECS, _HOT_RUN_OF_TASK = Hot(_RUN_TASKS), Hot(_RUN_RECS), Hot(_RUN_OF_TASK)
_HOT_INSERT_RUN, _HOT_UPDATE_RUN = Hot(_INSERT_RUN, by_columns=True), Hot(_UPDATE_RUN, by_columns=True)
_HOT_INSERT_TASKS, _HOT_UPDATE_TASK = Hot(_INSERT_TASKS, by_columns=True), Hot(_UPDATE_TASK, by_columns=True)
_HOT_NEW_HEADS, _HOT_MOVE_HEAD = Hot(_NEW_HEADS, by_columns=True), Hot(_MOVE_HEAD)
_HOT_LAST_SEQ, _HOT_NEXT_SEQS = Hot(_LAST_SEQ), Hot(_NEXT_SEQS)
_HOT_INSERT_EVENTS, _HOT_INSERT_TIMERS = Hot(_INSERT_EVENTS, by_columns=True), Hot(_INSERT_TIMERS, by_columns=True)
_HOT_NOW, _HOT_GOVERNANCE, _HOT_RUN_FLAG_EVENTS = Hot(_NOW), Hot(_GOVERNANCE), Hot(_RUN_FLAG_EVENTS)
_HOT_FIRE_TIMER, _HOT_INSERT_OUTBOX = Hot(_FIRE_TIMER), Hot(insert(schema.outbox), by_columns=True)
_HOT_LATEST_PLAYBOOK, _HOT_EVENT_DATA = Hot(_LATEST_PLAYBOOK), Hot(_EVENT_DATA)
_HOT_DIRECTORY_VERSION_AND_NOW = Hot(_DIRECTORY_VERSION_AND_NOW)


@functools.cache  # built once per number of candidates, on first use
def _assigned_query(candidates: int) -> Hot:
    """Routing's two questions for `candidates` actors (binds a0, a1, ...) in one round trip: per actor, its
    running open-task count, when it was last given a task of this step and how many at that instant. Each
    is an indexed lookup (the max on `ix_tasks_step_assignee`'s last entry, then the entries equal to it), so
    the cost does not grow with the open tasks."""
    rows = []
    for index in range(candidates):
        actor = bindparam(f"a{index}", type_=String)
        mine = (_t.c.playbook == bindparam("playbook"), _t.c.step == bindparam("step"), _t.c.assignee == actor)
        latest = select(func.max(_t.c.ready_at)).where(*mine).scalar_subquery()
        rows.append(select(actor, select(_w.c.open).where(_w.c.actor == actor).scalar_subquery(), latest,
                           select(func.count()).where(*mine, _t.c.ready_at == latest).scalar_subquery()))
    return Hot(union_all(*rows) if candidates > 1 else rows[0])

_IDS_PER_QUERY = 512
_RUNS_KEPT = 16


def _id_lists(ids: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """Ids as binds i0, i1, ... for `_by_ids`: in lists of at most 512, each padded to a power of two by
    repeating its last id, so that a few statement shapes serve every count."""
    for start in range(0, len(ids), _IDS_PER_QUERY):
        chunk = ids[start:start + _IDS_PER_QUERY]
        size = 1 << (len(chunk) - 1).bit_length()
        yield size, {f"i{k}": chunk[min(k, len(chunk) - 1)] for k in range(size)}


@functools.cache
def _by_ids(what: str, size: int) -> Hot:
    """Chain heads (locked), runs, their tasks, recommendations or row locks by `size` ids bound as i0, i1, ...
    (a fixed list, so the statement is compiled once per size)."""
    ids = [bindparam(f"i{k}", type_=String) for k in range(size)]
    if what == "heads":  # locked in id order: two commands appending to several chains cannot deadlock
        return Hot(select(_h.c.id, _h.c.length, _h.c.hash).where(_h.c.id.in_(ids)).order_by(_h.c.id)
                   .with_for_update())
    if what == "lock":
        return Hot(select(_r.c.id).where(_r.c.id.in_(ids)).order_by(_r.c.id).with_for_update())
    if what == "tasks":
        return Hot(select(_t).where(_t.c.run.in_(ids)).order_by(_t.c.run, _t.c.ord))
    if what == "recommendations":
        return Hot(select(_rec).where(_rec.c.run.in_(ids)).order_by(_rec.c.run, _rec.c.at))
    return Hot(select(_r).where(_r.c.id.in_(ids)))


# a task's nearest deadline, due or SLA ('~' sorts after every time: no deadline comes last)
_DUE, _SLA = func.coalesce(_t.c.due_at, "~"), func.coalesce(_t.c.sla_due_at, "~")
_DEADLINE = case((_DUE < _SLA, _DUE), else_=_SLA)
_pc = schema.period_counts
PERIOD_COUNTS = ("ended", "exceptions", "clean", "rework", "decided")
_PERIOD_COUNTS = Hot(select(*(_pc.c[c] for c in PERIOD_COUNTS)).where(_pc.c.playbook == bindparam("playbook"),
                                                                       _pc.c.period == bindparam("period")))


def _add_counts(dialect: Any) -> Any:
    """INSERT a week's counts, or add them to the row already there (both dialects spell upserts alike)."""
    stmt = dialect.insert(_pc)
    return stmt.on_conflict_do_update(index_elements=[_pc.c.playbook, _pc.c.period],
                                      set_={c: _pc.c[c] + stmt.excluded[c] for c in PERIOD_COUNTS})


def _add_load(dialect: Any) -> Any:
    stmt = dialect.insert(_w)
    return stmt.on_conflict_do_update(index_elements=[_w.c.actor], set_={"open": _w.c.open + stmt.excluded.open})


_lm = schema.latency_marks
_MARKS = Hot(select(_lm.c.decided, _lm.c.below, _lm.c.above, _lm.c.max_below, _lm.c.min_above).where(
    _lm.c.playbook == bindparam("playbook"), _lm.c.period == bindparam("period"),
    _lm.c.threshold == bindparam("threshold")))


def _add_marks(dialect: Any, greatest: Any, least: Any) -> Any:
    """INSERT a week's marks around a threshold, or fold them into the row already there."""
    stmt = dialect.insert(_lm)
    new = stmt.excluded

    def either(fold: Any, column: str) -> Any:  # NULL means "no value on that side yet"
        return fold(func.coalesce(_lm.c[column], new[column]), func.coalesce(new[column], _lm.c[column]))

    return stmt.on_conflict_do_update(
        index_elements=[_lm.c.playbook, _lm.c.period, _lm.c.threshold],
        set_={"decided": _lm.c.decided + new.decided, "below": _lm.c.below + new.below,
              "above": _lm.c.above + new.above, "max_below": either(greatest, "max_below"),
              "min_above": either(least, "min_above")})


@functools.cache
def _upserts(dialect_name: str) -> dict[str, Hot]:
    """The running-count upserts in one dialect's spelling, built on first use (INSERT ... ON CONFLICT)."""
    dialect = importlib.import_module(f"sqlalchemy.dialects.{dialect_name}")
    greatest, least = (func.max, func.min) if dialect_name == "sqlite" else (func.greatest, func.least)
    return {"counts": Hot(_add_counts(dialect), by_columns=True), "load": Hot(_add_load(dialect), by_columns=True),
            "marks": Hot(_add_marks(dialect, greatest, least), by_columns=True)}


_POSITIONS = {
    "sqlite": ("json_each(:at) AS p", "json_extract(p.value, '$[0]')", "json_extract(p.value, '$[1]')",
               "json_extract(p.value, '$[2]')"),
    "postgresql": ("jsonb_array_elements(CAST(:at AS jsonb)) AS p", "(p->>0)", "CAST(p->>1 AS integer)", "(p->>2)"),
}
"""Chain positions sent as one JSON parameter, `[[chain, length, hash], ...]`, unpacked by each dialect's JSON
functions: a checkpoint of many chains costs one index probe each inside the database, not a statement each."""


def _position_queries(dialect: str) -> dict[str, Any]:
    rows, chain, length, head = _POSITIONS[dialect]
    return {
        "links": text(f"SELECT e.chain, e.chain_seq, e.seq, e.hash FROM {rows} "
                      f"JOIN events AS e ON e.chain = {chain} AND e.chain_seq = {length}"),
        "astray": text(f"SELECT {chain}, {length}, e.seq, e.hash FROM {rows} LEFT JOIN events AS e "
                       f"ON e.chain = {chain} AND e.chain_seq = {length} WHERE e.hash IS NULL OR e.hash <> {head}"),
        "moved": text(f"SELECT c.id, c.length, c.hash FROM {rows} JOIN chains AS c ON c.id = {chain} "
                      f"WHERE c.length <> {length} OR c.hash <> {head}"),
        "new": text(f"SELECT c.id, c.length, c.hash FROM chains AS c WHERE c.id NOT IN (SELECT {chain} FROM {rows})"),
    }


_QUERIES_BY_DIALECT = {name: _position_queries(name) for name in _POSITIONS}

_EVENT_KEYS = tuple(str(column.name) for column in schema.events.columns)


def _event_row(row: Any) -> dict[str, Any]:
    """An event row as a dict with plain `str` keys (SQLAlchemy's are a str subclass, which orjson, on the
    hashing fast path, does not take as keys)."""
    return dict(zip(_EVENT_KEYS, row, strict=True))


_MAX_VERSION = 2**31 - 1

_PLAYBOOK_CACHE: dict[tuple[str, str, int], Playbook] = {}
_DIRECTORY_CACHE: dict[tuple[str, int], Directory] = {}


def event_hash(stored: Mapping[str, Any]) -> str:
    """SHA-256 over the RFC 8785 canonical JSON of the event without `hash`."""
    return hashlib.sha256(canonical_json(stored)).hexdigest()


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

    def close(self) -> None:
        if self._writers is not None:
            self._writers.close()
        self.engine.dispose()


def _in_range(query: Any, column: Any, low: str | None, high: str | None) -> Any:
    if low is not None:
        query = query.where(column >= low)
    if high is not None:
        query = query.where(column < high)
    return query


def _task_row(task: TaskState, ord_: int) -> dict[str, Any]:
    row = {name: getattr(task, name) for name in _TASK_COLUMNS}
    row["status"] = str(task.status)
    row["pulled_in"] = list(task.pulled_in) or None
    row["ord"] = ord_
    return row


def _recommendation_from(x: Any) -> Recommendation:
    return Recommendation(task=x.task, step=x.step, attempt=x.attempt, actor=x.actor, outcome=x.outcome,
                          rationale=x.rationale, data_hash=x.data_hash, at=x.at)


def _run_from(row: Any, tasks: Sequence[TaskState], recs: Sequence[Recommendation]) -> RunState:
    return RunState(id=row.id, playbook=row.playbook, version=row.version, status=RunStatus(row.status),
                    started_by=row.started_by, started_at=row.started_at, ended_at=row.ended_at, input=row.input,
                    why=row.why, tasks=tuple(tasks), recommendations=tuple(recs),
                    attachments=tuple(Attachment.from_dict(a) for a in row.attachments or ()), held=bool(row.held))


def _marks_from(row: Any) -> Marks:
    return Marks(decided=row.decided, below=row.below, above=row.above, max_below=row.max_below,
                 min_above=row.min_above)


def _task_from(row: Any) -> TaskState:
    values = row._asdict()
    values.pop("ord", None)
    values["status"] = TaskStatus(values["status"])
    values["escalated"] = bool(values["escalated"])
    values["blocked"] = bool(values["blocked"])
    values["pulled_in"] = tuple(values["pulled_in"] or ())
    return TaskState(**values)


class Tx:
    """Operations inside one transaction. Implements the routing `Workload` view."""

    def __init__(self, conn: Connection, url: str, clock: str = "real", *, write: bool = False,
                 settings: Settings | None = None, cache: RunCache | None = None):
        self.conn = conn
        self._cache = cache
        self.url = url
        self.write = write
        self.settings = settings or Settings()
        self.simulated = clock == "simulated"
        self._now: datetime | None = None
        self._directory_version: int | None = None  # read once per transaction, with its first run
        self._earliest_new_timer: str | None = None  # due time of the earliest timer set since last taken
        self._last_seq: int | None = None  # SQLite: the last seq this transaction handed out
        # chain heads this transaction read (and locked) and moved: {chain: (length, hash)}, with the length each
        # had in the database (None: no head row yet); stored by `flush`, or before a read of the heads
        self._heads: dict[str, tuple[int, str]] = {}
        self._runs: dict[str, RunState] = {}  # the last runs read (locked, in a write) or saved: see `_keep`
        self._saved: set[str] = set()  # runs this transaction saved, and chains it appended to: `committed` keeps
        self._moved: set[str] = set()  # a saved run whose chain moved, and drops the others
        self._stored_length: dict[str, int | None] = {}
        # running counts not yet stored (see `flush`): open tasks gained (+) or lost (-) per assignee, week counts
        # per (playbook, week), latency marks per (playbook, week, threshold)
        self._load: dict[str, int] = {}
        self._counts: dict[tuple[str, str], dict[str, int]] = {}
        self._marks: dict[tuple[str, str, float], Marks] = {}

    def flush(self) -> None:
        """Store the running counts the transaction kept in memory, just before it commits.

        On PostgreSQL a count row stays locked from its update to the commit: written last, each kind in key
        order, commands that touch one week or one assignee queue only for that moment, and cannot deadlock
        on the counts.
        """
        self._store_heads()
        upserts = _upserts(self.conn.dialect.name)
        counts, marks, load = sorted(self._counts.items()), sorted(self._marks.items()), sorted(self._load.items())
        self._counts, self._marks, self._load = {}, {}, {}
        if counts:
            upserts["counts"].run(self.conn, [{"playbook": playbook, "period": period, **values}
                                                  for (playbook, period), values in counts])
        if marks:
            upserts["marks"].run(self.conn, [
                {"playbook": playbook, "period": period, "threshold": threshold, "decided": m.decided,
                 "below": m.below, "above": m.above, "max_below": m.max_below, "min_above": m.min_above}
                for (playbook, period, threshold), m in marks])
        moved = [{"actor": actor, "open": delta} for actor, delta in load if delta]
        if moved:
            upserts["load"].run(self.conn, moved)

    def _track(self, before: Iterable[TaskState], after: Iterable[TaskState]) -> None:
        """Count the open tasks each assignee gains and loses between two versions of some tasks."""
        for tasks, sign in ((before, -1), (after, 1)):
            for task in tasks:
                if task.assignee is not None and task.status in OPEN_TASK:
                    self._load[task.assignee] = self._load.get(task.assignee, 0) + sign

    # -------------------------------------------------------------------------------- clock

    def now(self) -> datetime:
        """The database clock: the simulated time, or the real UTC time (fixed for the transaction)."""
        if self._now is None:
            if self.simulated:
                self._now = parse_time(str(_HOT_NOW.scalar(self.conn)))
            else:
                self._now = datetime.now(UTC)
        return self._now

    def move_clock(self, moment: datetime) -> None:
        """The time this transaction's events carry from now on; `set_clock` stores it."""
        self._now = moment

    def set_clock(self, moment: datetime) -> None:
        self.conn.execute(_SET_NOW, {"now": format_time(moment)})
        self._now = moment

    # ---------------------------------------------------------------------------- directory

    def directory_version(self) -> int:
        return int(self.conn.execute(_DIRECTORY_VERSION).scalar() or 0)

    def directory(self) -> Directory | None:
        if self._directory_version is not None:  # read with the command's run
            version = self._directory_version
        elif self.simulated and self._now is None:  # a command reads both: one round trip
            version, now = _HOT_DIRECTORY_VERSION_AND_NOW.first(self.conn)
            version, self._now = int(version or 0), parse_time(str(now))
        else:
            version = self.directory_version()
        self._directory_version = version  # read once per transaction
        if not version:
            return None
        key = (self.url, version)
        if key not in _DIRECTORY_CACHE:
            data = self.conn.execute(select(schema.directory_versions.c.data)
                                     .where(schema.directory_versions.c.version == version)).scalar_one()
            _DIRECTORY_CACHE[key] = load_directory(Source(data=data))[0]
        return _DIRECTORY_CACHE[key]

    def directory_row(self) -> Any:
        """The newest directory version's row (version, digest, data, loaded_at), or None."""
        d = schema.directory_versions
        return self.conn.execute(select(d).order_by(d.c.version.desc()).limit(1)).one_or_none()

    def save_directory(self, data: Any, digest: str, at: str) -> int:
        version = self.directory_version() + 1
        self.conn.execute(insert(schema.directory_versions).values(version=version, digest=digest, data=data,
                                                                   loaded_at=at))
        self._directory_version = version
        return version

    # ---------------------------------------------------------------------------- playbooks

    def playbook(self, playbook_id: str, version: int | None = None) -> tuple[Playbook, int]:
        """A published playbook (the newest version unless one is named), parsed once per process."""
        t = schema.playbooks
        if version is None:
            version = _HOT_LATEST_PLAYBOOK.scalar(self.conn, {"playbook": playbook_id})
            if version is None:
                raise NotFound(f"no published playbook {playbook_id!r}", rule="unknown-playbook")
        if not 1 <= version <= _MAX_VERSION:  # no such version, and a database integer could not even hold it
            raise NotFound(f"playbook {playbook_id!r} has no version {version}", rule="unknown-version")
        key = (self.url, playbook_id, version)
        if key not in _PLAYBOOK_CACHE:
            row = self.conn.execute(select(t.c.data, t.c.file).where(t.c.id == playbook_id, t.c.version == version)
                                    ).one_or_none()
            if row is None:
                raise NotFound(f"playbook {playbook_id!r} has no version {version}", rule="unknown-version")
            _PLAYBOOK_CACHE[key] = load_playbook(Source(data=row.data, file=row.file))
        return _PLAYBOOK_CACHE[key], version

    def playbook_versions(self, playbook_id: str) -> list[Any]:
        t = schema.playbooks
        return list(self.conn.execute(select(t).where(t.c.id == playbook_id).order_by(t.c.version)))

    def insert_playbook(self, row: dict[str, Any]) -> None:
        self.conn.execute(insert(schema.playbooks).values(**row))

    def list_playbooks(self) -> list[Any]:
        t = schema.playbooks
        latest = select(t.c.id, func.max(t.c.version).label("version"), func.count().label("versions")).group_by(t.c.id)
        return list(self.conn.execute(latest.order_by(t.c.id)))

    def governance(self, playbook_id: str) -> Any:
        return _HOT_GOVERNANCE.first(self.conn, {"playbook": playbook_id})

    def set_governance(self, playbook_id: str, **values: Any) -> None:
        g = schema.governance
        if self.governance(playbook_id) is None:
            self.conn.execute(insert(g).values(playbook=playbook_id, **values))
        else:
            self.conn.execute(update(g).where(g.c.playbook == playbook_id).values(**values))

    def lock_governance(self, playbook_id: str) -> None:
        """Hold the playbook's governance row until commit (PostgreSQL; SQLite serializes writers anyway), so
        that governance decisions on one playbook read the state the one before them left."""
        g = schema.governance
        self.conn.execute(select(g.c.playbook).where(g.c.playbook == playbook_id).with_for_update())

    def autonomy(self, playbook_id: str | None = None) -> Autonomy:
        """The owners' autonomy decisions in force on a playbook's agents (every playbook's when None)."""
        a = schema.agent_autonomy
        query = select(a).order_by(a.c.playbook, a.c.step, a.c.agent)
        if playbook_id is not None:
            query = query.where(a.c.playbook == playbook_id)
        return Autonomy(tuple(
            AgentAutonomy(playbook=row.playbook, step=row.step, agent=row.agent, limit=row.limit_value,
                          withdrawn=bool(row.withdrawn), decided_by=row.decided_by, decided_at=row.decided_at,
                          rationale=row.rationale) for row in self.conn.execute(query)))

    def save_autonomy(self, entry: AgentAutonomy) -> None:
        """Insert or replace the state row of one agent's autonomy at one step."""
        a = schema.agent_autonomy
        key = (a.c.playbook == entry.playbook, a.c.step == entry.step, a.c.agent == entry.agent)
        values = {"limit_value": entry.limit, "withdrawn": entry.withdrawn, "decided_by": entry.decided_by,
                  "decided_at": entry.decided_at, "rationale": entry.rationale}
        if self.conn.execute(update(a).where(*key).values(**values)).rowcount == 0:
            self.conn.execute(insert(a).values(playbook=entry.playbook, step=entry.step, agent=entry.agent, **values))

    # --------------------------------------------------------------------------------- runs

    def load_run(self, run_id: str) -> RunState:
        if run_id in self._runs:  # read already in this transaction (an access check, then the command)
            return self._runs[run_id]
        row = (_HOT_RUN_LOCKED if self.write else _HOT_RUN).first(self.conn, {"run": run_id})
        if row is None:
            raise NotFound(f"unknown run {run_id!r}", rule="unknown-run")
        return self._run_state(row)

    def load_task_run(self, task_id: str) -> RunState | None:
        """The run of a task, as `load_run`; None for a task without a run (a review or follow-up).

        The run row is found through the task in the same statement (and locked, in a write).
        """
        for run in self._runs.values():
            if run.task(task_id) is not None:
                return run
        run_id = None if self._cache is None else self._cache.run_of_task(task_id)
        if run_id is not None:
            return self.load_run(run_id)
        row = (_HOT_TASK_RUN_LOCKED if self.write else _HOT_TASK_RUN).first(self.conn, {"task": task_id})
        if row is None:
            run_id = self.run_of_task(task_id)
            return None if run_id is None else self.load_run(run_id)
        return self._run_state(row)

    def _run_state(self, row: Any) -> RunState:
        """A run from its row (read with the directory version and the clock, kept for this transaction)."""
        if self._directory_version is None:
            self._directory_version = int(row.directory_version or 0)
        if self.simulated and self._now is None:
            self._now = parse_time(str(row.clock_now))
        if self.write and self._last_seq is None and self.conn.dialect.name == "sqlite":
            self._last_seq = int(row.last_seq or 0)
        # the kept run serves while its stored head is the one it was kept for; not for a run this transaction
        # has saved or whose head it has read or moved (its rows may hold its writes, its stored head not yet)
        head = None
        if (self._cache is not None and row.head_hash is not None and row.id not in self._heads
                and row.id not in self._saved):
            head = str(row.head_hash)
            if self.write:  # the head `append` would read next (SQLite: the whole database is locked already)
                self._heads[row.id] = (row.head_length, head)
                self._stored_length[row.id] = row.head_length
            kept = self._cache.get(row.id, head)
            if kept is not None:
                self._keep(kept)
                return kept
        tasks = [_task_from(x) for x in _HOT_RUN_TASKS.rows(self.conn, {"run": row.id})]
        recs = []
        if any(t.type == "decision" for t in tasks):  # only decision tasks take recommendations
            recs = [_recommendation_from(x) for x in _HOT_RUN_RECS.rows(self.conn, {"run": row.id})]
        run = _run_from(row, tasks, recs)
        self._keep(run)
        if head is not None and self._cache is not None:
            self._cache.put(head, run)
        return run

    def committed(self) -> None:
        """After the commit: keep the runs this transaction saved under the heads it moved them to. A run saved
        without an event of its own (or no longer in memory) is dropped: its head would not tell it changed."""
        if self._cache is None:
            return
        for run_id in self._saved:
            run = self._runs.get(run_id)
            if run is not None and run_id in self._moved:
                self._cache.put(self._heads[run_id][1], run)
            else:
                self._cache.drop(run_id)

    def _keep(self, run: RunState) -> None:
        """Remember a run for the rest of the transaction (a command reads the run its access check read). Only
        the last few: a transaction over many runs (a directory reload) must not hold them all in memory; a
        run no longer kept is read again, with what this transaction wrote."""
        self._runs.pop(run.id, None)
        self._runs[run.id] = run
        if len(self._runs) > _RUNS_KEPT:
            del self._runs[next(iter(self._runs))]

    def run_flag_events(self, run_id: str) -> list[tuple[str, Any, Any]]:
        """(type, authority, data) of the run's events that the scorecard's flags read."""
        return [(row.type, row.authority, row.data) for row in _HOT_RUN_FLAG_EVENTS.rows(self.conn, {"run": run_id})]

    def event_data(self, type_: str, start: str, end: str) -> list[Any]:
        """The `data` of the events of one type in [start, end): what risk triggers read after every run end."""
        return [row.data for row in _HOT_EVENT_DATA.rows(self.conn, {"type": type_, "start": start, "end": end})]

    def run_of_task(self, task_id: str) -> str | None:
        """The run a task belongs to; None for a task without a run (a review or follow-up)."""
        run = _HOT_RUN_OF_TASK.first(self.conn, {"task": task_id})
        if run is None:
            raise NotFound(f"unknown task {task_id!r}", rule="unknown-task")
        return None if run[0] is None else str(run[0])

    def save_run(self, before: RunState | None, after: RunState,
                 flags: tuple[bool, bool, bool] | None = None) -> None:
        """Write what changed between two states of one run; `flags` are the scorecard's, for a run that ends."""
        self._keep(after)
        self._saved.add(after.id)
        run_values: dict[str, Any] = {"status": str(after.status), "ended_at": after.ended_at}
        if flags is not None:
            run_values.update(zip(("exception", "reworked", "failed_check"), flags, strict=True))
        if before is None:
            _HOT_INSERT_RUN.run(self.conn, {"id": after.id, "playbook": after.playbook, "version": after.version,
                                             "started_by": after.started_by, "started_at": after.started_at,
                                             "input": after.input, "why": after.why,
                                             "attachments": records(after.attachments), "held": after.held or None,
                                             **run_values})
        else:
            changed = (before.status, before.ended_at) != (after.status, after.ended_at) or flags is not None
            if (before.attachments, before.held) != (after.attachments, after.held):
                run_values.update(attachments=records(after.attachments), held=after.held or None)
                changed = True
            if changed:
                _HOT_UPDATE_RUN.run(self.conn, {"run_id": after.id, **run_values})
        self._reference(before, after)
        old = {t.id: t for t in (before.tasks if before else ())}
        self._track(old.values(), after.tasks)
        new_rows = []
        for index, task in enumerate(after.tasks):
            if task.id not in old:
                new_rows.append(_task_row(task, index))
        self._update_tasks((old[t.id], t) for t in after.tasks if t.id in old and old[t.id] != t)
        if new_rows:
            _HOT_INSERT_TASKS.run(self.conn, new_rows)
        old_recs = set(before.recommendations if before else ())
        for rec in after.recommendations:
            if rec in old_recs:
                continue
            rt = schema.recommendations
            self.conn.execute(rt.delete().where(rt.c.task == rec.task, rt.c.actor == rec.actor))
            self.conn.execute(insert(rt).values(task=rec.task, actor=rec.actor, run=after.id, step=rec.step,
                                                attempt=rec.attempt, outcome=rec.outcome, rationale=rec.rationale,
                                                data_hash=rec.data_hash, at=rec.at))

    def _reference(self, before: RunState | None, after: RunState) -> None:
        """Index the documents the run refers to for the first time (see `schema.attachments`)."""
        known = {a.sha256 for a in (before.attachments if before else ())}
        new = [{"sha256": sha, "run": after.id} for sha in dict.fromkeys(a.sha256 for a in after.attachments)
               if sha not in known]
        if new:
            self.conn.execute(insert(schema.attachments), new)

    def _update_tasks(self, changes: Iterable[tuple[TaskState, TaskState]]) -> None:
        """Write each changed task's changed columns: one batch per set of columns."""
        batches: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for previous, task in changes:
            changed = {c: getattr(task, c) for c in _MUTABLE if getattr(previous, c) != getattr(task, c)}
            if "status" in changed:
                changed["status"] = str(task.status)
            if "pulled_in" in changed:
                changed["pulled_in"] = list(task.pulled_in)
            batches.setdefault(tuple(changed), []).append({**changed, "task_id": task.id})
        for rows in batches.values():
            _HOT_UPDATE_TASK.run(self.conn, rows)

    def count_period(self, playbook: str, period: str, counts: Mapping[str, int]) -> None:
        """Add to the running counts of one playbook's ISO week (see `schema.period_counts`), at `flush`."""
        pending = self._counts.setdefault((playbook, period), dict.fromkeys(PERIOD_COUNTS, 0))
        for name in PERIOD_COUNTS:
            pending[name] += counts.get(name, 0)

    def period_counts(self, playbook: str, period: str) -> dict[str, int]:
        """The running counts of one playbook's ISO week, with this transaction's; zeros for a week with none."""
        row = _PERIOD_COUNTS.first(self.conn, {"playbook": playbook, "period": period})
        stored = dict.fromkeys(PERIOD_COUNTS, 0) if row is None else dict(zip(PERIOD_COUNTS, row, strict=True))
        pending = self._counts.get((playbook, period), {})
        return {name: stored[name] + pending.get(name, 0) for name in PERIOD_COUNTS}

    def add_marks(self, playbook: str, period: str, marks: Mapping[float, Marks]) -> None:
        """Fold one command's decision latencies into a week's marks, one per threshold, at `flush`."""
        for threshold, found in marks.items():
            key = (playbook, period, threshold)
            self._marks[key] = self._marks[key].merged(found) if key in self._marks else found

    def latency_marks(self, playbook: str, period: str, threshold: float) -> Marks | None:
        """A week's marks around one threshold, with this transaction's; None when there are none."""
        row = _MARKS.first(self.conn, {"playbook": playbook, "period": period, "threshold": threshold})
        stored = None if row is None else _marks_from(row)
        pending = self._marks.get((playbook, period, threshold))
        return pending if stored is None else stored if pending is None else stored.merged(pending)

    # ------------------------------------------------------------------------------- events

    def append(self, events: Sequence[Event]) -> list[dict[str, Any]]:
        """Append events to their chains (the run's, or `system`) and move the heads, in this transaction.

        A chain's head is read and locked at the transaction's first append to it, kept here while later
        appends move it, and written once, just before the commit (`flush`).
        """
        if not events:
            return []
        heads = self._heads
        missing = sorted({event.run or schema.SYSTEM_CHAIN for event in events} - heads.keys())
        for size, binds in _id_lists(missing):
            for row in _by_ids("heads", size).rows(self.conn, binds):
                heads[row.id] = (row.length, row.hash)
                self._stored_length[row.id] = row.length
        for chain in missing:
            self._stored_length.setdefault(chain, None)
        seqs = iter(self._next_seqs(len(events)))
        rows = []
        for event in events:
            chain = event.run or schema.SYSTEM_CHAIN
            length, prev = heads.get(chain, (0, ZERO_HASH))
            stored = record(event, next(seqs), chain, length + 1, prev)
            try:
                stored["hash"] = digest = event_hash(stored)
            except ValueError as exc:  # the input gate lets nothing through that has no canonical form
                raise LimitExceeded(f"event {event.type} has no canonical form: {exc}", rule="not-canonical",
                                    details={"event": event.type}) from exc
            heads[chain] = (length + 1, digest)
            self._moved.add(chain)
            rows.append(stored)
        _HOT_INSERT_EVENTS.run(self.conn, rows)
        return rows

    def _store_heads(self) -> None:
        """Write the heads this transaction moved: new chains' rows, and each moved head from the length read."""
        moved = [(chain, head) for chain, head in sorted(self._heads.items())
                 if self._stored_length[chain] != head[0]]
        new = [{"id": c, "length": n, "hash": h} for c, (n, h) in moved if self._stored_length[c] is None]
        if new:
            _HOT_NEW_HEADS.run(self.conn, new)
        for chain, (length, digest) in moved:
            old_length = self._stored_length[chain]
            if old_length is not None and _HOT_MOVE_HEAD.run(self.conn, {
                    "chain": chain, "old_length": old_length, "new_length": length, "new_hash": digest}) != 1:
                raise Conflict("another command appended to the log first; try again", rule="conflict")
            self._stored_length[chain] = length

    def _next_seqs(self, n: int) -> list[int]:
        """`n` fresh global seqs: drawn from a sequence on PostgreSQL, max + 1 under SQLite's one writer."""
        if self.conn.dialect.name == "postgresql":
            return [int(row[0]) for row in _HOT_NEXT_SEQS.rows(self.conn, {"n": n})]
        if self._last_seq is None:  # read once per transaction: no other writer can append until it ends
            self._last_seq = int(_HOT_LAST_SEQ.scalar(self.conn) or 0)
        self._last_seq += n
        return list(range(self._last_seq - n + 1, self._last_seq + 1))

    def last_event_seq(self, type_: str, match: Mapping[str, str]) -> int | None:
        """The seq of the latest event of a type whose `data` has these string values; None when there is none."""
        e = schema.events
        query = select(func.max(e.c.seq)).where(e.c.type == type_,
                                                *(e.c.data[key].as_string() == value for key, value in match.items()))
        found = self.conn.execute(query).scalar()
        return None if found is None else int(found)

    def agent_recommendations(self, playbook_id: str, agent: str, step: str
                              ) -> tuple[list[tuple[str, int, str]], dict[str, tuple[int, str]]]:
        """An agent's recommendations at a step of a playbook's runs, (run, attempt, outcome) in log order, and
        per run of theirs the step's last decision, (seq, outcome): what its agreement is measured on."""
        e, r = schema.events, schema.runs
        mine = (e.c.type == "recommendation.recorded", e.c.actor == agent, e.c.step == step,
                e.c.run.in_(select(r.c.id).where(r.c.playbook == playbook_id)))
        recommended = [(str(row.run), int(row.data.get("attempt", 1)), str(row.data["outcome"])) for row in
                       self.conn.execute(select(e.c.run, e.c.data).where(*mine).order_by(e.c.seq))]
        mine_runs = select(e.c.run).where(*mine).scalar_subquery()
        final: dict[str, tuple[int, str]] = {}
        for row in self.conn.execute(select(e.c.run, e.c.seq, e.c.data).where(
                e.c.type == "task.decided", e.c.step == step, e.c.run.in_(mine_runs)).order_by(e.c.seq)):
            final[str(row.run)] = (int(row.seq), str(row.data["outcome"]))
        return recommended, final

    def events_of_type(self, type_: str, start: str, end: str) -> list[dict[str, Any]]:
        e = schema.events
        query = select(e).where(e.c.type == type_, e.c.at >= start, e.c.at < end).order_by(e.c.seq)
        return [_event_row(row) for row in self.conn.execute(query)]

    def chain_heads(self, low: str | None = None, high: str | None = None) -> dict[str, tuple[int, str]]:
        """Every chain's head, {chain: (length, hash)}; only chains with ids in [low, high) when given."""
        self._store_heads()
        return {row.id: (row.length, row.hash) for row in self.conn.execute(_in_range(select(_h), _h.c.id, low, high))}

    def chain_bounds(self, parts: int) -> list[str | None]:
        """Chain ids that cut the chains into `parts` ranges of about equal count: [None, id, ..., None]."""
        self._store_heads()
        total = int(self.conn.execute(select(func.count()).select_from(_h)).scalar() or 0)
        if parts <= 1 or total < parts:
            return [None, None]
        cuts = [self.conn.execute(select(_h.c.id).order_by(_h.c.id).offset(total * k // parts).limit(1)).scalar()
                for k in range(1, parts)]
        return [None, *dict.fromkeys(str(c) for c in cuts), None]

    def event_total(self) -> int:
        """The events the chain heads account for (one row per chain, not a scan of the log)."""
        self._store_heads()
        return int(self.conn.execute(select(func.coalesce(func.sum(_h.c.length), 0))).scalar() or 0)

    def chain_head(self, chain: str) -> tuple[int, str]:
        """One chain's head (length, hash); (0, zeros) for a chain with no events."""
        self._store_heads()
        row = self.conn.execute(select(_h.c.length, _h.c.hash).where(_h.c.id == chain)).one_or_none()
        return (0, ZERO_HASH) if row is None else (int(row.length), str(row.hash))

    def chain_links(self, positions: Sequence[tuple[str, int]]) -> dict[tuple[str, int], tuple[int, str]]:
        """(seq, hash) of the event at each (chain, chain_seq) asked for that exists."""
        if not positions:
            return {}
        rows = self._positions("links", [[chain, length, ""] for chain, length in positions])
        return {(row[0], int(row[1])): (int(row[2]), str(row[3])) for row in rows}

    def heads_astray(self, heads: Mapping[str, tuple[int, str]]) -> dict[tuple[str, int], tuple[int, str] | None]:
        """The signed heads that are not in place: per (chain, length), the (seq, hash) found there instead,
        or None when the chain is shorter. Only the differences leave the database."""
        rows = self._positions("astray", [[chain, length, head] for chain, (length, head) in heads.items()])
        return {(row[0], int(row[1])): None if row[2] is None else (int(row[2]), str(row[3])) for row in rows}

    def heads_moved(self, heads: Mapping[str, tuple[int, str]]) -> dict[str, tuple[int, str]]:
        """The stored heads that differ from `heads`, and the chains `heads` does not name."""
        wanted = [[chain, length, head] for chain, (length, head) in heads.items()]
        return {row[0]: (int(row[1]), str(row[2])) for name in ("moved", "new")
                for row in self._positions(name, wanted)}

    def _positions(self, name: str, wanted: list[list[Any]]) -> list[Any]:
        self._store_heads()
        query = _QUERIES_BY_DIALECT[self.conn.dialect.name][name]
        return list(self.conn.execute(query, {"at": json.dumps(wanted)}))

    def chain_tail(self, chain: str, after: int) -> list[dict[str, Any]]:
        """One chain's events past position `after` (chain_seq), in chain order."""
        query = select(_e).where(_e.c.chain == chain, _e.c.chain_seq > after).order_by(_e.c.chain_seq)
        return [_event_row(row) for row in self.conn.execute(query)]

    def ledger_id(self) -> str | None:
        """The id `init` gave this ledger (checkpoints name it); None for a database made before ids."""
        value = self.conn.execute(select(schema.meta.c.value).where(schema.meta.c.key == "ledger")).scalar()
        return None if value is None else str(value)

    def set_ledger_id(self, value: str) -> None:
        self.conn.execute(insert(schema.meta).values(key="ledger", value=value))

    def event_count(self) -> int:
        return int(self.conn.execute(select(func.count()).select_from(_e)).scalar() or 0)

    def last_seq(self) -> int:
        return int(self.conn.execute(_LAST_SEQ).scalar() or 0)

    def chain_events(self, low: str | None = None, high: str | None = None) -> Iterator[dict[str, Any]]:
        """Every event (of the chains in [low, high)), chain by chain in chain order, streamed."""
        query = _in_range(select(_e), _e.c.chain, low, high).order_by(_e.c.chain, _e.c.chain_seq)
        for row in self.conn.execute(query.execution_options(stream_results=True, yield_per=2000)):
            yield _event_row(row)

    def events(self, run: str | None = None, after_seq: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        """Events in seq order; a run's events are its chain (seq rises along a chain, commits in its order)."""
        e = schema.events
        if run is not None:
            query = select(e).where(e.c.chain == run, e.c.seq > after_seq).order_by(e.c.chain_seq)
        else:
            query = select(e).where(e.c.seq > after_seq).order_by(e.c.seq)
        if limit is not None:
            query = query.limit(limit)
        return [_event_row(row) for row in self.conn.execute(query)]

    def events_of_runs(self, run_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The events of these runs' chains, in seq order (bounded IN lists)."""
        e = schema.events
        found: list[dict[str, Any]] = []
        for start in range(0, len(run_ids), 500):
            query = select(e).where(e.c.chain.in_(list(run_ids[start:start + 500])))
            found.extend(_event_row(row) for row in self.conn.execute(query))
        return sorted(found, key=lambda row: row["seq"])

    # ------------------------------------------------------------------- tasks without a run

    def standalone(self, *, playbook: str | None = None, step: str | None = None, open_only: bool = False,
                   ids: Sequence[str] | None = None) -> dict[str, TaskState]:
        """Reviews and follow-ups (tasks with no run), by id."""
        t = schema.tasks
        query = select(t).where(t.c.run.is_(None)).order_by(t.c.ready_at, t.c.id)
        if playbook is not None:
            query = query.where(t.c.playbook == playbook)
        if step is not None:
            query = query.where(t.c.step == step)
        if open_only:
            query = query.where(t.c.status.in_(_OPEN))
        if ids is not None:
            query = query.where(t.c.id.in_(list(ids)))
        return {row.id: _task_from(row) for row in self.conn.execute(query)}

    def save_standalone(self, before: dict[str, TaskState], after: dict[str, TaskState]) -> None:
        self._track(before.values(), after.values())
        new_rows = [_task_row(task, 0) for task_id, task in after.items() if task_id not in before]
        self._update_tasks((before[task_id], task) for task_id, task in after.items()
                           if task_id in before and before[task_id] != task)
        if new_rows:
            _HOT_INSERT_TASKS.run(self.conn, new_rows)

    def pending_timer(self, kind: str, playbook: str) -> bool:
        tm = schema.timers
        query = select(tm.c.id, tm.c.data).where(tm.c.kind == kind, tm.c.fired_at.is_(None))
        return any(row.data.get("playbook") == playbook for row in self.conn.execute(query))

    # ------------------------------------------------------------------------------- outbox

    def add_outbox(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            _HOT_INSERT_OUTBOX.run(self.conn, list(rows))

    def claim_outbox(self, now: str, lease_until: str, limit: int = 20) -> list[Any]:
        """Lease due messages to this worker; others skip them until the lease ends (SKIP LOCKED on PostgreSQL)."""
        o = schema.outbox
        due = (select(o).where(o.c.status == "pending", o.c.next_attempt_at <= now,
                               (o.c.lease_until.is_(None)) | (o.c.lease_until < now))
               .order_by(o.c.next_attempt_at, o.c.id).limit(limit).with_for_update(skip_locked=True))
        rows = list(self.conn.execute(due))
        if rows:
            self.conn.execute(update(o).where(o.c.id.in_([r.id for r in rows])).values(lease_until=lease_until))
        return rows

    def finish_outbox(self, message_id: int, **values: Any) -> bool:
        """Record a delivery or a retry for a still-pending message; False if it was settled already."""
        o = schema.outbox
        done = self.conn.execute(update(o).where(o.c.id == message_id, o.c.status == "pending").values(**values))
        return bool(done.rowcount == 1)

    def outbox(self, status: str | None = None) -> list[Any]:
        o = schema.outbox
        query = select(o).order_by(o.c.id)
        if status is not None:
            query = query.where(o.c.status == status)
        return list(self.conn.execute(query))

    # ------------------------------------------------------------------------------- timers

    def add_timers(self, timers: Sequence[Timer]) -> None:
        if timers:
            _HOT_INSERT_TIMERS.run(self.conn, [{"due_at": t.due_at, "kind": t.kind, "run": t.run, "task": t.task,
                                                "data": t.data} for t in timers])
            earliest = min(t.due_at for t in timers)
            self._earliest_new_timer = min(self._earliest_new_timer or earliest, earliest)

    def take_earliest_new_timer(self) -> str | None:
        """The due time of the earliest timer set since the last call, by any command in this transaction (a
        fired timer that sets another one due within the same advance: it must fire in its turn)."""
        earliest, self._earliest_new_timer = self._earliest_new_timer, None
        return earliest

    def due_timers(self, until: str, limit: int) -> list[Any]:
        """The earliest `limit` unfired timers due at or before `until` (ties by creation order), claimed."""
        return list(self.conn.execute(_DUE_TIMERS.limit(limit), {"until": until}))

    def mark_fired(self, timer_id: int, at: str) -> None:
        """Mark a claimed timer (read with `due_timers`) fired, before it fires: what it does sees it done."""
        _HOT_FIRE_TIMER.run(self.conn, {"timer_id": timer_id, "at": at})

    # ------------------------------------------------------------------------------ queries

    def assigned(self, playbook: str, step: str,
                 actors: Sequence[str]) -> tuple[Mapping[str, int], Mapping[str, Last]]:
        counts: dict[str, int] = {}
        last: dict[str, Last] = {}
        for start in range(0, len(actors), _CANDIDATES_PER_QUERY):
            chunk = actors[start:start + _CANDIDATES_PER_QUERY]
            binds = {f"a{index}": actor for index, actor in enumerate(chunk)}
            query = _assigned_query(len(chunk))
            for actor, count, ready_at, at_once in query.rows(self.conn,
                                                              {"playbook": playbook, "step": step, **binds}):
                counts[actor] = int(count or 0)
                if ready_at is not None:
                    last[actor] = (ready_at, int(at_once))
        for actor in actors:  # and what this transaction changed
            if self._load.get(actor):
                counts[actor] = counts.get(actor, 0) + self._load[actor]
        return counts, last

    def open_tasks_by_assignee(self) -> dict[str, int]:
        """Open tasks per assignee, counted from the task rows (what `workload` must say)."""
        query = (select(_t.c.assignee, func.count()).where(_t.c.status.in_(_OPEN), _t.c.assignee.is_not(None))
                 .group_by(_t.c.assignee))
        return {str(actor): int(n) for actor, n in self.conn.execute(query)}

    def all_period_counts(self) -> dict[tuple[str, str], dict[str, int]]:
        """Every stored week count by (playbook, ISO week), leaving out weeks that count nothing."""
        rows = self.conn.execute(select(_pc.c.playbook, _pc.c.period, *(_pc.c[c] for c in PERIOD_COUNTS)))
        return {(row[0], row[1]): dict(zip(PERIOD_COUNTS, row[2:], strict=True)) for row in rows if any(row[2:])}

    def all_latency_marks(self) -> dict[tuple[str, str, float], Marks]:
        """Every stored latency mark by (playbook, ISO week, threshold)."""
        return {(row.playbook, row.period, row.threshold): _marks_from(row) for row in self.conn.execute(select(_lm))}

    def workload(self) -> dict[str, int]:
        """The stored open-task count of every assignee that has one."""
        return {row.actor: int(row.open) for row in self.conn.execute(select(_w)) if row.open}

    def waiting_on_others(self, actor: str, limit: int | None = None) -> tuple[list[TaskState], int]:
        """Open tasks, held by someone else, of the runs `actor` started (one indexed join), oldest first:
        the first `limit` of them, and how many there are."""
        conditions = (_r.c.started_by == actor, _r.c.status == "running", _t.c.status.in_(_OPEN),
                      (_t.c.assignee.is_(None)) | (_t.c.assignee != actor))
        joined = _t.join(_r, _r.c.id == _t.c.run)
        query = select(_t).select_from(joined).where(*conditions).order_by(_t.c.ready_at, _t.c.id).limit(limit)
        tasks = [_task_from(row) for row in self.conn.execute(query)]
        if limit is None or len(tasks) < limit:
            return tasks, len(tasks)
        return tasks, int(self.conn.execute(select(func.count()).select_from(joined).where(*conditions)).scalar_one())

    def due_first(self, assignee: str, *, after: str | None = None, limit: int = 100) -> list[TaskState]:
        """An actor's open tasks, nearest deadline first (so overdue ones lead): a page after task `after`.

        Raises:
            NotFound: `after` is not one of the actor's tasks.
        """
        conditions = [_t.c.assignee == assignee, _t.c.status.in_(_OPEN)]
        if after is not None:
            key = self.conn.execute(select(_DEADLINE).where(_t.c.id == after, _t.c.assignee == assignee)).scalar()
            if key is None:
                raise NotFound(f"{after!r} is not a task of {assignee}'s inbox", rule="bad-cursor")
            conditions.append(tuple_(_DEADLINE, _t.c.id) > tuple_(key, after))
        query = select(_t).where(*conditions).order_by(_DEADLINE, _t.c.id).limit(limit)
        return [_task_from(row) for row in self.conn.execute(query)]

    def open_count(self, assignee: str) -> int:
        """How many open tasks an actor holds (the running count routing reads)."""
        return int(self.conn.execute(select(_w.c.open).where(_w.c.actor == assignee)).scalar() or 0)

    def tasks(
        self, *, assignee: str | None = None, run: str | None = None, status: str | None = None,
        task: str | None = None, after: tuple[str, str] | None = None, limit: int | None = None,
    ) -> list[TaskState]:
        """Tasks oldest ready first; a page of them after the (ready_at, id) `after` when asked."""
        t = schema.tasks
        conditions = [] if task is None else [t.c.id == task]
        if after is not None:
            conditions.append(tuple_(t.c.ready_at, t.c.id) > tuple_(*after))
        if assignee is not None:
            conditions.append(t.c.assignee == assignee)
        if run is not None:
            conditions.append(t.c.run == run)
        if status == "open":
            conditions.append(t.c.status.in_(["ready", "in_progress"]))
        elif status is not None:
            conditions.append(t.c.status == status)
        query = select(t).where(and_(True, *conditions)).order_by(t.c.ready_at, t.c.id).limit(limit)
        return [_task_from(row) for row in self.conn.execute(query)]

    def runs(self, *, playbook: str | None = None, status: str | None = None,
             started: tuple[str, str] | None = None) -> list[Any]:
        """Runs oldest first; `started` = (start, end): only those started in [start, end)."""
        r = schema.runs
        query = select(r).order_by(r.c.started_at, r.c.id)
        if playbook is not None:
            query = query.where(r.c.playbook == playbook)
        if status is not None:
            query = query.where(r.c.status == status)
        if started is not None:
            query = query.where(r.c.started_at >= started[0], r.c.started_at < started[1])
        return list(self.conn.execute(query))

    def runs_with_open_tasks(self, assignees: Sequence[str] | None = None) -> list[str]:
        """Runs holding open tasks (of these assignees, when given), oldest task first."""
        t = schema.tasks
        query = select(t.c.run).where(t.c.status.in_(_OPEN), t.c.run.is_not(None))
        if assignees is not None:
            query = query.where(t.c.assignee.in_(list(assignees)))
        return list(dict.fromkeys(str(row[0]) for row in self.conn.execute(query.order_by(t.c.ready_at))))

    def open_runs(self, playbook: str) -> int:
        r = schema.runs
        return int(self.conn.execute(select(func.count()).where(r.c.playbook == playbook,
                                                                r.c.status == "running")).scalar() or 0)

    def runs_by_id(self, ids: Sequence[str], *, lock: bool = False) -> dict[str, RunState]:
        """These runs with their tasks and recommendations, three queries per 512 runs (verification, timer
        batches).

        `lock` first locks the run rows in id order, as one command locks its run (PostgreSQL).
        """
        found: dict[str, RunState] = {}
        for size, binds in _id_lists(ids):
            if lock:
                _by_ids("lock", size).rows(self.conn, binds)
            tasks: dict[str, list[TaskState]] = {}
            for x in _by_ids("tasks", size).rows(self.conn, binds):
                tasks.setdefault(x.run, []).append(_task_from(x))
            recs: dict[str, list[Recommendation]] = {}
            for x in _by_ids("recommendations", size).rows(self.conn, binds):
                recs.setdefault(x.run, []).append(_recommendation_from(x))
            found.update({row.id: _run_from(row, tasks.get(row.id, []), recs.get(row.id, []))
                          for row in _by_ids("runs", size).rows(self.conn, binds)})
        return found

    def stored_flags(self, ids: Sequence[str]) -> dict[str, tuple[bool | None, bool | None, bool | None]]:
        """The scorecard flags (exception, reworked, failed_check) stored on these runs (null until they end)."""
        query = select(_r.c.id, _r.c.exception, _r.c.reworked, _r.c.failed_check).where(_r.c.id.in_(ids))

        def flag(value: Any) -> bool | None:
            return None if value is None else bool(value)

        return {row.id: (flag(row.exception), flag(row.reworked), flag(row.failed_check))
                for row in self.conn.execute(query)} if ids else {}

    def runs_with_documents(self, *, ended: bool) -> list[str]:
        """Runs that refer to documents (only those that ended, with `ended`), by id."""
        query = select(_r.c.id).where(_r.c.id.in_(select(schema.attachments.c.run)))
        if ended:
            query = query.where(_r.c.ended_at.is_not(None))
        return [str(x) for x in self.conn.execute(query.order_by(_r.c.id)).scalars()]

    def runs_referencing(self, sha256: str) -> list[str]:
        """The runs a document is attached to, by id."""
        a = schema.attachments
        return [str(x) for x in self.conn.execute(select(a.c.run).where(a.c.sha256 == sha256).order_by(a.c.run))
                .scalars()]

    def referenced(self, hashes: Sequence[str]) -> set[str]:
        """Which of these documents some run refers to."""
        a = schema.attachments
        found: set[str] = set()
        for start in range(0, len(hashes), _IDS_PER_QUERY):
            chunk = list(hashes[start:start + _IDS_PER_QUERY])
            found.update(str(x) for x in self.conn.execute(select(a.c.sha256).where(a.c.sha256.in_(chunk))).scalars())
        return found

    def record_upload(self, sha256: str, actor: str, name: str, at: str) -> None:
        """Remember who uploaded a document through the API, under which name (the latest upload's)."""
        u = schema.uploads
        if self.uploaded(sha256, actor) is None:
            self.conn.execute(insert(u).values(sha256=sha256, actor=actor, name=name, at=at))
        else:
            self.conn.execute(update(u).where(u.c.sha256 == sha256, u.c.actor == actor).values(name=name, at=at))

    def uploaded(self, sha256: str, actor: str) -> str | None:
        """The name under which `actor` uploaded the document, or None when it did not."""
        u = schema.uploads
        name = self.conn.execute(select(u.c.name).where(u.c.sha256 == sha256, u.c.actor == actor)).scalar()
        return None if name is None else str(name)

    def forget_uploads(self, sha256: str) -> None:
        """Drop the upload records of a document whose bytes are gone (the orphan sweep)."""
        self.conn.execute(schema.uploads.delete().where(schema.uploads.c.sha256 == sha256))

    def runs_without_chain(self) -> list[str]:
        """Runs that have a row but no events: state the log cannot account for."""
        return [str(x) for x in self.conn.execute(
            select(_r.c.id).where(~select(_h.c.id).where(_h.c.id == _r.c.id).exists())).scalars()]
