"""The agent scorecard of `report agents` (SPEC §11): how an agent's recommendations and decisions held up.

Per agent, playbook and decision step: its recommendations (an agent's newer recommendation on a decision
replaces its older one, as in the engine), how many agreed with the step's final outcome in that run (the last
decision taken on the step) and how many a person overrode, its own decisions, and how many of those were later
reversed: superseded by a send-back, or followed by a different final outcome on the step. A recommendation on a
step not decided yet counts in `recommendations` only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

SCORED_EVENTS = ("recommendation.recorded", "task.decided", "task.sent_back")
"""The event types the scorecard reads, in log order."""


def agent_scores(events: Iterable[Mapping[str, Any]], playbook_of: Mapping[str, str],
                 agents: frozenset[str]) -> list[dict[str, Any]]:
    """The scorecard rows, sorted by agent, playbook and step.

    Args:
        events: the `SCORED_EVENTS` of the runs to score, in log order (as stored: type, run, task, step,
            actor, data).
        playbook_of: each run's playbook id.
        agents: the actors that are agents.
    """
    recommended: dict[tuple[str, str, int, str], str] = {}
    decided: dict[tuple[str, str], list[tuple[str, str, str]]] = defaultdict(list)
    superseded: set[str] = set()
    for event in events:
        run, step, actor, data = str(event["run"]), str(event["step"]), str(event["actor"]), event["data"]
        match event["type"]:
            case "recommendation.recorded" if actor in agents:
                recommended[(run, step, int(data.get("attempt", 1)), actor)] = str(data["outcome"])
            case "task.decided":
                decided[(run, step)].append((str(event["task"]), actor, str(data["outcome"])))
            case "task.sent_back":
                superseded.update(data.get("superseded", []))
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}

    def row(agent: str, run: str, step: str) -> dict[str, Any]:
        key = (agent, playbook_of.get(run, "?"), step)
        if key not in rows:
            rows[key] = {"agent": agent, "playbook": key[1], "step": step, "recommendations": 0, "agreed": 0,
                         "overridden": 0, "agreement_rate": None, "decisions": 0, "decisions_reversed": 0}
        return rows[key]

    for (run, step, _, agent), outcome in recommended.items():
        counts = row(agent, run, step)
        counts["recommendations"] += 1
        final = decided.get((run, step))
        if final:
            counts["agreed" if final[-1][2] == outcome else "overridden"] += 1
    for (run, step), taken in decided.items():
        final_outcome = taken[-1][2]
        for task, actor, outcome in taken:
            if actor not in agents:
                continue
            counts = row(actor, run, step)
            counts["decisions"] += 1
            counts["decisions_reversed"] += task in superseded or outcome != final_outcome
    for counts in rows.values():
        judged = counts["agreed"] + counts["overridden"]
        counts["agreement_rate"] = round(counts["agreed"] / judged, 4) if judged else None
    return [rows[key] for key in sorted(rows)]
