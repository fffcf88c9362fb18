"""Running counts: open tasks per assignee, week counts and latency marks per playbook, and routing's reads of them.

A transaction adds to them in memory; `_store_counts` writes them just before the commit (see `store.Tx.flush`).
"""

from __future__ import annotations

import functools
import importlib
import itertools
import random
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy import ARRAY, String, bindparam, func, select, union_all

from ledgerflow.domain.figures import Marks
from ledgerflow.domain.routing import Last
from ledgerflow.storage import schema
from ledgerflow.storage.hot import Hot
from ledgerflow.storage.rows import OPEN, marks_from
from ledgerflow.storage.transaction import TxBase

_t = schema.tasks
_w = schema.workload


LISTED_FROM = 8
"""Candidates from which routing binds them as one list; fewer are bound one by one (see `_assigned_query`)."""


def _candidate_row(actor: Any, listed: Any = None) -> Any:
    """Routing's two questions for one candidate (a bound name, or the column of a `listed` row source): its
    running open-task count, when it was last given a task of this step and how many at that instant. Each is an
    indexed lookup (the max on `ix_tasks_step_assignee`'s last entry, then the entries equal to it), so the cost
    does not grow with the candidate's tasks."""
    def inner(query: Any) -> Any:  # a subquery two levels down correlates with the list only when told to
        return (query if listed is None else query.correlate(listed)).scalar_subquery()

    mine = (_t.c.playbook == bindparam("playbook"), _t.c.step == bindparam("step"), _t.c.assignee == actor)
    latest = select(func.max(_t.c.ready_at)).where(*mine)
    return select(actor.label("actor"), select(_w.c.open).where(_w.c.actor == actor).scalar_subquery(),
                  inner(latest), inner(select(func.count()).where(*mine, _t.c.ready_at == inner(latest))))


@functools.cache  # built once per size, or per dialect for a list, on first use
def _assigned_query(candidates: int, dialect: str) -> Hot:
    """Every candidate's answers in one round trip. A few are bound one by one (a0, a1, ...; a UNION of one SELECT
    each, one statement per number of candidates, which PostgreSQL plans once and reuses). From LISTED_FROM on,
    they are bound as one list (`actors`: PostgreSQL's `unnest` of an array, SQLite's `json_each` of a JSON
    array): the UNION grew superlinearly in both databases' planning and execution (16 terms 3.9 ms on
    PostgreSQL; 200 took 16 ms on SQLite and 290 ms on PostgreSQL, against 0.3–0.7 and 1.5 ms as a list); below
    it, the list costs PostgreSQL a plan per call (it estimates an array's rows only when it sees the array),
    more than the few terms' UNION, which it plans once and reuses."""
    if candidates < LISTED_FROM:
        rows = [_candidate_row(bindparam(f"a{index}", type_=String)) for index in range(candidates)]
        return Hot(union_all(*rows) if candidates > 1 else rows[0])
    if dialect == "postgresql":
        listed: Any = func.unnest(bindparam("actors", type_=ARRAY(String))).table_valued("value").render_derived()
    else:
        listed = func.json_each(bindparam("actors", type_=String)).table_valued("value")
    return Hot(_candidate_row(listed.c.value, listed).select_from(listed))


_pc = schema.period_counts
PERIOD_COUNTS = ("ended", "exceptions", "clean", "rework", "decided")
_PERIOD_COUNTS = Hot(select(*(func.sum(_pc.c[c]) for c in PERIOD_COUNTS)).where(
    _pc.c.playbook == bindparam("playbook"), _pc.c.period == bindparam("period")))
COUNT_SLOTS = 16
"""Rows per (playbook, week) the running counts are spread over (`schema.period_counts`); readers add them up."""
_SLOTS = itertools.count(random.randrange(COUNT_SLOTS))  # one process's transactions take the slots in turn


def _slot(dialect: str) -> int:
    """The slot a transaction adds its counts to. On PostgreSQL, concurrent transactions that end runs or decide
    in one playbook's week would otherwise queue on that week's row lock, each until the one ahead commits;
    SQLite has one writer at a time, so one row per week."""
    return next(_SLOTS) % COUNT_SLOTS if dialect == "postgresql" else 0


def _add_counts(dialect: Any) -> Any:
    """INSERT a week's counts, or add them to the row already there (both dialects spell upserts alike)."""
    stmt = dialect.insert(_pc)
    return stmt.on_conflict_do_update(index_elements=[_pc.c.playbook, _pc.c.period, _pc.c.slot],
                                      set_={c: _pc.c[c] + stmt.excluded[c] for c in PERIOD_COUNTS})


def _add_load(dialect: Any) -> Any:
    stmt = dialect.insert(_w)
    return stmt.on_conflict_do_update(index_elements=[_w.c.actor], set_={"open": _w.c.open + stmt.excluded.open})


_lm = schema.latency_marks
# a week's marks around a threshold with the decisions the week counts, which they must all place to be used
_MARKS_FOLDED = (func.sum(_lm.c.decided).label("decided"), func.sum(_lm.c.below).label("below"),
                 func.sum(_lm.c.above).label("above"), func.max(_lm.c.max_below).label("max_below"),
                 func.min(_lm.c.min_above).label("min_above"))
"""A week's marks around a threshold folded over their slots, as `Marks.merged` folds them."""
_MARKS = Hot(select(select(func.sum(_pc.c.decided)).where(_pc.c.playbook == bindparam("playbook"),
                                                          _pc.c.period == bindparam("period"))
                    .scalar_subquery().label("week_decided"), *_MARKS_FOLDED)
             .where(_lm.c.playbook == bindparam("playbook"), _lm.c.period == bindparam("period"),
                    _lm.c.threshold == bindparam("threshold")))


def _add_marks(dialect: Any, greatest: Any, least: Any) -> Any:
    """INSERT a week's marks around a threshold, or fold them into the row already there."""
    stmt = dialect.insert(_lm)
    new = stmt.excluded

    def either(fold: Any, column: str) -> Any:  # NULL means "no value on that side yet"
        return fold(func.coalesce(_lm.c[column], new[column]), func.coalesce(new[column], _lm.c[column]))

    return stmt.on_conflict_do_update(
        index_elements=[_lm.c.playbook, _lm.c.period, _lm.c.threshold, _lm.c.slot],
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


class Counts(TxBase):
    """The running counts, as a transaction adds to them and reads them."""

    def _store_counts(self) -> None:
        """Write the running counts kept in memory (see `store.Tx.flush`)."""
        upserts = _upserts(self.conn.dialect.name)
        counts, marks, load = sorted(self._counts.items()), sorted(self._marks.items()), sorted(self._load.items())
        self._counts, self._marks, self._load = {}, {}, {}
        slot = _slot(self.conn.dialect.name) if counts or marks else 0
        if counts:
            upserts["counts"].run(self.conn, [{"playbook": playbook, "period": period, "slot": slot, **values}
                                                  for (playbook, period), values in counts])
        if marks:
            upserts["marks"].run(self.conn, [
                {"playbook": playbook, "period": period, "threshold": threshold, "slot": slot, "decided": m.decided,
                 "below": m.below, "above": m.above, "max_below": m.max_below, "min_above": m.min_above}
                for (playbook, period, threshold), m in marks])
        moved = [{"actor": actor, "open": delta} for actor, delta in load if delta]
        if moved:
            upserts["load"].run(self.conn, moved)

    def count_period(self, playbook: str, period: str, counts: Mapping[str, int]) -> None:
        """Add to the running counts of one playbook's ISO week (see `schema.period_counts`), at `flush`."""
        pending = self._counts.setdefault((playbook, period), dict.fromkeys(PERIOD_COUNTS, 0))
        for name in PERIOD_COUNTS:
            pending[name] += counts.get(name, 0)

    def period_counts(self, playbook: str, period: str) -> dict[str, int]:
        """The running counts of one playbook's ISO week, with this transaction's; zeros for a week with none."""
        row = _PERIOD_COUNTS.first(self.conn, {"playbook": playbook, "period": period})  # NULL sums: no rows
        pending = self._counts.get((playbook, period), {})
        return {name: int(stored or 0) + pending.get(name, 0) for name, stored in zip(PERIOD_COUNTS, row, strict=True)}

    def add_marks(self, playbook: str, period: str, marks: Mapping[float, Marks]) -> None:
        """Fold one command's decision latencies into a week's marks, one per threshold, at `flush`."""
        for threshold, found in marks.items():
            key = (playbook, period, threshold)
            self._marks[key] = self._marks[key].merged(found) if key in self._marks else found

    def complete_latency_marks(self, playbook: str, period: str, threshold: float) -> Marks | None:
        """A week's marks around one threshold, with this transaction's, when they count every decision the week
        counts; None otherwise (no marks, or marks begun mid-week by a trigger that arrived then)."""
        row = _MARKS.first(self.conn, {"playbook": playbook, "period": period, "threshold": threshold})
        stored = None if row is None or row.decided is None else marks_from(row)
        pending = self._marks.get((playbook, period, threshold))
        marks = pending if stored is None else stored if pending is None else stored.merged(pending)
        week_decided = 0 if row is None else int(row.week_decided or 0)
        decided = week_decided + self._counts.get((playbook, period), {}).get("decided", 0)
        return marks if marks is not None and marks.decided == decided else None

    def assigned(self, playbook: str, step: str,
                 actors: Sequence[str]) -> tuple[Mapping[str, int], Mapping[str, Last]]:
        counts: dict[str, int] = {}
        last: dict[str, Last] = {}
        if not actors:
            return counts, last
        dialect = self.conn.dialect.name
        if len(actors) < LISTED_FROM:
            binds: dict[str, Any] = {f"a{index}": actor for index, actor in enumerate(actors)}
            query = _assigned_query(len(actors), "")
        else:
            binds = {"actors": list(actors) if dialect == "postgresql" else orjson.dumps(list(actors)).decode()}
            query = _assigned_query(LISTED_FROM, dialect)
        for actor, count, ready_at, at_once in query.rows(self.conn, {"playbook": playbook, "step": step, **binds}):
            counts[actor] = int(count or 0)
            if ready_at is not None:
                last[actor] = (ready_at, int(at_once))
        for actor in actors:  # and what this transaction changed
            if self._load.get(actor):
                counts[actor] = counts.get(actor, 0) + self._load[actor]
        return counts, last

    def open_tasks_by_assignee(self) -> dict[str, int]:
        """Open tasks per assignee, counted from the task rows (what `workload` must say)."""
        query = (select(_t.c.assignee, func.count()).where(_t.c.status.in_(OPEN), _t.c.assignee.is_not(None))
                 .group_by(_t.c.assignee))
        return {str(actor): int(n) for actor, n in self.conn.execute(query)}

    def all_period_counts(self) -> dict[tuple[str, str], dict[str, int]]:
        """Every stored week count by (playbook, ISO week), leaving out weeks that count nothing."""
        rows = self.conn.execute(select(_pc.c.playbook, _pc.c.period, *(func.sum(_pc.c[c]) for c in PERIOD_COUNTS))
                                 .group_by(_pc.c.playbook, _pc.c.period))
        return {(row[0], row[1]): dict(zip(PERIOD_COUNTS, map(int, row[2:]), strict=True))
                for row in rows if any(row[2:])}

    def all_latency_marks(self) -> dict[tuple[str, str, float], Marks]:
        """Every stored latency mark by (playbook, ISO week, threshold)."""
        keys = (_lm.c.playbook, _lm.c.period, _lm.c.threshold)
        return {(row.playbook, row.period, row.threshold): marks_from(row)
                for row in self.conn.execute(select(*keys, *_MARKS_FOLDED).group_by(*keys))}

    def workload(self) -> dict[str, int]:
        """The stored open-task count of every assignee that has one."""
        return {row.actor: int(row.open) for row in self.conn.execute(select(_w)) if row.open}
    def open_count(self, assignee: str) -> int:
        """How many open tasks an actor holds (the running count routing reads)."""
        return int(self.conn.execute(select(_w.c.open).where(_w.c.actor == assignee)).scalar() or 0)
