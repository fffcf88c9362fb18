"""Which runs an actor sees, in SQL: the rules of access.py as a WHERE clause on `runs`, and pages of them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, CompoundSelect, String, and_, cast, false, or_, select, true, tuple_, union

from ledgerflow.domain.errors import NotFound
from ledgerflow.storage import schema

if TYPE_CHECKING:
    from ledgerflow.storage.store import Tx

_r, _t, _rec, _p = schema.runs, schema.tasks, schema.recommendations, schema.playbooks


@dataclass(frozen=True, slots=True)
class Visibility:
    """The runs one actor sees: those of a playbook whose readers include it in every version (`every`), of the
    other (playbook, version) pairs it reads (`readable`), and those it started, holds or held a task of, is
    named on or recommended in. `everything`: it reads every version of every playbook, so it sees every run."""

    actor: str
    every: tuple[str, ...]
    readable: tuple[tuple[str, int], ...]
    everything: bool = False


def playbook_versions(tx: Tx) -> list[tuple[str, int]]:
    """Every published (playbook, version)."""
    return [(row.id, row.version) for row in tx.conn.execute(select(_p.c.id, _p.c.version))]


def _own_runs(actor: str) -> CompoundSelect[Any]:
    """The runs the actor started, holds or held a task of, holds one for another, was pulled into or recommended
    in, as one list of ids: each part an indexed lookup (the inbox index; the partial indexes of the few tasks
    held for another or pulled in), so a list is read from the runs it holds, not by testing every task."""
    t = _t.alias("part")
    return union(
        select(_r.c.id.label("run")).where(_r.c.started_by == actor),
        select(t.c.run).where(t.c.assignee == actor, t.c.run.is_not(None)),
        select(t.c.run).where(t.c.on_behalf_of == actor, t.c.on_behalf_of.is_not(None), t.c.run.is_not(None)),
        select(t.c.run).where(t.c.pulled_in.is_not(None), t.c.run.is_not(None),
                              cast(t.c.pulled_in, String).contains(f'"{actor}"', autoescape=True)),
        select(_rec.c.run).where(_rec.c.actor == actor),
    )


def runs_clause(seen: Visibility) -> ColumnElement[bool]:
    """A WHERE clause on `runs` selecting the runs `seen.actor` sees."""
    if seen.everything:
        return true()
    return or_(
        _r.c.playbook.in_(seen.every) if seen.every else false(),
        *(and_(_r.c.playbook == pid, _r.c.version == version) for pid, version in seen.readable),
        _r.c.id.in_(_own_runs(seen.actor)),
    )


def tasks_clause(seen: Visibility) -> ColumnElement[bool]:
    """A WHERE clause on `tasks` selecting the tasks of runs `seen.actor` sees (`runs_clause`'s rules, read off
    the tasks table: a playbook the actor reads in every version needs no look at its runs)."""
    if seen.everything:
        return true()
    t, r = _t, _r
    some = [and_(r.c.playbook == pid, r.c.version == version) for pid, version in seen.readable]
    return or_(
        t.c.playbook.in_(seen.every) if seen.every else false(),
        t.c.run.in_(select(r.c.id).where(or_(*some))) if some else false(),
        t.c.run.in_(_own_runs(seen.actor)),
    )


def page_of_runs(tx: Tx, seen: Visibility, *, playbook: str | None, status: str | None, after: str | None,
                 limit: int) -> tuple[list[Any], str | None]:
    """Runs the actor sees, oldest first, after the run id `after`; and the id to continue after (or None).

    Raises:
        NotFound: `after` names no run the actor sees.
    """
    r = _r
    visible = runs_clause(seen)
    query = select(r).where(visible)
    if playbook is not None:
        query = query.where(r.c.playbook == playbook)
    if status is not None:
        query = query.where(r.c.status == status)
    if after is not None:
        cursor = tx.conn.execute(select(r.c.started_at, r.c.id).where(r.c.id == after, visible)).one_or_none()
        if cursor is None:
            raise NotFound(f"after={after!r} names no run you can see", rule="bad-cursor")
        query = query.where(tuple_(r.c.started_at, r.c.id) > tuple_(cursor.started_at, cursor.id))
    rows = list(tx.conn.execute(query.order_by(r.c.started_at, r.c.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)


def visible_among(tx: Tx, seen: Visibility, run_ids: Iterable[str]) -> set[str]:
    """Which of these runs the actor sees."""
    if not run_ids:
        return set()
    return {str(x) for x in tx.conn.execute(select(_r.c.id).where(_r.c.id.in_(run_ids), runs_clause(seen))).scalars()}
