"""Audit events: the closed, versioned list of types (SPEC §8) and the event record itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 2
"""2: events are chained per run (`chain`, `chain_seq`); 1 was one global chain."""

EVENT_TYPES = frozenset({
    "run.started", "run.completed", "run.rejected", "run.cancelled",
    "task.ready", "task.started", "task.completed", "task.decided", "task.sent_back", "task.cancelled",
    "task.failed", "step.skipped", "check.passed", "check.failed", "recommendation.recorded",
    "assignment.changed", "ownership.gap", "nudge.sent", "sla.breached", "action.called", "action.failed",
    "notification.queued", "notification.delivered", "governance.review_opened", "governance.decided",
    "playbook.published", "directory.loaded", "clock.advanced", "token.created", "token.revoked",
    "decision.informed", "audit.rechained", "audit.checkpointed", "escalation.pulled_in", "outcome.recorded",
    "approval.consumed", "approval.refused", "gateway.called",
    "attachment.removed", "run.held", "run.released", "governance.autonomy_changed",
})

PEOPLE_CHANNELS = ("web", "api", "cli", "mcp", "email", "slack")
"""Where a person or an agent acts (SPEC §13): every channel goes through the same command, rights and limits;
`mcp` is an AI agent over the Model Context Protocol (SPEC §11)."""
CHANNELS = frozenset({*PEOPLE_CHANNELS, "worker", "system"})
"""Where a command came in (SPEC §8): a person's channel, or the engine's own."""

AUTHORITY_KINDS = frozenset({"role", "authority_row", "delegation", "escalation", "reassignment",
                             "ownership_gap", "owner", "admin", "system", "person", "assignee", "starter", "guest",
                             "grant", "policy"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """One change of state, before the log gives it a `seq` and hashes."""

    type: str
    at: str
    actor: str
    channel: str = "system"
    run: str | None = None
    task: str | None = None
    step: str | None = None
    authority: dict[str, Any] = field(default_factory=lambda: {"kind": "system", "detail": None})
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {self.type!r}")
        if self.channel not in CHANNELS:
            raise ValueError(f"unknown channel {self.channel!r}")


def authority(kind: str, detail: Any = None) -> dict[str, Any]:
    """The authority an event was done under."""
    if kind not in AUTHORITY_KINDS:
        raise ValueError(f"unknown authority kind {kind!r}")
    return {"kind": kind, "detail": detail}


def record(event: Event, seq: int, chain: str, chain_seq: int, prev_hash: str) -> dict[str, Any]:
    """The stored, hashed form of an event (everything but `hash`)."""
    return {"v": SCHEMA_VERSION, "seq": seq, "chain": chain, "chain_seq": chain_seq, "at": event.at,
            "type": event.type, "actor": event.actor, "channel": event.channel, "run": event.run, "task": event.task,
            "step": event.step, "authority": event.authority, "data": event.data, "prev_hash": prev_hash}
