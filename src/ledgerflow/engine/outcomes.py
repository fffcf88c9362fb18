"""The outcome measure use case (SPEC §12): record a period's value (the scorecard reads it)."""

from __future__ import annotations

from typing import Any

from ledgerflow.domain import outcome as rules
from ledgerflow.domain.errors import NotFound
from ledgerflow.domain.figures import Period, week_of
from ledgerflow.domain.governance import trigger_key
from ledgerflow.domain.times import display_time
from ledgerflow.engine import governance
from ledgerflow.ops import telemetry
from ledgerflow.storage.outcomes import save_outcome_value
from ledgerflow.storage.store import Store


def record(store: Store, playbook_id: str, period: Period, value: float, *, actor: str, channel: str,
           note: str | None = None) -> dict[str, Any]:
    """`outcome record`: store the period's value (replacing an earlier one), append `outcome.recorded`, and
    open a governance review for each `metric: outcome` trigger the value crosses for the first time this week.

    Raises:
        NotFound: no such playbook, or an actor not in the directory.
        InvalidInput: see `domain.outcome.record`.
        Forbidden: see `domain.outcome.record`.
    """
    with telemetry.command("outcome.record", actor=actor, channel=channel, playbook=playbook_id):
        with store.write() as tx:
            playbook, _ = tx.playbook(playbook_id)
            directory = tx.directory()
            if directory is None or not directory.is_actor(actor):
                raise NotFound(f"unknown actor {actor!r}: say who records with --as (the outcome or workflow owner)",
                               rule="unknown-actor")
            now = tx.now()
            event = rules.record(playbook, actor=actor, channel=channel, period=period, value=value, note=note, now=now)
            row = {"value": event.data["value"], "note": event.data["note"], "recorded_by": actor,
                   "recorded_at": event.at}
            save_outcome_value(tx, playbook_id, period.name, **row)
            tx.append([event])
            start, end = week_of(now).bounds
            fired = {data.get("trigger") for data in tx.event_data("governance.review_opened", start, end)
                     if data.get("playbook") == playbook_id}
            reviews = []
            for trigger in rules.crossed_triggers(playbook, event.data["value"], lambda t: trigger_key(t) in fired):
                key = trigger_key(trigger)
                opened = governance.open_review(tx, playbook, reason=f"trigger crossed: {key} ({period.name})",
                                                trigger=key, period=period)
                reviews += [e.task for e in opened if e.task is not None]
        return {"playbook": playbook_id, "period": period.name, "metric": event.data["metric"],
                "value": event.data["value"], "note": event.data["note"], "recorded_by": actor,
                "recorded_at": display_time(event.at), "authority": event.authority,
                "reviews": list(dict.fromkeys(reviews)),
                "outcome": rules.outcome_block(playbook.outcome.metric, event.data["value"])}

