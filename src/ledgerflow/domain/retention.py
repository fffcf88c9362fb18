"""Retention of documents and the legal hold (SPEC §14): which bytes may go, and the events that say so.

A playbook may keep its runs' documents for a while after each run ends (`retention: {attachments: 365d}`).
Past that, the bytes may be removed; the removal is an `attachment.removed` event on the run's chain that
keeps the document's name and hash, so the history still proves what was decided on. A legal hold on a run
(`run.held`, lifted by `run.released`) stops removal, whatever the retention says.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ledgerflow.domain.errors import Forbidden, InvalidTransition
from ledgerflow.domain.events import Event, authority
from ledgerflow.domain.playbook import Playbook
from ledgerflow.domain.runs import RunState
from ledgerflow.domain.times import format_time, parse_time


def expired(run: RunState, retention: timedelta | None, now: datetime) -> list[Event]:
    """`attachment.removed` for each document of an ended, unheld run kept past its retention (once per hash)."""
    if retention is None or run.held or run.ended_at is None or parse_time(run.ended_at) + retention > now:
        return []
    at = format_time(now)
    kept = {a.sha256: a for a in run.attachments if a.removed_at is None}
    return [Event(type="attachment.removed", at=at, actor="system", channel="system", run=run.id,
                  authority=authority("system", "retention"),
                  data={"sha256": sha256, "name": a.name, "reason": "retention",
                        "ended_at": run.ended_at, "kept_for": retention.days})
            for sha256, a in kept.items()]


def hold(run: RunState, playbook: Playbook, *, actor: str, is_admin: bool, held: bool, reason: str,
         at: str, channel: str) -> Event:
    """Place (`held`) or lift a legal hold on a run: its workflow owner, its outcome owner or the administrator,
    with a reason.

    Raises:
        Forbidden: someone else (`hold-not-allowed`), or no reason (`reason-required`).
        InvalidTransition: the run is held already, or not held (`hold-state`).
    """
    owners = {"workflow owner": playbook.workflow_owner, "outcome owner": playbook.outcome.owner}
    held_as = next((name for name, who in owners.items() if who == actor), None)
    if held_as is None and not is_admin:
        raise Forbidden(f"only the workflow owner ({playbook.workflow_owner}) or the outcome owner "
                        f"({playbook.outcome.owner}) places or lifts a legal hold on run {run.id}",
                        rule="hold-not-allowed")
    if not reason.strip():
        raise Forbidden("a legal hold needs a reason", rule="reason-required")
    if run.held == held:
        raise InvalidTransition(f"run {run.id} is {'held' if held else 'not held'} already", rule="hold-state")
    auth = authority("owner", held_as) if held_as is not None else authority("admin")
    return Event(type="run.held" if held else "run.released", at=at, actor=actor, channel=channel, run=run.id,
                 authority=auth, data={"reason": reason})
