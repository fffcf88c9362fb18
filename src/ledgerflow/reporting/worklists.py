"""The web UI's two team lists (issue #21): the operations board (every open task of every open run a
person may see, blocked and overdue first, then longest wait) and the runs list (search, filters, pages).

Both are one filtered, ordered, limited query plus a grouped count, so a page costs the same at 100k open
runs as at 100 (`bench/web_lists.py` measures it); summaries are rendered for the shown page only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ledgerflow.domain.errors import InvalidInput
from ledgerflow.domain.figures import parse_period
from ledgerflow.domain.reports import waiting_entry
from ledgerflow.domain.times import format_time
from ledgerflow.engine import access
from ledgerflow.reporting.summaries import of_runs
from ledgerflow.storage.store import Tx
from ledgerflow.storage.visibility import TaskVisibility, playbook_versions
from ledgerflow.storage.worklists import board_page, runs_page

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


def task_visibility(tx: Tx, actor: str) -> TaskVisibility:
    """The tasks of runs `actor` sees (`access.visibility`'s rules, read off the tasks table: a playbook the
    actor reads in every version needs no look at its runs)."""
    directory = tx.directory()
    readable: dict[str, list[tuple[int, bool]]] = {}
    for pid, version in playbook_versions(tx):
        readable.setdefault(pid, []).append((version, actor in access.readers(tx.playbook(pid, version)[0], directory)))
    every = [pid for pid, versions in readable.items() if all(ok for _, ok in versions)]
    some = [(pid, version) for pid, versions in readable.items() if pid not in every for version, ok in versions if ok]
    return TaskVisibility(actor, tuple(every), tuple(some))


def board(tx: Tx, actor: str | None, where: BoardFilter, *, offset: int = 0, limit: int = 50) -> Board:
    """A page of the operations board for `actor` (every open run when None).

    Reads the tasks table alone: an open task belongs to a running run (ending a run closes its tasks).
    """
    now = tx.now()
    seen = task_visibility(tx, actor) if actor is not None else None
    counts, rows, versions = board_page(tx, seen, playbook=where.playbook, step=where.step, person=where.person,
                                        stamp=format_time(now), offset=offset, limit=limit)
    per_person = sorted(({"person": row.assignee, "open": int(row.open), "overdue": int(row.overdue or 0)}
                         for row in counts), key=lambda p: (-p["overdue"], -p["open"], p["person"] or ""))
    total = sum(p["open"] for p in per_person if not where.person or p["person"] == where.person)
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


def _search(tx: Tx, text: str) -> list[tuple[str, list[str]]]:
    """Per word, the LIKE pattern and the people it names: every word must match the run id, its starter, a
    person on it (id or directory name), or its input (which the summary is made of)."""
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
        found.append((like, people))
    return found


def runs(tx: Tx, actor: str | None, where: RunFilter, *, after: str | None = None,
         limit: int = 50) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the runs `actor` sees, newest first, after the run id `after`; and the id to continue after.

    Raises:
        InvalidInput: a bad period (`bad-period`) or status (`bad-status`).
    """
    seen = access.visibility(tx, actor) if actor is not None else None
    if where.status and where.status not in RUN_STATUSES:
        raise InvalidInput(f"status {where.status!r} is not one of {', '.join(RUN_STATUSES)}", rule="bad-status")
    started = _period_bounds(where.period, tx.now()) if where.period else None
    search = _search(tx, where.search) if where.search and where.search.strip() else []
    rows = runs_page(tx, seen, playbook=where.playbook, status=where.status, started_by=where.started_by,
                     started=started, search=search, after=after, limit=limit)
    more = len(rows) > limit
    rows = rows[:limit]
    about = of_runs(tx, (row.id for row in rows))
    return ([{"id": row.id, "playbook": row.playbook, "version": row.version, "status": row.status,
              "started_by": row.started_by, "started_at": row.started_at, "ended_at": row.ended_at,
              "summary": about.get(row.id)} for row in rows], rows[-1].id if more and rows else None)
