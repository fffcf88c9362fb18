"""The outcome measure (SPEC §12): a number per period for the metric the outcome owner is accountable for,
recorded by an owner or an integration, shown beside the scorecard and watched by `metric: outcome` triggers.

Pure: the use case in `ledgerflow.engine.outcomes` reads and writes the rows.

- Who records: the outcome owner or the workflow owner, by hand or through an integration holding a token
  made for one of them (`token create --actor OWNER`; the event's channel says `api`). Anyone else, agents
  included, is refused: no agent of the directory takes part in a playbook's governance by default.
- A value is for one ISO week that has begun; recording again replaces it (a correction), each recording an
  event of its own.
- A `metric: outcome` trigger is checked when a value is recorded, against that value: `min_runs` does not
  apply, the value is one figure, not a share over runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ledgerflow.domain.errors import Forbidden, InvalidInput
from ledgerflow.domain.events import Event, authority
from ledgerflow.domain.figures import Period
from ledgerflow.domain.playbook import OutcomeMetric, Playbook, Trigger
from ledgerflow.domain.times import format_time

MAX_MAGNITUDE = 1e15
"""A recorded value beyond this is a typo, not a measure."""


def outcome_block(metric: OutcomeMetric | None, value: float | None) -> dict[str, Any] | None:
    """The scorecard's `outcome` (SPEC §12); None when the playbook declares no metric."""
    if metric is None:
        return None
    return {"name": metric.name, "unit": metric.unit, "target": metric.target, "direction": metric.direction,
            "value": value, "on_target": None if value is None else metric.on_target(value)}


def record(playbook: Playbook, *, actor: str, channel: str, period: Period, value: float, note: str | None,
           now: datetime) -> Event:
    """The `outcome.recorded` event, after checking who records what for which period.

    Raises:
        InvalidInput: no metric declared, a period that is not an ISO week or has not begun, a value that is
            not a finite number within range.
        Forbidden: the actor owns neither the outcome nor the workflow.
    """
    owners = {"outcome owner": playbook.outcome.owner, "workflow owner": playbook.workflow_owner}
    held = next((name for name, who in owners.items() if who == actor), None)
    if held is None:
        raise Forbidden(f"the outcome of playbook {playbook.id} is recorded by its outcome owner "
                        f"({playbook.outcome.owner}) or its workflow owner ({playbook.workflow_owner}), or an "
                        "integration with a token made for one of them", rule="outcome-not-owner")
    metric = playbook.outcome.metric
    if metric is None:
        raise InvalidInput(f"playbook {playbook.id} declares no outcome.metric; add {{name, unit, target, "
                           "direction}} to its outcome and publish it", rule="no-outcome-metric")
    if not period.is_week:
        raise InvalidInput(f"--period {period.name}: an outcome is recorded per ISO week, like 2026-W10",
                           rule="bad-period")
    if period.start > now:
        raise InvalidInput(f"--period {period.name} has not begun", rule="future-period")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or abs(value) > MAX_MAGNITUDE:
        raise InvalidInput(f"--value {value!r} is not a finite number within ±{MAX_MAGNITUDE:g}", rule="bad-value")
    return Event(type="outcome.recorded", at=format_time(now), actor=actor, channel=channel,
                 authority=authority("owner", held),
                 data={"playbook": playbook.id, "period": period.name, "metric": metric.name,
                       "value": float(value), "note": (note or "").strip() or None})


def crossed_triggers(playbook: Playbook, value: float, already: Callable[[Trigger], bool]) -> list[Trigger]:
    """The `metric: outcome` triggers this value crosses and that have not fired yet (`already`)."""
    found = []
    for trigger in playbook.governance.triggers:
        if trigger.metric != "outcome" or already(trigger):
            continue
        if (trigger.above is not None and value > trigger.above) or (
                trigger.below is not None and value < trigger.below):
            found.append(trigger)
    return found
