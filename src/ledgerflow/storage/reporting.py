"""The read-only queries of the reports, the views, the review pack, run summaries and `/metrics`.

Each returns rows (or plain values); the arithmetic stays with its use case and `domain`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select

from ledgerflow.storage import schema
from ledgerflow.storage.event_body import field, fields, spread
from ledgerflow.storage.visibility import Visibility, runs_clause

if TYPE_CHECKING:
    from ledgerflow.storage.store import Tx

_OPEN = ("ready", "in_progress")
_t, _r, _e, _p = schema.tasks, schema.runs, schema.events, schema.playbooks
_AUTHORITY_DATA = ("authority", "data")  # read from one parse of each body (see `fields`)

# ------------------------------------------------------------------------------------------ summaries


def summary_inputs(tx: Tx, run_ids: Sequence[str]) -> list[Any]:
    """(id, playbook, version, input) of these runs (bounded IN lists); unknown ids are left out."""
    r = _r
    rows: list[Any] = []
    for start in range(0, len(run_ids), 500):  # bounded IN lists
        rows.extend(tx.conn.execute(select(r.c.id, r.c.playbook, r.c.version, r.c.input)
                                    .where(r.c.id.in_(run_ids[start:start + 500]))))
    return rows


def playbook_data(tx: Tx, playbook: str, version: int) -> Any:
    """A published version's stored definition, as parsed from its document (not compiled)."""
    return tx.conn.execute(select(_p.c.data).where(_p.c.id == playbook, _p.c.version == version)).scalar_one()


# ------------------------------------------------------------------------------------------- reports


def ownership_events(tx: Tx, playbook: str, start: str, end: str) -> list[Any]:
    """The playbook's runs' hand-overs, ready tasks and ownership gaps in [start, end), with each run's version."""
    e, r = _e, _r
    return spread(tx.conn.execute(
        select(e.c.seq, e.c.at, e.c.type, e.c.actor, e.c.run, e.c.task, e.c.step, r.c.version, fields(*_AUTHORITY_DATA))
        .select_from(e.join(r, r.c.id == e.c.run))
        .where(r.c.playbook == playbook, e.c.at >= start, e.c.at < end,
               e.c.type.in_(["assignment.changed", "task.ready", "ownership.gap"]))
        .order_by(e.c.seq)), _AUTHORITY_DATA)


def open_tasks(tx: Tx) -> list[Any]:
    """Every open task (id, run, playbook, step, type, status, assignee, times, blocked), oldest ready first."""
    t = _t
    return list(tx.conn.execute(
        select(t.c.id, t.c.run, t.c.playbook, t.c.step, t.c.type, t.c.status, t.c.assignee, t.c.ready_at,
               t.c.due_at, t.c.sla_due_at, t.c.blocked)
        .where(t.c.status.in_(_OPEN)).order_by(t.c.ready_at, t.c.id)).all())


def waiting_tasks(tx: Tx, *, playbook: str | None, seen: Visibility | None) -> list[Any]:
    """The open tasks of running runs (of one playbook, of the runs `seen` allows, when given)."""
    t, r = _t, _r
    query = (select(t.c.id, t.c.run, t.c.playbook, t.c.step, t.c.assignee, t.c.ready_at, t.c.due_at,
                    t.c.sla_due_at, t.c.blocked)
             .join(r, r.c.id == t.c.run)
             .where(t.c.status.in_(_OPEN), r.c.status == "running"))
    if playbook is not None:
        query = query.where(r.c.playbook == playbook)
    if seen is not None:
        query = query.where(runs_clause(seen))
    return list(tx.conn.execute(query).all())


def _cohort(playbook: str, start: str, end: str, types: Sequence[str]) -> ColumnElement[bool]:
    """The tasks of the playbook of these types that became ready in [start, end) and did not skip."""
    t = _t
    return and_(t.c.playbook == playbook, t.c.type.in_(types), t.c.status != "skipped",  # never waited
                t.c.ready_at >= start, t.c.ready_at < end)


def wait_rows(tx: Tx, playbook: str, start: str, end: str, *, types: Sequence[str],
              events: Sequence[str]) -> tuple[list[Any], list[Any], list[Any]]:
    """What `report waits` counts: the cohort's tasks (ready first), their events of these types in seq order,
    and the data of the playbook's send-backs since `start`."""
    t, e, r = _t, _e, _r
    cohort = _cohort(playbook, start, end, types)
    tasks = tx.conn.execute(
        select(t.c.id, t.c.step, t.c.assignee, t.c.status, t.c.ready_at, t.c.started_at, t.c.ended_at)
        .where(cohort).order_by(t.c.ready_at, t.c.id)).all()
    found = tx.conn.execute(
        select(e.c.task, e.c.type, e.c.at, field("data"))
        .select_from(e.join(t, t.c.id == e.c.task))
        .where(cohort, e.c.type.in_(list(events)))
        .order_by(e.c.seq)).all()
    send_backs = tx.conn.execute(
        select(field("data")).select_from(e.join(r, r.c.id == e.c.run))
        .where(r.c.playbook == playbook, e.c.type == "task.sent_back", e.c.at >= start)).all()
    return list(tasks), list(found), list(send_backs)


def friction_rows(tx: Tx, playbook: str, start: str, end: str, *, types: Sequence[str],
                  events: Sequence[str]) -> tuple[list[Any], list[str], list[Any]]:
    """What `report friction` counts: the cohort's tasks (as `wait_rows`), the runs that ended in [start, end),
    and the events of these types on tasks of these types of either, in seq order."""
    t, e, r = _t, _e, _r
    cohort = _cohort(playbook, start, end, types)
    ended = and_(r.c.playbook == playbook, r.c.ended_at >= start, r.c.ended_at < end,
                 r.c.status.in_(["completed", "rejected"]))
    tasks = tx.conn.execute(select(t.c.id, t.c.step, t.c.status, t.c.attempt).where(cohort)).all()
    ended_runs = [row.id for row in tx.conn.execute(select(r.c.id).where(ended))]
    rows = spread(tx.conn.execute(
        select(e.c.type, e.c.run, e.c.task, e.c.step, fields(*_AUTHORITY_DATA))
        .select_from(e.join(t, t.c.id == e.c.task))
        .where(t.c.type.in_(types), e.c.type.in_(events),
               or_(e.c.run.in_(select(t.c.run).where(cohort)), e.c.run.in_(select(r.c.id).where(ended))))
        .order_by(e.c.seq)), _AUTHORITY_DATA)
    return list(tasks), ended_runs, rows


def newest_sources(tx: Tx) -> list[Any]:
    """(id, version, source, file) of the newest version of every published playbook, by id."""
    p = _p
    newest = select(p.c.id, func.max(p.c.version).label("version")).group_by(p.c.id).subquery()
    return list(tx.conn.execute(
        select(p.c.id, p.c.version, p.c.source, p.c.file)
        .select_from(p.join(newest, and_(p.c.id == newest.c.id, p.c.version == newest.c.version)))
        .order_by(p.c.id)).all())


def blocked_tasks(tx: Tx) -> list[Any]:
    """Open tasks blocked as an ownership gap, oldest ready first."""
    t = _t
    return list(tx.conn.execute(
        select(t.c.id, t.c.run, t.c.playbook, t.c.step, t.c.assignee, t.c.ready_at)
        .where(t.c.status.in_(_OPEN), t.c.blocked.is_(True)).order_by(t.c.ready_at, t.c.id)).all())


def run_playbooks(tx: Tx, playbook: str | None = None) -> dict[str, str]:
    """The playbook of every run (of one playbook's runs, when given), by run id."""
    r = _r
    runs = select(r.c.id, r.c.playbook)
    if playbook is not None:
        runs = runs.where(r.c.playbook == playbook)
    return {row.id: row.playbook for row in tx.conn.execute(runs)}


def run_events_of_types(tx: Tx, types: Iterable[str], playbook: str | None = None) -> list[dict[str, Any]]:
    """(type, run, task, step, actor, data) of the runs' events of these types (of one playbook's runs, when
    given), in seq order."""
    e, r = _e, _r
    query = select(e.c.type, e.c.run, e.c.task, e.c.step, e.c.actor, field("data")).where(
        e.c.type.in_(types), e.c.run.is_not(None)).order_by(e.c.seq)
    if playbook is not None:
        query = query.where(e.c.run.in_(select(r.c.id).where(r.c.playbook == playbook)))
    return [dict(row._mapping) for row in tx.conn.execute(query)]


# --------------------------------------------------------------------------------- views, review pack


def task_event_count(tx: Tx, task: str, run: str | None, type_: str) -> int:
    """How many events of one type a task has (looked up within its run's, when it has one)."""
    e = _e
    query = select(func.count()).where(e.c.type == type_, e.c.task == task)
    if run is not None:
        query = query.where(e.c.run == run)
    return int(tx.conn.execute(query).scalar() or 0)


def decision_channels(tx: Tx, run_id: str) -> list[tuple[str, str]]:
    """(task, channel) of each decision of the run."""
    e = _e
    rows = tx.conn.execute(select(e.c.task, e.c.channel).where(e.c.run == run_id, e.c.type == "task.decided"))
    return [(task, channel) for task, channel in rows]


def first_event_of_task(tx: Tx, task: str, type_: str) -> Any:
    """(at, data) of a task's first event of one type, or None."""
    e = _e
    return tx.conn.execute(select(e.c.at, field("data")).where(e.c.task == task, e.c.type == type_)
                           .order_by(e.c.seq).limit(1)).first()


# -------------------------------------------------------------------------------------------- /metrics


def _flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return case((condition, 1), else_=0)


def health(tx: Tx, stamp: str) -> tuple[list[Any], tuple[int, str | None], list[Any], str | None]:
    """What `/metrics` reads at `stamp`: per (playbook, step) the open tasks, overdue and blocked ones; the
    timers due and the oldest due time; the pending and failed outbox messages per (channel, status); the time
    of the last checkpoint."""
    t, tm, o, e = _t, schema.timers, schema.outbox, _e
    open_rows = tx.conn.execute(
        select(t.c.playbook, t.c.step, func.count(),
               func.sum(_flag(or_(t.c.due_at < stamp, t.c.sla_due_at < stamp))),
               func.sum(_flag(t.c.blocked.is_(True))))
        .where(t.c.status.in_(_OPEN)).group_by(t.c.playbook, t.c.step)).all()
    due, oldest = tx.conn.execute(select(func.count(), func.min(tm.c.due_at))
                                  .where(tm.c.fired_at.is_(None), tm.c.due_at <= stamp)).one()
    outbox = tx.conn.execute(select(o.c.channel, o.c.status, func.count())
                             .where(o.c.status.in_(["pending", "failed"]))
                             .group_by(o.c.channel, o.c.status)).all()
    last_checkpoint = tx.conn.execute(select(func.max(e.c.at)).where(e.c.type == "audit.checkpointed")).scalar()
    return list(open_rows), (due, oldest), list(outbox), last_checkpoint
