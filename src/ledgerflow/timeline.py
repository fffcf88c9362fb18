"""Events as sentences a person reads: the run timeline of the CLI and the web UI."""

from __future__ import annotations

from typing import Any


def describe(row: dict[str, Any]) -> str:
    """One readable sentence for an event."""
    d, who, step = row["data"], row["actor"], row["step"]
    auth = row["authority"] or {}
    under = f" under {auth.get('kind')}" + (f" ({auth['detail']})" if auth.get("detail") not in (None, "") else "")
    via = f" via {row['channel']}" if row.get("channel") not in (None, "system", "worker") else ""
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
            return f"{who} completed {step}{via}"
        case "task.decided":
            text = f"{who} decided {d['outcome']} on {step}{via}{under}"
            return text + (f": {d['rationale']}" if d.get("rationale") else "")
        case "recommendation.recorded":
            return f"{who} recommended {d['outcome']} on {step}{via}: {d['rationale']}"
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
        case "nudge.sent":
            return f"{d.get('to')} nudged on {step}" + (f" (SLA due {d['due_at']})" if d.get("due_at") else "")
        case "sla.breached":
            return f"{step} breached its SLA ({d.get('sla_due_at')}) with {d.get('assignee')}"
        case "governance.review_opened":
            return f"a review of {d.get('playbook')} opened: {d.get('reason')}"
        case "escalation.pulled_in":
            return (f"{', '.join(d.get('to', []))} pulled in on {step} (it stays with {d.get('assignee')}): "
                    f"{d.get('reason')}")
        case _:
            return f"{row['type']} by {who}"
