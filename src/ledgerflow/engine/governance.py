"""Governance use cases: decisions by the owners, reviews (cadence and risk triggers), follow-ups."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ledgerflow.domain import governance as rules
from ledgerflow.domain.autonomy import AGREEMENT_METRIC, recent_agreement
from ledgerflow.domain.autonomy import EVENT as AUTONOMY_EVENT
from ledgerflow.domain.directory import Directory
from ledgerflow.domain.durations import parse_duration
from ledgerflow.domain.errors import InvalidInput
from ledgerflow.domain.events import Event
from ledgerflow.domain.figures import LATENCY_PERCENTILES, Period, week_of
from ledgerflow.domain.limits import check_value
from ledgerflow.domain.playbook import Playbook, Trigger
from ledgerflow.domain.runs import RunState, TaskState
from ledgerflow.domain.timers import Timer
from ledgerflow.domain.times import display_time, format_time
from ledgerflow.engine.ids import new_id
from ledgerflow.ops import telemetry
from ledgerflow.reporting.scorecard import figures, latency_side
from ledgerflow.storage.store import Store, Tx

REVIEW = "review"


def apply_standalone(tx: Tx, events: Sequence[Event]) -> None:
    """Write the events of tasks without a run, and fold them into their rows."""
    ids = [e.task for e in events if e.task is not None and e.run is None]
    before = tx.standalone(ids=ids) if ids else {}
    after = dict(before)
    for event in events:
        rules.evolve_standalone(after, event)
    tx.append(events)
    tx.save_standalone(before, after)


def _open_review(tx: Tx, playbook: str) -> TaskState | None:
    reviews = tx.standalone(playbook=playbook, step=rules.REVIEW_STEP, open_only=True)
    return next(iter(reviews.values()), None)


def open_review(tx: Tx, playbook: Playbook, reason: str, trigger: str | None = None,
                period: Period | None = None, agent: str | None = None) -> list[Event]:
    """Open a review of `period` (default: this week), or add the reason to the review already open."""
    now = tx.now()
    events = rules.open_review(playbook, now=now, new_id=new_id, reason=reason,
                               figures=figures(tx, playbook.id, week_of(now)),
                               existing=_open_review(tx, playbook.id), trigger=trigger,
                               period=(period or week_of(now)).name, agent=agent)
    apply_standalone(tx, events)
    return events


def schedule_cadence(tx: Tx, playbook: Playbook) -> None:
    """A weekly review opens at the start of every ISO week: keep one pending timer per playbook."""
    if playbook.governance.cadence != "weekly" or tx.pending_timer(REVIEW, playbook.id):
        return
    due = format_time(rules.next_week_start(tx.now()))
    tx.add_timers([Timer(due_at=due, kind=REVIEW, run=None, task=None, data={"playbook": playbook.id})])


def fire_cadence(tx: Tx, playbook_id: str) -> list[Event]:
    playbook, _ = tx.playbook(playbook_id)
    events: list[Event] = []
    if playbook.governance.cadence == "weekly":
        # it fires at the start of a week: the week to review is the one that just ended
        events = open_review(tx, playbook, reason="weekly cadence", period=week_of(tx.now()).previous())
        schedule_cadence(tx, playbook)
    return events


def check_triggers(tx: Tx, playbook_id: str) -> list[Event]:
    """After a run ends: open a review the first time in the period that a trigger is crossed."""
    playbook, _ = tx.playbook(playbook_id)
    if not playbook.governance.triggers:
        return []
    now = tx.now()
    period = week_of(now)
    start, end = period.bounds
    fired = {data.get("trigger") for data in tx.event_data("governance.review_opened", start, end)
             if data.get("playbook") == playbook_id}
    waiting = [t for t in playbook.governance.triggers  # outcome triggers are checked as values are recorded,
               if t.metric not in ("outcome", AGREEMENT_METRIC)  # an agent's agreement as its steps are decided
               and rules.trigger_key(t) not in fired]
    if not waiting:
        return []
    card = figures(tx, playbook_id, period, need=frozenset(t.metric for t in waiting) - LATENCY_PERCENTILES.keys())
    events: list[Event] = []
    for trigger in waiting:
        key = rules.trigger_key(trigger)
        bound = rules.threshold(trigger)
        if trigger.metric in LATENCY_PERCENTILES:
            side = latency_side(tx, playbook_id, period, bound, LATENCY_PERCENTILES[trigger.metric])
        else:
            side = rules.side(rules.metric_value(card, trigger.metric), bound)
        if key not in fired and rules.crossed(trigger, card["throughput"], side):
            events += open_review(tx, playbook, reason=f"trigger crossed: {key}", trigger=key)
            fired.add(key)
    return events


def agreement_key(trigger: Trigger, agent: str, step: str) -> str:
    """The name an agent's agreement trigger fires under: one per agent and step."""
    return f"{AGREEMENT_METRIC} below {trigger.below} over {trigger.decisions} decisions ({agent} at {step})"


def check_agent_triggers(tx: Tx, playbook: Playbook, directory: Directory, run: RunState,
                         events: Sequence[Event]) -> list[Event]:
    """After a decision: open a review naming an agent whose agreement with the final outcomes at the step,
    over its latest `decisions` judged recommendations, went below the threshold. It fires once per agent and
    step, and again only after the owners decided on that agent's autonomy at the step."""
    triggers = [t for t in playbook.governance.triggers if t.metric == AGREEMENT_METRIC]
    steps = {str(e.step) for e in events if e.type == "task.decided"} if triggers else set()
    pairs = sorted({(r.actor, r.step) for r in run.recommendations if r.step in steps
                    and directory.is_actor(r.actor) and not directory.is_person(r.actor)})
    opened: list[Event] = []
    for agent, step in pairs:
        for trigger in triggers:
            key = agreement_key(trigger, agent, step)
            fired = tx.last_event_seq("governance.review_opened", {"trigger": key})
            decided = tx.last_event_seq(AUTONOMY_EVENT, {"playbook": playbook.id, "step": step, "agent": agent})
            if fired is not None and (decided is None or decided < fired):
                continue
            judged, agreed = recent_agreement(*tx.agent_recommendations(playbook.id, agent, step), trigger.decisions)
            bound = float(trigger.below or 0)
            if judged < trigger.decisions or agreed / judged >= bound:
                continue
            reason = (f"agent {agent} agreed with the final outcome at step {step} in {agreed} of its last {judged} "
                      f"recommendations ({agreed / judged:.0%}), below {bound:.0%}")
            opened += open_review(tx, playbook, reason=reason, trigger=key, agent=agent)
    return opened


def decide(store: Store, playbook_id: str, *, actor: str, channel: str, decision: str, rationale: str,
           follow_ups: Sequence[tuple[str, str, str]]) -> dict[str, Any]:
    """`governance decide`: record, enforce (state row), close reviews, open follow-ups."""
    with telemetry.command("governance.decide", actor=actor, channel=channel, playbook=playbook_id):
        check_value({"decision": decision, "rationale": rationale, "follow_ups": [list(f) for f in follow_ups]},
                    "the command", store.settings.limits)
        items = []
        for text, owner, due in follow_ups:
            try:
                items.append(rules.FollowUp(text=text, owner=owner, due=parse_duration(due)))
            except ValueError as exc:
                raise InvalidInput(str(exc), rule="bad-duration") from None
        with store.write() as tx:
            playbook, version = tx.playbook(playbook_id)
            tx.lock_governance(playbook_id)  # owners deciding at once: each reads the reviews the other left open
            directory = tx.directory()
            now = tx.now()
            card = figures(tx, playbook_id, week_of(now))
            reviews = list(tx.standalone(playbook=playbook_id, step=rules.REVIEW_STEP, open_only=True).values())
            events = rules.decide(playbook, actor=actor, channel=channel, decision=decision, rationale=rationale,
                                  follow_ups=items, figures=card, open_reviews=reviews,
                                  known_actor=lambda a: directory is not None and directory.is_actor(a),
                                  now=now, new_id=new_id)
            at = format_time(now)
            current = tx.governance(playbook_id)
            retired = current.stopped_through if current is not None else None
            tx.set_governance(playbook_id, state=decision, decided_by=actor, decided_at=at, rationale=rationale,
                              stopped_through=version if decision == "stop" else retired)
            apply_standalone(tx, events)
        opened = [e.task for e in events if e.type == "task.ready"]
        return {"playbook": playbook_id, "decision": decision, "decided_by": actor, "decided_at": at,
                "scorecard": card, "closed": [r.id for r in reviews], "follow_ups": opened}


HISTORY_TYPES = ("governance.review_opened", "governance.decided", AUTONOMY_EVENT)
"""The governance rhythm of a playbook, as recorded: the reviews that opened, the decisions taken, and the
decisions on its agents' autonomy."""


def history(store: Store, playbook_id: str) -> list[dict[str, Any]]:
    """`governance history`: a playbook's reviews and decisions, oldest first, each as recorded.

    Raises:
        NotFound: no playbook has this id.
    """
    with store.read() as tx:
        tx.playbook(playbook_id)
        rows = [row for kind in HISTORY_TYPES for row in tx.events_of_type(kind, "", "9999")
                if row["data"].get("playbook") == playbook_id]
    entries = []
    for row in sorted(rows, key=lambda r: r["seq"]):
        data = row["data"]
        if row["type"] == AUTONOMY_EVENT:
            limit = f" {data['limit']:g}" if data.get("limit") is not None else ""
            entries.append({"seq": row["seq"], "at": display_time(row["at"]), "type": row["type"],
                            "decision": f"autonomy {data['change']}{limit}", "by": row["actor"],
                            "reason": data.get("rationale"), "trigger": None, "follow_ups": [], "scorecard": None,
                            "agent": data["agent"], "step": data["step"], "agent_scorecard": data.get("scorecard")})
            continue
        decided = row["type"] == "governance.decided"
        entries.append({
            "seq": row["seq"], "at": display_time(row["at"]), "type": row["type"],
            "decision": data.get("decision") if decided else None,
            "by": row["actor"] if decided else None,
            "reason": data.get("rationale") if decided else data.get("reason"),
            "trigger": data.get("trigger"),
            "follow_ups": data.get("follow_ups", []),
            "scorecard": data.get("scorecard") if decided else data.get("figures"),
        })
    return entries
