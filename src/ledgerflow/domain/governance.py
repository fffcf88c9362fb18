"""Governance rhythm (SPEC §3.7): decisions by the owners, review tasks, follow-ups and risk triggers.

Reviews and follow-ups are tasks without a run. Their events (`task.ready`, `task.completed` with a null
run) fold into standalone task state the same way run tasks do, so `audit verify` replays them too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any
from urllib.parse import quote

from ledgerflow.domain.errors import Forbidden, InvalidInput
from ledgerflow.domain.events import Event, authority
from ledgerflow.domain.figures import LATENCY_PERCENTILES
from ledgerflow.domain.playbook import Playbook, Trigger
from ledgerflow.domain.runs import TaskState
from ledgerflow.domain.states import TaskStatus
from ledgerflow.domain.times import format_time

DECISIONS = ("continue", "stabilize", "pause", "stop")
REVIEW_DUE = timedelta(days=2)
REVIEW_STEP = "governance-review"
FOLLOW_UP_STEP = "follow-up"


@dataclass(frozen=True, slots=True, kw_only=True)
class FollowUp:
    text: str
    owner: str
    due: timedelta


def next_week_start(moment: datetime) -> datetime:
    """Monday 00:00Z after `moment` (ISO weeks start on Monday)."""
    monday = moment.date() - timedelta(days=moment.weekday())
    return datetime.combine(monday, time(0), tzinfo=UTC) + timedelta(days=7)


def metric_value(figures: Mapping[str, Any], metric: str) -> float | None:
    """A trigger metric from a scorecard: its keys, the two decision latency figures and the outcome value."""
    if metric == "decision_latency_median_hours":
        value = figures["decision_latency"]["median_hours"]
    elif metric == "decision_latency_p90_hours":
        value = figures["decision_latency"]["p90_hours"]
    elif metric == "outcome":
        value = (figures.get("outcome") or {}).get("value")
    else:
        value = figures.get(metric)
    return float(value) if isinstance(value, int | float) else None


def threshold(trigger: Trigger) -> float:
    return trigger.above if trigger.above is not None else float(trigger.below or 0)


def side(value: float | None, bound: float) -> int | None:
    """The sign of (value - bound); None for a null figure."""
    return None if value is None else (value > bound) - (value < bound)


def latency_thresholds(playbook: Playbook) -> frozenset[float]:
    """The thresholds of the playbook's risk triggers on a decision latency percentile."""
    return frozenset(threshold(t) for t in playbook.governance.triggers if t.metric in LATENCY_PERCENTILES)


def crossed(trigger: Trigger, throughput: int, side: int | None) -> bool:
    """True when the period-to-date figure is beyond the threshold over at least `min_runs` ended runs.

    `side` is the sign of (figure - threshold), None when the figure is null.
    """
    if throughput < trigger.min_runs or side is None:
        return False
    return side > 0 if trigger.above is not None else side < 0


def trigger_key(trigger: Trigger) -> str:
    bound = f"above {trigger.above}" if trigger.above is not None else f"below {trigger.below}"
    return f"{trigger.metric} {bound}"


def pack_links(playbook_id: str, period: str) -> dict[str, str]:
    """Where a review's pack is fetched (issue #20): the command that writes it and the API path that serves
    it, for one playbook and period. The path is relative to the server's base URL."""
    return {"period": period,
            "command": f"ledgerflow report review {playbook_id} --period {period} --out review-{period}.pdf",
            "url": f"/api/v1/playbooks/{quote(playbook_id, safe='')}/review?period={period}&format=pdf"}


def open_review(playbook: Playbook, *, now: datetime, new_id: Callable[[str], str], reason: str,
                figures: Mapping[str, Any], existing: TaskState | None, period: str,
                trigger: str | None = None, agent: str | None = None) -> list[Event]:
    """A review task for the workflow owner, or a note on the one already open.

    `period` is the week the review looks at (the one just ended for the weekly cadence, the week a trigger
    crossed in); the task's text and the event carry where that week's review pack is fetched. `agent` names the
    agent a trigger on its agreement is about.
    """
    at = format_time(now)
    pack = pack_links(playbook.id, period)
    data: dict[str, Any] = {"playbook": playbook.id, "reason": reason, "trigger": trigger, "figures": dict(figures),
                            "period": period, "pack": pack}
    if agent is not None:
        data["agent"] = agent
    if existing is not None:
        return [Event(type="governance.review_opened", at=at, actor="system", task=existing.id, step=REVIEW_STEP,
                      data={**data, "added_to": existing.id})]
    task_id = new_id("t")
    owner = playbook.workflow_owner or "admin"
    what = (f"Review {playbook.id} for {period} ({reason}) and decide: continue, stabilize, pause or stop. "
            f"The review pack: {pack['command']} (or GET {pack['url']}).")
    ready = {"type": "review", "attempt": 1, "seat": 0, "assignee": owner, "ready_at": at,
             "due_at": format_time(now + REVIEW_DUE), "sla_due_at": None, "playbook": playbook.id, "what": what}
    return [Event(type="governance.review_opened", at=at, actor="system", task=task_id, step=REVIEW_STEP, data=data),
            Event(type="task.ready", at=at, actor="system", task=task_id, step=REVIEW_STEP,
                  authority=authority("owner", "workflow owner"), data=ready)]


def decide(playbook: Playbook, *, actor: str, channel: str, decision: str, rationale: str,
           follow_ups: Sequence[FollowUp], figures: Mapping[str, Any], open_reviews: Sequence[TaskState],
           known_actor: Callable[[str], bool], now: datetime, new_id: Callable[[str], str]) -> list[Event]:
    """A governance decision by the outcome or workflow owner, closing open reviews, opening follow-ups.

    Raises:
        InvalidInput: an unknown decision or follow-up owner.
        Forbidden: the actor owns neither layer, or the rationale is blank.
    """
    if decision not in DECISIONS:
        raise InvalidInput(f"--decision {decision!r}: choose one of {', '.join(DECISIONS)}", rule="bad-decision")
    owners = {"outcome owner": playbook.outcome.owner, "workflow owner": playbook.workflow_owner}
    held = next((name for name, who in owners.items() if who == actor), None)
    if held is None:
        raise Forbidden(f"only the outcome owner ({playbook.outcome.owner}) or the workflow owner "
                        f"({playbook.workflow_owner}) decides on playbook {playbook.id}", rule="governance-not-owner")
    if not rationale.strip():
        raise Forbidden("a governance decision needs a rationale", rule="rationale-required")
    for item in follow_ups:
        if not known_actor(item.owner):
            raise InvalidInput(f"follow-up owner {item.owner!r} is not in the directory", rule="unknown-actor")
        if not item.text.strip():
            raise InvalidInput("a follow-up needs its text", rule="follow-up-text")
    at = format_time(now)
    auth = authority("owner", held)
    events = [Event(type="governance.decided", at=at, actor=actor, channel=channel, authority=auth,
                    data={"playbook": playbook.id, "decision": decision, "rationale": rationale,
                          "scorecard": dict(figures), "closes": [r.id for r in open_reviews],
                          "follow_ups": [{"text": f.text, "owner": f.owner} for f in follow_ups]})]
    for review in open_reviews:
        events.append(Event(type="task.completed", at=at, actor=actor, channel=channel, task=review.id,
                            step=REVIEW_STEP, authority=auth, data={"output": {"decision": decision}}))
    for item in follow_ups:
        events.append(Event(type="task.ready", at=at, actor=actor, channel=channel, task=new_id("t"),
                            step=FOLLOW_UP_STEP, authority=auth,
                            data={"type": "follow_up", "attempt": 1, "seat": 0, "assignee": item.owner,
                                  "ready_at": at, "due_at": format_time(now + item.due), "sla_due_at": None,
                                  "playbook": playbook.id, "what": item.text}))
    return events


def evolve_standalone(tasks: dict[str, TaskState], event: Event) -> None:
    """Fold an event of a task without a run (reviews, follow-ups) into `tasks`."""
    if event.run is not None or event.task is None:
        return
    data = event.data
    if event.type == "task.ready":
        tasks[event.task] = TaskState(id=event.task, run=None, playbook=data["playbook"], step=str(event.step),
                                      type=data["type"], status=TaskStatus.READY, assignee=data["assignee"],
                                      ready_at=data["ready_at"], due_at=data.get("due_at"), note=data.get("what"))
    elif event.type == "task.completed" and event.task in tasks:
        tasks[event.task] = replace(tasks[event.task], status=TaskStatus.COMPLETED, ended_at=event.at,
                                    output=data.get("output", {}))
    elif event.type == "task.started" and event.task in tasks:
        tasks[event.task] = replace(tasks[event.task], status=TaskStatus.IN_PROGRESS, started_at=event.at)
