"""Which events tell whom, and what the message says (SPEC §7). Pure: the outbox stores, the worker sends.

A message carries the task's context (what, why, due, the run's data link) so that the person can act
from it; links point at `LEDGERFLOW_BASE_URL`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ledgerflow.domain.attachments import Attachment
from ledgerflow.domain.directory import Directory
from ledgerflow.domain.playbook import Playbook

NOTIFYING = frozenset({"task.ready", "assignment.changed", "nudge.sent", "decision.informed", "sla.breached",
                       "escalation.pulled_in"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """One notification to deliver: to an e-mail address, a Slack user (the bot; `recipient` is their Slack id),
    the Slack webhook (no recipient) or the generic webhook."""

    channel: str
    recipient: str | None
    subject: str
    body: str
    event_seq: int
    run: str | None
    task: str | None
    payload: dict[str, Any] = field(default_factory=dict)


def _who(event: dict[str, Any], playbook: Playbook | None) -> list[str]:
    data = event["data"]
    match event["type"]:
        case "task.ready" | "nudge.sent":
            return [data.get("assignee") or data.get("to")] if (data.get("assignee") or data.get("to")) else []
        case "assignment.changed":
            return [data["to"]]
        case "decision.informed" | "escalation.pulled_in":
            return list(data.get("to", []))
        case "sla.breached":
            owner = playbook.workflow_owner if playbook else None
            return [a for a in dict.fromkeys([data.get("assignee"), owner]) if a]
        case _:
            return []


def _text(event: dict[str, Any], playbook: Playbook | None, base_url: str, summary: str | None,
          documents: Sequence[Attachment] = ()) -> tuple[str, str]:
    data, step_id = event["data"], event["step"]
    step = playbook.by_id.get(step_id) if playbook and step_id else None
    clarity = getattr(step, "clarity", None)
    title = f"{playbook.title if playbook else data.get('playbook', '')}: {step_id}"
    if summary:
        title = f"{title} — {summary}"
    link = f"{base_url}/tasks/{event['task']}" if event["task"] else base_url
    lines = [f"About: {summary}"] if summary else []
    if clarity is not None:
        lines += [f"What: {clarity.what}", f"Why: {clarity.why}", f"Done when: {clarity.success}"]
    if data.get("due_at"):
        lines.append(f"Due: {data['due_at']}")
    if data.get("what"):
        lines.append(f"What: {data['what']}")
    match event["type"]:
        case "task.ready":
            subject = f"New task — {title}"
        case "assignment.changed":
            subject = f"Task handed to you ({data.get('kind')}) — {title}"
            lines.append(f"Reason: {data.get('reason')}")
        case "nudge.sent":
            subject = f"Reminder — {title} is waiting on you"
        case "decision.informed":
            subject = f"Decided: {data.get('outcome')} — {title}"
        case "escalation.pulled_in":
            subject = f"Escalated to you for attention — {title}"
            lines.append(f"{data.get('reason')}. You may read the run and reassign the decision to an eligible "
                         f"approver (assignee now: {data.get('assignee')}).")
        case _:
            subject = f"SLA breached — {title}"
    lines += [f"Document: {d.name} (SHA-256 {d.sha256}) {base_url}/attachments/{d.sha256}" for d in documents]
    lines += ["", f"Open it: {link}", f"Run: {event['run'] or '-'}  Task: {event['task'] or '-'}"]
    return subject, "\n".join(lines)


def messages_for(events: Sequence[dict[str, Any]], *, playbook: Playbook | None, directory: Directory | None,
                 channels: Sequence[str], base_url: str, summary: str | None = None,
                 documents: Sequence[Attachment] = ()) -> list[Message]:
    """The messages that stored events cause on the configured channels; `summary` is the run's (SPEC §12),
    carried in the subject so that a person sees what the task is about from the message list; `documents` are
    the run's (SPEC §14), each named with its hash, so the reader knows which bytes the task is about."""
    out: list[Message] = []
    for event in events:
        if event["type"] not in NOTIFYING:
            continue
        people = [p for p in _who(event, playbook) if p]
        if not people:
            continue
        subject, body = _text(event, playbook, base_url, summary, documents)
        common = {"subject": subject, "body": body, "event_seq": event["seq"], "run": event["run"],
                  "task": event["task"]}
        payload = {"type": event["type"], "seq": event["seq"], "at": event["at"], "run": event["run"],
                   "task": event["task"], "step": event["step"], "to": people, "data": event["data"],
                   "summary": summary}
        if documents:
            payload["documents"] = [{"name": d.name, "sha256": d.sha256} for d in documents]
        if "email" in channels and directory is not None:
            for person in people:
                actor = directory.get(person)
                if actor is not None and actor.email:
                    out.append(Message(channel="email", recipient=actor.email, payload={"to": person}, **common))
        if "slack-app" in channels and directory is not None:  # the bot writes to each person with a Slack id
            for person in people:
                actor = directory.get(person)
                if actor is not None and actor.slack:
                    out.append(Message(channel="slack", recipient=actor.slack,
                                       payload={"to": person, "text": f"*{subject}*\n{body}"}, **common))
        if "slack" in channels:
            out.append(Message(channel="slack", recipient=None, payload={"text": f"*{subject}*\n{body}"}, **common))
        if "webhook" in channels:
            out.append(Message(channel="webhook", recipient=None, payload=payload, **common))
    return out
