"""Run and task rows: a command's run read (and locked) with what it reads next, and what changed written back."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterable, Sequence
from operator import attrgetter
from typing import Any

from sqlalchemy import bindparam, insert, select, update

from ledgerflow.domain.attachments import records
from ledgerflow.domain.errors import NotFound
from ledgerflow.domain.runs import Recommendation, RunState, TaskState
from ledgerflow.domain.times import parse_time
from ledgerflow.storage import schema
from ledgerflow.storage.batches import by_ids, id_lists
from ledgerflow.storage.catalog import _DIRECTORY_VERSION, _LATEST_VERSION
from ledgerflow.storage.chain import _LAST_SEQ
from ledgerflow.storage.hot import Hot
from ledgerflow.storage.rows import OPEN, TASK_COLUMNS, Compared, recommendation_from, run_from, task_from, task_row
from ledgerflow.storage.transaction import _NOW, TxBase

# The engine's hot path runs these on every command: built once, so each execution skips statement
# construction and only looks up SQLAlchemy's compiled-statement cache.
_t, _r, _rec, _h = schema.tasks, schema.runs, schema.recommendations, schema.chains
_RUN_OF_TASK = select(_t.c.run).where(_t.c.id == bindparam("task"))
# a command's run comes with what commands read next, the directory version, the (simulated) clock and the newest
# version of the run's playbook (risk triggers), and on SQLite with the run's chain head (see run_cache.py) and
# the last seq: one round trip instead of several. PostgreSQL keeps no runs across transactions and draws seqs
# from a sequence, so it reads neither.
_CONTEXT = (_DIRECTORY_VERSION.scalar_subquery().label("directory_version"),
            _NOW.scalar_subquery().label("clock_now"),
            _LATEST_VERSION.where(schema.playbooks.c.id == _r.c.playbook).scalar_subquery().label("latest_version"))
_SQLITE_CONTEXT = (*_CONTEXT,
                   select(_h.c.length).where(_h.c.id == _r.c.id).scalar_subquery().label("head_length"),
                   select(_h.c.hash).where(_h.c.id == _r.c.id).scalar_subquery().label("head_hash"),
                   _LAST_SEQ.scalar_subquery().label("last_seq"))


def _run_reads(*context: Any) -> dict[tuple[bool, bool], Hot]:
    """The run read, by (found through a task, locked): PostgreSQL's deciders racing on one run queue at the
    lock; SQLite ignores it."""
    run = select(_r, *context).where(_r.c.id == bindparam("run"))
    task_run = select(_r, *context).where(_r.c.id == _RUN_OF_TASK.scalar_subquery())  # found through the task
    return {(False, False): Hot(run), (False, True): Hot(run.with_for_update()),
            (True, False): Hot(task_run), (True, True): Hot(task_run.with_for_update())}


_RUN_READS = {"sqlite": _run_reads(*_SQLITE_CONTEXT), "postgresql": _run_reads(*_CONTEXT)}
# a run's tasks with their recommendations, one round trip: a row per recommendation, and one for a task without
_REC_COLUMNS = ("actor", "step", "attempt", "outcome", "rationale", "data_hash", "at")
_RUN_TASKS = (select(_t, *(_rec.c[c].label(f"rec_{c}") for c in _REC_COLUMNS))
              .select_from(_t.outerjoin(_rec, _rec.c.task == _t.c.id))
              .where(_t.c.run == bindparam("run")).order_by(_t.c.ord, _rec.c.at))
_TaskRow: Any = namedtuple("_TaskRow", _t.c.keys())  # type: ignore[misc]  # a row's task part, for `task_from`
_TASK_WIDTH = len(_t.c)
_INSERT_RUN = insert(_r)
_UPDATE_RUN = update(_r).where(_r.c.id == bindparam("run_id"))
_INSERT_TASKS = insert(_t)
_MUTABLE = [c for c in TASK_COLUMNS if c not in ("id", "run", "playbook", "step", "type")]
_UPDATE_TASK = update(_t).where(_t.c.id == bindparam("task_id"))  # SET only what changed: SQLite then leaves
# alone the indexes over columns it does not assign (an UPDATE of every column rewrote all five)

# the hot path's statements, run on the driver's cursor (see hot.py)
_HOT_RUN_TASKS, _HOT_RUN_OF_TASK = Hot(_RUN_TASKS), Hot(_RUN_OF_TASK)
_HOT_INSERT_RUN, _HOT_UPDATE_RUN = Hot(_INSERT_RUN, by_columns=True), Hot(_UPDATE_RUN, by_columns=True)
_HOT_INSERT_TASKS, _HOT_UPDATE_TASK = Hot(_INSERT_TASKS, by_columns=True), Hot(_UPDATE_TASK, by_columns=True)
_RUNS_KEPT = 16


class Runs(TxBase):
    """Runs and their tasks and recommendations; reviews and follow-ups (tasks with no run)."""

    def load_run(self, run_id: str) -> RunState:
        if run_id in self._runs:  # read already in this transaction (an access check, then the command)
            return self._runs[run_id]
        row = _RUN_READS[self.conn.dialect.name][False, self.write].first(self.conn, {"run": run_id})
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
        row = _RUN_READS[self.conn.dialect.name][True, self.write].first(self.conn, {"task": task_id})
        if row is None:
            run_id = self.run_of_task(task_id)
            return None if run_id is None else self.load_run(run_id)
        return self._run_state(row)

    def _run_state(self, row: Any) -> RunState:
        """A run from its row (read with the directory version and the clock, kept for this transaction)."""
        if self._directory_version is None:
            self._directory_version = int(row.directory_version or 0)
        if row.latest_version is not None:
            self._latest.setdefault(row.playbook, row.latest_version)
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
        tasks: dict[str, TaskState] = {}
        recs = []
        for x in _HOT_RUN_TASKS.rows(self.conn, {"run": row.id}):
            if x.id not in tasks:
                tasks[x.id] = task_from(_TaskRow._make(x[:_TASK_WIDTH]))
            if x.rec_actor is not None:
                recs.append(Recommendation(task=x.id, step=x.rec_step, attempt=x.rec_attempt, actor=x.rec_actor,
                                           outcome=x.rec_outcome, rationale=x.rec_rationale,
                                           data_hash=x.rec_data_hash, at=x.rec_at))
        run = run_from(row, list(tasks.values()), sorted(recs, key=attrgetter("at")))  # as recorded, in time
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
                new_rows.append(task_row(task, index))
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
                changed["pulled_in"] = list(task.pulled_in) or None
            batches.setdefault(tuple(changed), []).append({**changed, "task_id": task.id})
        for rows in batches.values():
            _HOT_UPDATE_TASK.run(self.conn, rows)

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
            query = query.where(t.c.status.in_(OPEN))
        if ids is not None:
            query = query.where(t.c.id.in_(list(ids)))
        return {row.id: task_from(row) for row in self.conn.execute(query)}

    def save_standalone(self, before: dict[str, TaskState], after: dict[str, TaskState]) -> None:
        self._track(before.values(), after.values())
        new_rows = [task_row(task, 0) for task_id, task in after.items() if task_id not in before]
        self._update_tasks((before[task_id], task) for task_id, task in after.items()
                           if task_id in before and before[task_id] != task)
        if new_rows:
            _HOT_INSERT_TASKS.run(self.conn, new_rows)
    def runs_by_id(self, ids: Sequence[str], *, lock: bool = False) -> dict[str, RunState]:
        """These runs with their tasks and recommendations, three queries per 512 runs (verification, timer
        batches).

        `lock` first locks the run rows in id order, as one command locks its run (PostgreSQL).
        """
        found: dict[str, RunState] = {}
        for size, binds in id_lists(ids):
            if lock:
                by_ids("lock", size).rows(self.conn, binds)
            tasks: dict[str, list[TaskState]] = {}
            for x in by_ids("tasks", size).rows(self.conn, binds):
                tasks.setdefault(x.run, []).append(task_from(x))
            recs: dict[str, list[Recommendation]] = {}
            for x in by_ids("recommendations", size).rows(self.conn, binds):
                recs.setdefault(x.run, []).append(recommendation_from(x))
            found.update({row.id: run_from(row, tasks.get(row.id, []), recs.get(row.id, []))
                          for row in by_ids("runs", size).rows(self.conn, binds)})
        return found

    def run_rows(self, ids: Sequence[str]) -> dict[str, Compared]:
        """These runs as rows in the form of `rows.compared`, three queries per 512 runs and no domain objects:
        `audit verify` compares them with its replay of every run."""
        found: dict[str, Compared] = {}
        for size, binds in id_lists(ids):
            tasks: dict[str, list[tuple[Any, ...]]] = {}
            for x in by_ids("compared_tasks", size).rows(self.conn, binds):
                tasks.setdefault(x.run, []).append(x)
            recs: dict[str, set[tuple[Any, ...]]] = {}
            for x in by_ids("compared_recommendations", size).rows(self.conn, binds):
                recs.setdefault(x.run, set()).add(x)
            found.update({row.id: (row, tasks.get(row.id, []), recs.get(row.id, set()))
                          for row in by_ids("compared_runs", size).rows(self.conn, binds)})
        return found
