"""Turning results into the JSON shapes of SPEC §6, and into Rich tables for people."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.table import Table

from ledgerflow.domain.runs import RunState, TaskState
from ledgerflow.domain.times import display_time

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


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


def describe(row: dict[str, Any]) -> str:
    """One readable sentence for an event."""
    d, who, step = row["data"], row["actor"], row["step"]
    auth = row["authority"] or {}
    under = f" under {auth.get('kind')}" + (f" ({auth['detail']})" if auth.get("detail") not in (None, "") else "")
    match row["type"]:
        case "run.started":
            why = f": {d['why']}" if d.get("why") else ""
            return f"{who} started the run on {d['playbook']} v{d['version']}{why}"
        case "task.ready":
            extra = f" on behalf of {d['on_behalf_of']}" if d.get("on_behalf_of") else ""
            return f"{step} is ready for {d.get('assignee') or 'the system'}{extra}{under}"
        case "task.started":
            return f"{who} started {step}"
        case "task.completed":
            return f"{who} completed {step}"
        case "task.decided":
            text = f"{who} decided {d['outcome']} on {step}{under}"
            return text + (f": {d['rationale']}" if d.get("rationale") else "")
        case "recommendation.recorded":
            return f"{who} recommended {d['outcome']} on {step}: {d['rationale']}"
        case "check.passed":
            return f"check {step} passed"
        case "check.failed":
            return f"check {step} failed: {d.get('error')} ({d.get('on_fail')})"
        case "step.skipped":
            return f"{step} skipped: `{d.get('when')}` is false"
        case "task.sent_back":
            return f"{who} sent the run back to {d['to']}"
        case "task.cancelled":
            return f"{step} cancelled: {d.get('reason')}"
        case "assignment.changed":
            return f"{step} moved from {d.get('from')} to {d.get('to')} by {d.get('kind')}" + (
                f": {d['reason']}" if d.get("reason") else "")
        case "ownership.gap":
            return f"nobody in {d.get('role')} can take {step}; it goes to {d.get('resolved_to')}"
        case "decision.informed":
            return f"{', '.join(d.get('to', []))} informed of {d.get('outcome')} on {step}"
        case _:
            return f"{row['type']} by {who}"


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


def tasks_table(tasks: Iterable[TaskState], title: str = "Tasks") -> Table:
    table = Table(title=title)
    for column in ("task", "step", "type", "status", "assignee", "ready", "due"):
        table.add_column(column)
    for task in tasks:
        table.add_row(task.id, task.step, task.type, str(task.status), task.assignee or "-",
                      display_time(task.ready_at) or "", display_time(task.due_at) or "")
    return table
