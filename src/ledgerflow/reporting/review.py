"""The weekly review pack (SPEC §12, issue: the governance rhythm): what an operations leader brings to the
staff review, assembled from the reports and rendered by `domain.review`.

Read-only. Each part comes from the report that owns it (scorecard, friction, ownership, waiting), so the pack
says what those commands say.
"""

from __future__ import annotations

from typing import Any

from ledgerflow.domain.errors import InvalidInput
from ledgerflow.domain.figures import Period, parse_period, week_of
from ledgerflow.domain.governance import FOLLOW_UP_STEP
from ledgerflow.domain.reports import deadline, overdue_hours
from ledgerflow.domain.times import display_time, format_time, parse_time
from ledgerflow.reporting import reports
from ledgerflow.reporting.friction import friction
from ledgerflow.reporting.scorecard import figures
from ledgerflow.storage.reporting import first_event_of_task
from ledgerflow.storage.store import Store, Tx

TREND_WEEKS = 4
"""The weeks the trend covers, ending with the reviewed one."""


def period_of_review(tx: Tx, task_id: str) -> tuple[str, Period]:
    """The playbook and the week a review task looks at, as its `governance.review_opened` event says.

    A review opened before the event named its week looks at the week before it opened when the weekly
    cadence opened it (that week had just ended), else at the week it opened in.

    Raises:
        NotFound: no such task.
        InvalidInput: the task is not a governance review.
    """
    if tx.run_of_task(task_id) is not None or (task := tx.standalone(ids=[task_id])[task_id]).type != "review":
        raise InvalidInput(f"task {task_id} is not a governance review: only a review has a review pack",
                           rule="not-a-review")
    opened = first_event_of_task(tx, task_id, "governance.review_opened")
    data = (opened.data if opened is not None else None) or {}
    if data.get("period"):
        return task.playbook, parse_period(str(data["period"]))
    week = week_of(parse_time(opened.at if opened is not None else task.ready_at))
    return task.playbook, week.previous() if data.get("reason") == "weekly cadence" else week


def review_pack(store: Store, playbook_id: str, period: Period) -> dict[str, Any]:
    """Everything the review pack shows for one playbook and period.

    Raises:
        NotFound: no such playbook.
    """
    start, end = period.bounds
    with store.read() as tx:
        playbook, version = tx.playbook(playbook_id)
        state = tx.governance(playbook_id)
        now = tx.now()
        weeks = [period]
        while period.is_week and len(weeks) < TREND_WEEKS:
            weeks.insert(0, weeks[0].previous())
        trend = [figures(tx, playbook_id, week) for week in weeks]
        opened = [row for row in tx.events_of_type("governance.review_opened", start, end)
                  if row["data"].get("playbook") == playbook_id]
        decided = [row for row in tx.events_of_type("governance.decided", start, end)
                   if row["data"].get("playbook") == playbook_id]
        follow_ups = tx.standalone(playbook=playbook_id, step=FOLLOW_UP_STEP, open_only=True).values()
    card = trend[-1]
    escalations = [c for c in reports.ownership(store, playbook_id, period)["changes"] if c["kind"] == "escalation"]
    return {
        "playbook": playbook_id, "version": version, "title": playbook.title, "period": period.name,
        "outcome_owner": playbook.outcome.owner, "workflow_owner": playbook.workflow_owner,
        "statement": playbook.outcome.statement, "measure": playbook.outcome.measure,
        "governance": state.state if state is not None else "continue", "generated_at": display_time(format_time(now)),
        "scorecard": card, "outcome": card["outcome"], "trend": trend,
        "triggers": [{"at": display_time(row["at"]), "trigger": row["data"].get("trigger"),
                      "reason": row["data"].get("reason")} for row in opened if row["data"].get("trigger")],
        "waiting": reports.waiting(store, playbook=playbook_id),
        "friction": friction(store, playbook_id, period),
        "escalations": [{"at": c["at"], "run": c["run"], "step": c["step"], "from": c["from"], "to": c["to"]}
                        for c in escalations],
        "decisions": [{"at": display_time(row["at"]), "by": row["actor"], "decision": row["data"].get("decision"),
                       "rationale": row["data"].get("rationale")} for row in decided],
        "follow_ups": [{"task": t.id, "owner": t.assignee, "what": t.note, "due_at": display_time(t.due_at),
                        "overdue": overdue_hours(deadline(t.due_at, t.sla_due_at), now) > 0} for t in follow_ups],
    }
