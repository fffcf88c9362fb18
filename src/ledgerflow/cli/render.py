"""Turning results into the JSON shapes of SPEC §6, and into Rich tables for people."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ledgerflow.domain.findings import ERROR
from ledgerflow.domain.runs import RunState, TaskState
from ledgerflow.domain.times import display_time
from ledgerflow.timeline import describe

# Markup is off: recorded text like "[section 4.2]" must print as recorded (SPEC §6); styles go in Text objects.
out = Console(soft_wrap=True, markup=False)
err = Console(stderr=True, soft_wrap=True, markup=False)


def finding_line(where: str, severity: str, rule: str, message: str) -> Text:
    """One lint finding, the severity coloured, every part printed as written."""
    colour = "red" if severity == ERROR else "yellow"
    return Text.assemble(f"{where}: ", (severity, colour), " ", (rule, "bold"), f" {message}")


def task_json(task: TaskState, *, full: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "task": task.id, "run": task.run, "playbook": task.playbook, "step": task.step, "type": task.type,
        "status": str(task.status), "assignee": task.assignee, "ready_at": display_time(task.ready_at),
        "due_at": display_time(task.due_at), "sla_due_at": display_time(task.sla_due_at),
        "attempt": task.attempt, "on_behalf_of": task.on_behalf_of, "blocked": task.blocked,
    }
    if full:
        data.update(outcome=task.outcome, rationale=task.rationale, output=task.output, seat=task.seat,
                    started_at=display_time(task.started_at), ended_at=display_time(task.ended_at),
                    approver=task.approver, data_hash=task.data_hash, error=task.error)
    return data


def run_json(run: RunState | Any) -> dict[str, Any]:
    return {"run": run.id, "playbook": run.playbook, "version": run.version, "status": str(run.status),
            "started_by": run.started_by, "started_at": display_time(run.started_at),
            "ended_at": display_time(run.ended_at)}


def timeline_entry(row: dict[str, Any]) -> dict[str, Any]:
    return {"seq": row["seq"], "at": display_time(row["at"]), "type": row["type"], "actor": row["actor"],
            "channel": row["channel"], "task": row["task"], "step": row["step"], "authority": row["authority"],
            "data": row["data"], "text": describe(row)}


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


def tasks_table(tasks: Iterable[TaskState], title: str = "Tasks") -> Table:
    table = Table(title=title)
    for column in ("task", "step", "type", "status", "assignee", "ready", "due"):
        table.add_column(column, no_wrap=column in IDS, min_width=10 if column in IDS else None)
    for task in tasks:
        table.add_row(task.id, task.step, task.type, str(task.status), task.assignee or "-",
                      display_time(task.ready_at) or "", display_time(task.due_at) or "")
    return table


def attachment_line(d: dict[str, Any]) -> str:
    """One document on a line of `task show`."""
    removed = f", bytes removed {d['removed_at']}" if d["removed_at"] else ""
    return (f"attachment {d['name']} ({d['media_type']}, {d['size']:,} bytes) by {d['actor']} at "
            f"{d['step'] or 'start'}{removed}: {d['sha256']}")


SHARES = frozenset({"exception_rate", "first_pass_yield"})
"""Figures that are shares: people read them as percentages (JSON keeps the unrounded number)."""
IDS = frozenset({"task", "run"})
"""Columns of ids, printed whole however narrow the terminal: a cut id cannot be copied."""


def cell(column: str, value: Any) -> str:
    """A figure as a person reads it: 58% for a share, +6 pts for a trend, "blocked" for a true flag."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return column if value else ""
    if isinstance(value, float):
        if column in SHARES:
            return f"{value:.0%}"
        if column == "quality_trend":
            return f"{value * 100:+.0f} pts"
        return f"{value:.1f}"
    if isinstance(value, dict):
        return ", ".join(f"{key.removesuffix('_hours')} {cell(key, item)} h" for key, item in value.items())
    return str(value)


def table(title: str, columns: tuple[str, ...], rows: Iterable[dict[str, Any]]) -> Table:
    result = Table(title=title)
    for column in columns:
        if column in IDS:
            result.add_column(column, no_wrap=True, min_width=10)
        else:
            result.add_column(column)
    for row in rows:
        result.add_row(*(cell(c, row[c]) for c in columns))
    return result
