"""Turning results into the JSON shapes of SPEC §6, and into Rich tables for people."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ledgerflow.domain.findings import ERROR
from ledgerflow.domain.review import outcome_line
from ledgerflow.domain.runs import RunState, TaskState
from ledgerflow.domain.times import display_time
from ledgerflow.reporting.timeline import authority_text, describe

if TYPE_CHECKING:
    from ledgerflow.domain.playbook import Playbook

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


def timeline_entry(row: dict[str, Any], playbook: Playbook | None = None) -> dict[str, Any]:
    return {"seq": row["seq"], "at": display_time(row["at"]), "type": row["type"], "actor": row["actor"],
            "channel": row["channel"], "task": row["task"], "step": row["step"], "authority": row["authority"],
            "data": row["data"], "text": describe(row, playbook)}


def rights_lines(rights: dict[str, Any], step: str, playbook: Playbook | None) -> list[str]:
    """Who may do what at a step, in words: who approves and under which authority row, the options, who
    recommends, executes and is told, and whose earlier work keeps a person out (`task show`)."""
    if "owner" in rights:
        return [f"owner: {rights['owner']}"] if rights["owner"] else []
    under = (f", under {authority_text({'kind': 'authority_row', 'detail': rights['authority_row']}, step, playbook)}"
             if rights.get("authority_row") is not None else "")
    lines = [f"approves: {rights.get('approve') or rights.get('approve_default')}{under}"]
    required = "; a rationale is required" if rights.get("rationale_required") else ""
    quorum = f"; {rights['quorum']} approvals needed" if (rights.get("quorum") or 1) > 1 else ""
    lines.append(f"options: {', '.join(rights.get('options') or [])}{required}{quorum}")
    lines += [f"{label}: {', '.join(names) if isinstance(names, list) else names}" for label, names in (
        ("recommends", rights.get("recommend")), ("executes", rights.get("execute")),
        ("informed", rights.get("inform"))) if names]
    if rights.get("separation_of_duties"):
        lines.append(f"separation of duties: whoever did {', '.join(rights['separation_of_duties'])} may not decide")
    if rights.get("you_are_excluded"):
        lines.append(f"you may not decide: {rights['you_are_excluded']}")
    return lines


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


def tasks_table(tasks: Iterable[TaskState], title: str = "Tasks") -> Table:
    rows = [{"task": task.id, "step": task.step, "type": task.type, "status": str(task.status),
             "assignee": task.assignee or "-", "ready_at": display_time(task.ready_at),
             "due_at": display_time(task.due_at)} for task in tasks]
    return table(title, ("task", "step", "type", "status", "assignee", "ready_at+due_at"), rows)


def attachment_line(d: dict[str, Any]) -> str:
    """One document on a line of `task show`."""
    removed = f", bytes removed {d['removed_at']}" if d["removed_at"] else ""
    return (f"attachment {d['name']} ({d['media_type']}, {d['size']:,} bytes) by {d['actor']} at "
            f"{d['step'] or 'start'}{removed}: {d['sha256']}")


SHARES = frozenset({"exception_rate", "first_pass_yield"})
"""Figures that are shares: people read them as percentages (JSON keeps the unrounded number)."""
IDS = frozenset({"task", "run", "id"})
"""Columns of ids, printed whole however narrow the terminal: a cut id cannot be copied."""
TIMES = frozenset({"due_at", "ready_at", "at", "since", "started_at", "ended_at", "created_at", "expires_at"})
"""Columns of RFC 3339 times, kept on one line."""
PROSE = frozenset({"summary", "reason", "rationale", "text", "name"})
"""Columns of free text: they take the width left over and wrap, so short columns stay on one line."""


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
    if isinstance(value, dict) and column == "outcome":  # the scorecard's outcome block (SPEC §12)
        return outcome_line(value)
    if isinstance(value, dict):
        return ", ".join(f"{key.removesuffix('_hours')} {cell(key, item)} h" for key, item in value.items())
    return str(value)


HEADERS = {"reassignments": "reassign-\nments", "in_progress_median_hours": "in progress\nmedian h"}
"""Headers too long for a narrow column, broken where a reader expects (Rich would cut them anywhere)."""


def table(title: str, columns: tuple[str, ...], rows: Iterable[dict[str, Any]]) -> Table:
    """A table that cuts nothing in 80 columns: ids and times stay whole on one line, free text wraps.

    A column named `a+b` stacks two values in one cell (`task+run`: the task id over its run's), which is how
    two ids and a time fit beside a summary in 80 columns.
    """
    result = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    for column in columns:
        parts = column.split("+")
        header = "\n".join(HEADERS.get(part) or part.replace("_hours", " h").replace("_", " ") for part in parts)
        if all(part in IDS for part in parts) or all(part in TIMES for part in parts):
            result.add_column(header, no_wrap=True, min_width=10 if parts[0] in IDS else 20)
        elif column in PROSE:
            result.add_column(header, overflow="fold", ratio=1, min_width=16)
        else:
            result.add_column(header, overflow="fold")
    for row in rows:
        result.add_row(*("\n".join(cell(part, row[part]) for part in column.split("+")) for column in columns))
    return result
