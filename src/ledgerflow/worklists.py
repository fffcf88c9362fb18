"""The web UI's two team lists (issue #21): the operations board (every open task of every open run a
person may see, blocked and overdue first, then longest wait) and the runs list (search, filters, pages).

Both are one filtered, ordered, limited query plus a grouped count, so a page costs the same at 100k open
runs as at 100 (`bench/web_lists.py` measures it); summaries are rendered for the shown page only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, String, and_, case, cast, false, func, or_, select

from ledgerflow import access
from ledgerflow.domain.errors import InvalidInput
from ledgerflow.domain.figures import parse_period
from ledgerflow.domain.reports import waiting_entry
from ledgerflow.domain.times import format_time
from ledgerflow.storage import schema
from ledgerflow.storage.store import Tx
from ledgerflow.summaries import of_runs

_OPEN = ("ready", "in_progress")
RUN_STATUSES = ("running", "completed", "rejected", "cancelled")
PERIODS = {"7d": timedelta(days=7), "30d": timedelta(days=30), "90d": timedelta(days=90)}
"""Periods a runs list filters on besides ISO weeks (`2026-W10`): the last 7, 30 or 90 days."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BoardFilter:
    playbook: str | None = None
    step: str | None = None
    person: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Board:
    rows: list[dict[str, Any]]
    total: int
    per_person: list[dict[str, Any]]
    """Open tasks and overdue ones per assignee, most first: who the bottleneck is."""
    versions: list[tuple[str, int]]
    """The (playbook, version) pairs of the shown rows: whose owners may reassign them."""


def _visible(tx: Tx, actor: str | None) -> ColumnElement[bool]:
    return access.visible_runs_clause(tx, actor) if actor is not None else and_(True)


def visible_tasks_clause(tx: Tx, actor: str) -> ColumnElement[bool]:
    """A WHERE clause on `tasks` selecting the tasks of runs `actor` sees (`access.visible_runs_clause`'s rules,
    read off the tasks table: a playbook the actor reads in every version needs no look at its runs)."""
    t, r, rec, p = schema.tasks, schema.runs, schema.recommendations, schema.playbooks
    mine = t.alias("mine")
    directory = tx.directory()
    readable: dict[str, list[tuple[int, bool]]] = {}
    for row in tx.conn.execute(select(p.c.id, p.c.version)):
        readable.setdefault(row.id, []).append(
            (row.version, actor in access.readers(tx.playbook(row.id, row.version)[0], directory)))
    every = [pid for pid, versions in readable.items() if all(ok for _, ok in versions)]
    some = [and_(r.c.playbook == pid, r.c.version == version) for pid, versions in readable.items()
            if pid not in every for version, ok in versions if ok]
    return or_(
        t.c.playbook.in_(every) if every else false(),
        t.c.run.in_(select(r.c.id).where(or_(*some))) if some else false(),
        t.c.run.in_(select(r.c.id).where(r.c.started_by == actor)),
        t.c.run.in_(select(mine.c.run).where(mine.c.run.is_not(None), or_(
            mine.c.assignee == actor, mine.c.on_behalf_of == actor,
            cast(mine.c.pulled_in, String).contains(f'"{actor}"', autoescape=True)))),
        t.c.run.in_(select(rec.c.run).where(rec.c.actor == actor)),
    )


def board(tx: Tx, actor: str | None, where: BoardFilter, *, offset: int = 0, limit: int = 50) -> Board:
    """A page of the operations board for `actor` (every open run when None).

    Reads the tasks table alone: an open task belongs to a running run (ending a run closes its tasks).
    """
    t = schema.tasks
    now = tx.now()
    stamp = format_time(now)
    late = or_(t.c.due_at < stamp, t.c.sla_due_at < stamp)
    conditions: list[ColumnElement[bool]] = [t.c.status.in_(_OPEN), t.c.run.is_not(None)]
    if actor is not None:
        conditions.append(visible_tasks_clause(tx, actor))
    if where.playbook:
        conditions.append(t.c.playbook == where.playbook)
    if where.step:
        conditions.append(t.c.step == where.step)
    per_person = sorted(({"person": row.assignee, "open": int(row.open), "overdue": int(row.overdue or 0)}
                         for row in tx.conn.execute(
                             select(t.c.assignee, func.count().label("open"),
                                    func.sum(case((late, 1), else_=0)).label("overdue"))
                             .where(*conditions).group_by(t.c.assignee))),
                        key=lambda p: (-p["overdue"], -p["open"], p["person"] or ""))
    if where.person:
        conditions.append(t.c.assignee == where.person)
    total = sum(p["open"] for p in per_person if not where.person or p["person"] == where.person)
    query = (select(t.c.id, t.c.run, t.c.playbook, t.c.step, t.c.assignee, t.c.ready_at, t.c.due_at,
                    t.c.sla_due_at, t.c.blocked)
             .where(*conditions)
             .order_by(t.c.blocked.desc(), case((late, 0), else_=1), t.c.ready_at, t.c.id)
             .offset(offset).limit(limit))
    rows = tx.conn.execute(query).all()
    r = schema.runs
    versions = dict(tx.conn.execute(select(r.c.id, r.c.version).where(r.c.id.in_({row.run for row in rows}))).all())
    about = of_runs(tx, (row.run for row in rows))
    entries = [{**waiting_entry(run=row.run, playbook=row.playbook, summary=about.get(row.run), step=row.step,
                                task=row.id, assignee=row.assignee, ready_at=row.ready_at, due_at=row.due_at,
                                sla_due_at=row.sla_due_at, blocked=bool(row.blocked), now=now),
                "ready_at": row.ready_at, "version": versions.get(row.run, 0)} for row in rows]
    return Board(rows=entries, total=total, per_person=per_person,
                 versions=sorted({(e["playbook"], int(e["version"])) for e in entries}))


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFilter:
    search: str | None = None
    playbook: str | None = None
    status: str | None = None
    period: str | None = None
    started_by: str | None = None


def _period_bounds(period: str, now: datetime) -> tuple[str, str]:
    """An ISO week, or the last 7, 30 or 90 days.

    Raises:
        InvalidInput: neither (`bad-period`).
    """
    if period in PERIODS:
        return format_time(now - PERIODS[period]), format_time(now + timedelta(seconds=1))
    return parse_period(period).bounds


def _search(tx: Tx, text: str) -> list[ColumnElement[bool]]:
    """Every word must match the run id, its starter, a person on it (id or directory name), or its input
    (which the summary is made of)."""
    r, t = schema.runs, schema.tasks
    directory = tx.directory()
    found = []
    for raw in text.split()[:8]:
        word = raw.strip(",;")
        if word.replace(",", "").replace(".", "").isdigit():
            word = word.replace(",", "")  # "400,000" as the input stores it
        if not word:
            continue
        like = "%" + word.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        people = [a.id for a in (directory.actors if directory else ())
                  if word.lower() in a.name.lower() or word.lower() == a.id.lower()]
        found.append(or_(
            func.lower(r.c.id).like(like, escape="\\"),
            func.lower(cast(r.c.input, String)).like(like, escape="\\"),
            r.c.started_by.in_(people) if people else false(),
            r.c.id.in_(select(t.c.run).where(t.c.assignee.in_(people))) if people else false(),
        ))
    return found


def runs(tx: Tx, actor: str | None, where: RunFilter, *, after: str | None = None,
         limit: int = 50) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the runs `actor` sees, newest first, after the run id `after`; and the id to continue after.

    Raises:
        InvalidInput: a bad period (`bad-period`) or status (`bad-status`).
    """
    r = schema.runs
    conditions = [_visible(tx, actor)]
    if where.playbook:
        conditions.append(r.c.playbook == where.playbook)
    if where.status:
        if where.status not in RUN_STATUSES:
            raise InvalidInput(f"status {where.status!r} is not one of {', '.join(RUN_STATUSES)}", rule="bad-status")
        conditions.append(r.c.status == where.status)
    if where.started_by:
        conditions.append(r.c.started_by == where.started_by)
    if where.period:
        low, high = _period_bounds(where.period, tx.now())
        conditions.extend([r.c.started_at >= low, r.c.started_at < high])
    if where.search and where.search.strip():
        conditions.extend(_search(tx, where.search))
    if after is not None:
        cursor = tx.conn.execute(select(r.c.started_at, r.c.id).where(r.c.id == after)).one_or_none()
        if cursor is not None:
            conditions.append(or_(r.c.started_at < cursor.started_at,
                                  and_(r.c.started_at == cursor.started_at, r.c.id < cursor.id)))
    query = (select(r.c.id, r.c.playbook, r.c.version, r.c.status, r.c.started_by, r.c.started_at, r.c.ended_at)
             .where(*conditions).order_by(r.c.started_at.desc(), r.c.id.desc()).limit(limit + 1))
    rows = tx.conn.execute(query).all()
    more = len(rows) > limit
    rows = rows[:limit]
    about = of_runs(tx, (row.id for row in rows))
    return ([{"id": row.id, "playbook": row.playbook, "version": row.version, "status": row.status,
              "started_by": row.started_by, "started_at": row.started_at, "ended_at": row.ended_at,
              "summary": about.get(row.id)} for row in rows], rows[-1].id if more and rows else None)
