"""The web UI's team lists in SQL (see worklists.py): the operations board's open tasks and the runs list,
each one filtered, ordered, limited query plus a grouped count."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, String, and_, case, cast, false, func, or_, select

from ledgerflow.storage import schema
from ledgerflow.storage.visibility import TaskVisibility, Visibility, runs_clause, tasks_clause

if TYPE_CHECKING:
    from ledgerflow.storage.store import Tx

_OPEN = ("ready", "in_progress")


def board_page(tx: Tx, seen: TaskVisibility | None, *, playbook: str | None, step: str | None, person: str | None,
               stamp: str, offset: int, limit: int) -> tuple[list[Any], list[Any], dict[str, int]]:
    """Open tasks of running runs (those `seen` allows, every one when None): per assignee the open and overdue
    (late at `stamp`) counts of the filtered tasks before `person`; a page of them, blocked then overdue first,
    then longest wait; and the version of each shown task's run."""
    t = schema.tasks
    late = or_(t.c.due_at < stamp, t.c.sla_due_at < stamp)
    conditions: list[ColumnElement[bool]] = [t.c.status.in_(_OPEN), t.c.run.is_not(None)]
    if seen is not None:
        conditions.append(tasks_clause(seen))
    if playbook:
        conditions.append(t.c.playbook == playbook)
    if step:
        conditions.append(t.c.step == step)
    per_person = list(tx.conn.execute(select(t.c.assignee, func.count().label("open"),
                                             func.sum(case((late, 1), else_=0)).label("overdue"))
                                      .where(*conditions).group_by(t.c.assignee)))
    if person:
        conditions.append(t.c.assignee == person)
    query = (select(t.c.id, t.c.run, t.c.playbook, t.c.step, t.c.assignee, t.c.ready_at, t.c.due_at,
                    t.c.sla_due_at, t.c.blocked)
             .where(*conditions)
             .order_by(t.c.blocked.desc(), case((late, 0), else_=1), t.c.ready_at, t.c.id)
             .offset(offset).limit(limit))
    rows = tx.conn.execute(query).all()
    r = schema.runs
    versions = dict(tx.conn.execute(select(r.c.id, r.c.version).where(r.c.id.in_({row.run for row in rows}))).all())
    return per_person, list(rows), versions


def runs_page(tx: Tx, seen: Visibility | None, *, playbook: str | None, status: str | None,
              started_by: str | None, started: tuple[str, str] | None,
              search: Sequence[tuple[str, Sequence[str]]], after: str | None, limit: int) -> list[Any]:
    """Up to `limit` + 1 runs (those `seen` allows, every one when None), newest first, after the run id `after`.

    `search` holds one (LIKE pattern, people) per word: each word must match the run id, its input, its
    starter or an assignee of its tasks (one of `people`).
    """
    r, t = schema.runs, schema.tasks
    conditions = [runs_clause(seen) if seen is not None else and_(True)]
    if playbook:
        conditions.append(r.c.playbook == playbook)
    if status:
        conditions.append(r.c.status == status)
    if started_by:
        conditions.append(r.c.started_by == started_by)
    if started is not None:
        conditions.extend([r.c.started_at >= started[0], r.c.started_at < started[1]])
    for like, people in search:
        conditions.append(or_(
            func.lower(r.c.id).like(like, escape="\\"),
            func.lower(cast(r.c.input, String)).like(like, escape="\\"),
            r.c.started_by.in_(people) if people else false(),
            r.c.id.in_(select(t.c.run).where(t.c.assignee.in_(people))) if people else false(),
        ))
    if after is not None:
        cursor = tx.conn.execute(select(r.c.started_at, r.c.id).where(r.c.id == after)).one_or_none()
        if cursor is not None:
            conditions.append(or_(r.c.started_at < cursor.started_at,
                                  and_(r.c.started_at == cursor.started_at, r.c.id < cursor.id)))
    query = (select(r.c.id, r.c.playbook, r.c.version, r.c.status, r.c.started_by, r.c.started_at, r.c.ended_at)
             .where(*conditions).order_by(r.c.started_at.desc(), r.c.id.desc()).limit(limit + 1))
    return list(tx.conn.execute(query).all())
