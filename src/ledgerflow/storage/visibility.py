"""Which runs an actor sees, in SQL: the rules of access.py as a WHERE clause on `runs`, and pages of them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, String, and_, cast, false, or_, select

from ledgerflow.domain.errors import NotFound
from ledgerflow.storage import schema

if TYPE_CHECKING:
    from ledgerflow.storage.store import Tx

_r, _t, _rec, _p = schema.runs, schema.tasks, schema.recommendations, schema.playbooks


@dataclass(frozen=True, slots=True)
class Visibility:
    """The runs one actor sees: those it started, holds or held a task of, is named on, recommended in, or of
    a playbook version whose readers include it (`readable`, as (playbook, version) pairs)."""

    actor: str
    readable: tuple[tuple[str, int], ...]


def playbook_versions(tx: Tx) -> list[tuple[str, int]]:
    """Every published (playbook, version)."""
    return [(row.id, row.version) for row in tx.conn.execute(select(_p.c.id, _p.c.version))]


def runs_clause(seen: Visibility) -> ColumnElement[bool]:
    """A WHERE clause on `runs` selecting the runs `seen.actor` sees."""
    actor = seen.actor
    readable = [and_(_r.c.playbook == pid, _r.c.version == version) for pid, version in seen.readable]
    return or_(
        _r.c.started_by == actor,
        _r.c.id.in_(select(_t.c.run).where(_t.c.run.is_not(None), or_(
            _t.c.assignee == actor, _t.c.on_behalf_of == actor,
            cast(_t.c.pulled_in, String).contains(f'"{actor}"', autoescape=True)))),
        _r.c.id.in_(select(_rec.c.run).where(_rec.c.actor == actor)),
        *readable,
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
        query = query.where(or_(r.c.started_at > cursor.started_at,
                                and_(r.c.started_at == cursor.started_at, r.c.id > cursor.id)))
    rows = list(tx.conn.execute(query.order_by(r.c.started_at, r.c.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)


def visible_among(tx: Tx, seen: Visibility, run_ids: Iterable[str]) -> set[str]:
    """Which of these runs the actor sees."""
    if not run_ids:
        return set()
    return {str(x) for x in tx.conn.execute(select(_r.c.id).where(_r.c.id.in_(run_ids), runs_clause(seen))).scalars()}


@dataclass(frozen=True, slots=True)
class TaskVisibility:
    """The tasks one actor sees, read off the tasks table: those of playbooks it reads in every version
    (`every`), of runs of the other versions it reads (`readable`), and of runs it started or takes part in."""

    actor: str
    every: tuple[str, ...]
    readable: tuple[tuple[str, int], ...]


def tasks_clause(seen: TaskVisibility) -> ColumnElement[bool]:
    """A WHERE clause on `tasks` selecting the tasks of runs `seen.actor` sees (`runs_clause`'s rules)."""
    t, r, rec, actor = _t, _r, _rec, seen.actor
    mine = t.alias("mine")
    some = [and_(r.c.playbook == pid, r.c.version == version) for pid, version in seen.readable]
    return or_(
        t.c.playbook.in_(seen.every) if seen.every else false(),
        t.c.run.in_(select(r.c.id).where(or_(*some))) if some else false(),
        t.c.run.in_(select(r.c.id).where(r.c.started_by == actor)),
        t.c.run.in_(select(mine.c.run).where(mine.c.run.is_not(None), or_(
            mine.c.assignee == actor, mine.c.on_behalf_of == actor,
            cast(mine.c.pulled_in, String).contains(f'"{actor}"', autoescape=True)))),
        t.c.run.in_(select(rec.c.run).where(rec.c.actor == actor)),
    )
