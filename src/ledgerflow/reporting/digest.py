"""A day of recorded events told in a few lines: what `ledgerflow demo` prints while its month plays.

Built from the events alone (never from ids, which are random), so the same seed tells the same story.
"""

from __future__ import annotations

import textwrap
from collections import Counter
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

WIDTH = 80


def request_name(input: Mapping[str, Any]) -> str:
    """A request as people call it: `Acme 18% off 12,000` for the pricing example, else its first value."""
    customer = input.get("customer")
    value, pct = input.get("deal_value"), input.get("discount_pct")
    if isinstance(customer, str) and isinstance(value, int | float) and isinstance(pct, int | float):
        return f"{customer} {pct:g}% off {value:,.0f}"
    return str(next(iter(input.values()), "a request"))


def day_digest(title: str, rows: Iterable[dict[str, Any]], names: MutableMapping[str, str]) -> list[str]:
    """The day's requests, checks sending work back and why, decisions, nudges, escalations and reviews.

    Args:
        title: the day, as its first line.
        rows: the day's events in seq order (`Tx.events`).
        names: run id -> request name; runs started today are added, so later days can name them.
    """
    rows = list(rows)
    for row in rows:
        if row["type"] == "run.started":
            names[row["run"]] = request_name(row["data"].get("input") or {})

    def name(row: dict[str, Any]) -> str:
        return names.get(row["run"] or "", "a request")

    said: list[tuple[str, str]] = []
    started = [f"{name(r)} ({r['actor']})" for r in rows if r["type"] == "run.started"]
    if started:
        said.append((f"{len(started)} request{'s' if len(started) > 1 else ''}", ", ".join(started)))
    failed = [r for r in rows if r["type"] == "check.failed"]
    for reason in dict.fromkeys(r["data"].get("error") for r in failed):
        which = [r for r in failed if r["data"].get("error") == reason]
        verb = "sent back" if which[0]["data"].get("on_fail") == "send_back" else "rejected"
        said.append((f"check {verb}", f"{', '.join(name(r) for r in which)}: {reason}"))
    decided = [r for r in rows if r["type"] == "task.decided"]
    if decided:
        approved = [r for r in decided if r["data"].get("outcome") == "approve"]
        parts = [f"{len(approved)} approved ({', '.join(dict.fromkeys(r['actor'] for r in approved))})"] \
            if approved else []
        for row in decided:
            outcome = row["data"].get("outcome")
            if outcome == "approve":
                continue
            verb = (f"sent {name(row)} back to {row['data'].get('to')}" if outcome == "send_back"
                    else f"rejected {name(row)}" if outcome == "reject" else f"decided {outcome} on {name(row)}")
            parts.append(f"{row['actor']} {verb}: {row['data'].get('rationale')}")
        said.append(("decisions", "; ".join(parts)))
    nudged = Counter(r["data"].get("to") for r in rows if r["type"] == "nudge.sent")
    if nudged:
        said.append(("nudged", ", ".join(f"{who} ({count})" if count > 1 else str(who)
                                         for who, count in nudged.items())))
    for row in rows:
        if row["type"] == "sla.breached":
            said.append(("SLA breached", f"{row['step']} of {name(row)} with {row['data'].get('assignee')}"))
        elif row["type"] == "assignment.changed" and row["data"].get("kind") == "escalation":
            said.append(("escalated", f"{row['step']} of {name(row)} from {row['data'].get('from')} to "
                                      f"{row['data'].get('to')}"))
        elif row["type"] == "escalation.pulled_in":
            said.append(("pulled in", f"{', '.join(row['data'].get('to', []))} on {row['step']} of {name(row)}"))
        elif row["type"] == "governance.review_opened" and row["data"].get("trigger") and "added_to" not in row["data"]:
            said.append(("review opened", str(row["data"].get("reason"))))  # the weekly ones are told as decided
    ended = Counter(r["type"].removeprefix("run.") for r in rows if r["type"] in ("run.completed", "run.rejected"))
    if ended:
        said.append(("runs ended", ", ".join(f"{count} {kind}" for kind, count in sorted(ended.items()))))
    lines = [title]
    for label, text in said:
        lines.extend(textwrap.wrap(f"{label}: {text}", WIDTH, initial_indent="  ", subsequent_indent="      "))
    return lines
