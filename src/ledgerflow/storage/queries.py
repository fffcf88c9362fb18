"""Reads of tasks and runs: inboxes, lists, a starter's waiting tasks, stored flags, runs without a chain."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, case, func, select, tuple_, union

from ledgerflow.domain.errors import NotFound
from ledgerflow.domain.runs import TaskState
from ledgerflow.storage import schema
from ledgerflow.storage.rows import OPEN, task_from
from ledgerflow.storage.transaction import TxBase

_t, _r, _h, _rec = schema.tasks, schema.runs, schema.chains, schema.recommendations

# a task's nearest deadline, due or SLA ('~' sorts after every time: no deadline comes last)
_DUE, _SLA = func.coalesce(_t.c.due_at, "~"), func.coalesce(_t.c.sla_due_at, "~")
_DEADLINE = case((_DUE < _SLA, _DUE), else_=_SLA)


class Queries(TxBase):
    """Task and run reads that no command's hot path takes."""

    def waiting_on_others(self, actor: str, limit: int | None = None) -> tuple[list[TaskState], int]:
        """Open tasks, held by someone else, of the runs `actor` started (one indexed join), oldest first:
        the first `limit` of them, and how many there are."""
        conditions = (_r.c.started_by == actor, _r.c.status == "running", _t.c.status.in_(OPEN),
                      (_t.c.assignee.is_(None)) | (_t.c.assignee != actor))
        joined = _t.join(_r, _r.c.id == _t.c.run)
        query = select(_t).select_from(joined).where(*conditions).order_by(_t.c.ready_at, _t.c.id).limit(limit)
        tasks = [task_from(row) for row in self.conn.execute(query)]
        if limit is None or len(tasks) < limit:
            return tasks, len(tasks)
        return tasks, int(self.conn.execute(select(func.count()).select_from(joined).where(*conditions)).scalar_one())

    def due_first(self, assignee: str, *, after: str | None = None, limit: int = 100) -> list[TaskState]:
        """An actor's open tasks, nearest deadline first (so overdue ones lead): a page after task `after`.

        Raises:
            NotFound: `after` is not one of the actor's tasks.
        """
        conditions = [_t.c.assignee == assignee, _t.c.status.in_(OPEN)]
        if after is not None:
            key = self.conn.execute(select(_DEADLINE).where(_t.c.id == after, _t.c.assignee == assignee)).scalar()
            if key is None:
                raise NotFound(f"{after!r} is not a task of {assignee}'s inbox", rule="bad-cursor")
            conditions.append(tuple_(_DEADLINE, _t.c.id) > tuple_(key, after))
        query = select(_t).where(*conditions).order_by(_DEADLINE, _t.c.id).limit(limit)
        return [task_from(row) for row in self.conn.execute(query)]
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
        return [task_from(row) for row in self.conn.execute(query)]

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
        query = select(t.c.run).where(t.c.status.in_(OPEN), t.c.run.is_not(None))
        if assignees is not None:
            query = query.where(t.c.assignee.in_(list(assignees)))
        return list(dict.fromkeys(str(row[0]) for row in self.conn.execute(query.order_by(t.c.ready_at))))

    def open_runs(self, playbook: str) -> int:
        r = schema.runs
        return int(self.conn.execute(select(func.count()).where(r.c.playbook == playbook,
                                                                r.c.status == "running")).scalar() or 0)
    def stored_flags(self, ids: Sequence[str]) -> dict[str, tuple[bool | None, bool | None, bool | None]]:
        """The scorecard flags (exception, reworked, failed_check) stored on these runs (null until they end)."""
        query = select(_r.c.id, _r.c.exception, _r.c.reworked, _r.c.failed_check).where(_r.c.id.in_(ids))

        def flag(value: Any) -> bool | None:
            return None if value is None else bool(value)

        return {row.id: (flag(row.exception), flag(row.reworked), flag(row.failed_check))
                for row in self.conn.execute(query)} if ids else {}

    def runs_without_chain(self) -> list[str]:
        """Runs that have a row, or that a task or a recommendation names, but no events: state the log cannot
        account for (a task slipped in under a run id that never ran is compared with no replayed run)."""
        named = union(select(_r.c.id), select(_t.c.run.label("id")).where(_t.c.run.is_not(None)),
                      select(_rec.c.run.label("id"))).subquery()
        return [str(x) for x in self.conn.execute(select(named.c.id).where(
            ~select(_h.c.id).where(_h.c.id == named.c.id).exists()).order_by(named.c.id)).scalars()]
