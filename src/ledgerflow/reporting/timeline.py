"""Events as sentences a person reads: the run timeline of the CLI and the web UI."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ledgerflow.domain.times import display_time

if TYPE_CHECKING:
    from ledgerflow.domain.playbook import Playbook


def authority_text(authority: dict[str, Any] | None, step: str | None, playbook: Playbook | None = None) -> str:
    """Under what authority, as a person reads it: an authority row by its condition, not its position."""
    auth = authority or {}
    kind, detail = auth.get("kind"), auth.get("detail")
    if kind == "authority_row" and playbook is not None and step in playbook.by_id:
        rows = getattr(playbook.step(str(step)), "authority", ())  # only decisions have authority rows
        if str(detail).isdigit() and int(str(detail)) < len(rows):
            row = rows[int(str(detail))]
            return (f"the authority row `{row.when.source}` ({row.approve} approves)" if row.when is not None
                    else f"the default authority row ({row.approve} approves)")
    return f"{kind}" + (f" ({detail})" if detail not in (None, "") else "")


def describe(row: dict[str, Any], playbook: Playbook | None = None) -> str:
    """One readable sentence for an event; with the run's playbook version, authority rows by their condition."""
    d, who, step = row["data"], row["actor"], row["step"]
    under = f" under {authority_text(row['authority'], step, playbook)}"
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
            return f"{d.get('to')} nudged on {step}" + (f" (SLA due {display_time(d['due_at'])})"
                                                        if d.get("due_at") else "")
        case "sla.breached":
            return f"{step} breached its SLA ({display_time(d.get('sla_due_at'))}) with {d.get('assignee')}"
        case "governance.review_opened":
            return f"a review of {d.get('playbook')} opened: {d.get('reason')}"
        case "governance.autonomy_changed":
            limit = f" to {d['limit']:g}" if d.get("limit") is not None else ""
            return (f"{who} decided {d.get('change')}{limit} for {d.get('agent')}'s autonomy at {step}: "
                    f"{d.get('rationale')}")
        case "escalation.pulled_in":
            return (f"{', '.join(d.get('to', []))} pulled in on {step} (it stays with {d.get('assignee')}): "
                    f"{d.get('reason')}")
        case "approval.consumed":
            approver = ((row["authority"] or {}).get("detail") or {}).get("approver")
            return f"{who} used approval {d.get('approval')} (approved by {approver}) for {d.get('action')}"
        case "approval.refused":
            return f"{who} was refused approval {d.get('approval')} for {d.get('action')}: {d.get('rule')}"
        case _:
            return f"{row['type']} by {who}"
