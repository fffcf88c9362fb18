"""Earned autonomy (SPEC §11): the owners widen, narrow, withdraw or restore what an agent may decide at a step.

The playbook's guarded authority rows say what an agent may decide as written. A governance decision on the
agent's autonomy changes that without republishing: it is one `governance.autonomy_changed` event (on the
system chain) that records the decision, its rationale and the agent scorecard that informed it, folded into
one state row per (playbook, step, agent). From the next command on:

- `withdraw`: the agent decides nothing at the step; no authority row routes a decision to it.
- `limit N`: in the agent's row (the first guarded authority row at the step naming it or a role containing
  it), a guard of the form `QUANTITY <= BOUND` (or `<`) is read with N in place of BOUND, for the agent only:
  the row matches when the agent's own test passes, and its other members keep the guard as written.
- `restore`: back to the guard as written.

A row with no autonomy change for any of its members is evaluated exactly as before, so playbooks without
changes behave as they always did.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ledgerflow.domain.directory import Directory
from ledgerflow.domain.errors import Forbidden, InvalidInput, NotFound
from ledgerflow.domain.events import Event, authority
from ledgerflow.domain.expressions import Expression, ExpressionError, compile_expression
from ledgerflow.domain.playbook import DecisionStep, Playbook
from ledgerflow.domain.times import format_time

EVENT = "governance.autonomy_changed"
CHANGES = ("limit", "withdraw", "restore")
AGREEMENT_METRIC = "agent_agreement_rate"
"""The risk trigger on an agent's agreement with the people's final outcomes over its last decisions."""
DEFAULT_WINDOW = 20
"""How many of the agent's latest judged recommendations the agreement trigger reads when `decisions` is not set."""

_GUARD = re.compile(r"^\s*(?P<quantity>.+?)\s*(?P<op><=|<)\s*(?P<bound>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\s*$")


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentAutonomy:
    """The current autonomy decision on one agent at one decision step of a playbook."""

    playbook: str
    step: str
    agent: str
    limit: float | None
    """The bound read in the agent's row in place of the written one; None: as written."""
    withdrawn: bool
    decided_by: str
    decided_at: str
    rationale: str

    @property
    def changed(self) -> bool:
        """False once restored: the playbook's guard applies as written."""
        return self.withdrawn or self.limit is not None

    def to_dict(self) -> dict[str, Any]:
        return {"playbook": self.playbook, "step": self.step, "agent": self.agent, "limit": self.limit,
                "withdrawn": self.withdrawn, "decided_by": self.decided_by, "decided_at": self.decided_at,
                "rationale": self.rationale}


@dataclass(frozen=True, slots=True)
class Autonomy:
    """The autonomy decisions in force for one playbook, by (step, agent)."""

    entries: tuple[AgentAutonomy, ...] = ()

    def of(self, step: str, agent: str) -> AgentAutonomy | None:
        """The change in force for the agent at the step; None when the playbook applies as written."""
        found = next((e for e in self.entries if e.step == step and e.agent == agent), None)
        return found if found is not None and found.changed else None

    def entry(self, step: str, agent: str) -> AgentAutonomy | None:
        """The latest decision on the agent at the step, a restore included."""
        return next((e for e in self.entries if e.step == step and e.agent == agent), None)

    def any_at(self, step: str) -> bool:
        return any(e.step == step and e.changed for e in self.entries)


AS_WRITTEN = Autonomy()


@dataclass(frozen=True, slots=True)
class GuardLimit:
    """A guard read as `quantity op bound`, the shape whose bound an autonomy limit replaces."""

    quantity: Expression
    op: str
    bound: float


def guard_limit(when: Expression | None) -> GuardLimit | None:
    """The guard as `QUANTITY <= BOUND` (or `<`), when it has that shape; None otherwise."""
    if when is None:
        return None
    match = _GUARD.match(when.source)
    if match is None or any(token in match["quantity"] for token in ("&&", "||", "?", "<", ">", "==", "!")):
        return None
    quantity = compile_expression(match["quantity"])
    if quantity.program is None:
        return None
    return GuardLimit(quantity=quantity, op=match["op"], bound=float(match["bound"]))


def agent_row(directory: Directory, step: DecisionStep, agent: str) -> int | None:
    """The agent's row at the step: the first guarded authority row naming it or a role containing it."""
    return next((i for i, row in enumerate(step.authority)
                 if row.when is not None and agent in directory.members(row.approve)), None)


def names_agents(playbook: Playbook, directory: Directory) -> bool:
    """Whether any guarded authority row of the playbook names an agent: only then can autonomy apply (the
    engine skips reading it otherwise)."""
    return any(row.when is not None and row.approve in directory.agent_names
               for step in playbook.walk() if isinstance(step, DecisionStep) for row in step.authority)


def current(playbook: Playbook, directory: Directory, autonomy: Autonomy) -> list[dict[str, Any]]:
    """What each agent may decide at each decision step now: per agent holding a guarded row, the row, its
    guard as written, the limit in force, whether withdrawn, and the owners' latest decision on it (if any)."""
    found = []
    agents = [a.id for a in directory.actors if a.is_agent]
    for step in playbook.walk():
        if not isinstance(step, DecisionStep):
            continue
        for agent in agents:
            row = agent_row(directory, step, agent)
            if row is None:
                continue
            guard = step.authority[row].when
            shape = guard_limit(guard)
            latest = autonomy.entry(step.id, agent)
            changed = latest is not None and latest.changed
            limit = latest.limit if changed and latest is not None and latest.limit is not None else (
                shape.bound if shape is not None else None)
            found.append({"agent": agent, "playbook": playbook.id, "step": step.id, "row": row,
                          "guard": guard.source if guard is not None else None,
                          "written_limit": shape.bound if shape is not None else None, "limit": limit,
                          "withdrawn": bool(latest is not None and latest.withdrawn), "changed": changed,
                          "decided_by": latest.decided_by if latest is not None else None,
                          "decided_at": latest.decided_at if latest is not None else None,
                          "rationale": latest.rationale if latest is not None else None})
    return found


def admits(directory: Directory, autonomy: Autonomy, step: DecisionStep, row_index: int, actor: str,
           context: Mapping[str, Any]) -> bool:
    """Whether the guarded row at `row_index` lets `actor` decide this data, with the autonomy in force.

    Raises:
        ExpressionError: the guard (or its quantity) failed on this data; the caller fails closed.
    """
    row = step.authority[row_index]
    if row.when is None:
        return True
    change = autonomy.of(step.id, actor)
    if change is None:
        return row.when.test(context)
    if change.withdrawn:
        return False
    shape = guard_limit(row.when)
    if change.limit is None or shape is None or agent_row(directory, step, actor) != row_index:
        return row.when.test(context)
    value = shape.quantity.evaluate(context)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ExpressionError(f"`{shape.quantity.source}` gave {value!r}, not a number")
    return value <= change.limit if shape.op == "<=" else value < change.limit


def row_matches(directory: Directory, autonomy: Autonomy, step: DecisionStep, row_index: int,
                context: Mapping[str, Any]) -> bool:
    """Whether a guarded row matches: as written, or when any of its members' own test passes once the
    autonomy of an agent among them was changed.

    Raises:
        ExpressionError: as `admits`.
    """
    row = step.authority[row_index]
    if row.when is None:
        return True
    members = directory.members(row.approve)
    if not any(autonomy.of(step.id, m) is not None for m in members):
        return row.when.test(context)
    return any(admits(directory, autonomy, step, row_index, m, context) for m in members)


def refusal(directory: Directory, autonomy: Autonomy, step: DecisionStep, row_index: int | None, actor: str,
            context: Mapping[str, Any]) -> tuple[str, str] | None:
    """Why the agent may not decide this data under its autonomy: (rule, message), or None when it may."""
    change = autonomy.of(step.id, actor)
    if change is None:
        return None
    since = f"by {change.decided_by} at {change.decided_at}: {change.rationale}"
    if change.withdrawn:
        return "agent-autonomy-withdrawn", f"agent {actor}'s authority at step {step.id} was withdrawn {since}"
    if row_index is None:
        return None
    try:
        allowed = admits(directory, autonomy, step, row_index, actor, context)
    except ExpressionError as exc:
        return "agent-autonomy-limit", f"agent {actor}'s limit at step {step.id} cannot be read: {exc.message}"
    if allowed:
        return None
    return ("agent-autonomy-limit",
            f"agent {actor} may decide step {step.id} only up to {_number(change.limit)} (set {since})")


def _number(value: float | None) -> str:
    if value is None:
        return "the limit the playbook sets"
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,}"


def decide(playbook: Playbook, directory: Directory, *, actor: str, channel: str, agent: str, step_id: str,
           change: str, limit: float | None, rationale: str, scorecard: Iterable[Mapping[str, Any]],
           current: AgentAutonomy | None, now: datetime) -> Event:
    """An owner's decision on an agent's autonomy at a decision step, as the event that records it.

    Raises:
        NotFound: no such step or agent.
        InvalidInput: not a decision step, not an agent, a change that does not apply (a limit for a row whose
            guard has no bound), a limit that is not a finite number of at least 0.
        Forbidden: the actor owns neither layer, or the rationale is blank.
    """
    owners = {"outcome owner": playbook.outcome.owner, "workflow owner": playbook.workflow_owner}
    held = next((name for name, who in owners.items() if who == actor), None)
    if held is None:  # first, so that a stranger learns nothing of the playbook
        raise Forbidden(f"only the outcome owner ({playbook.outcome.owner}) or the workflow owner "
                        f"({playbook.workflow_owner}) decides an agent's autonomy on playbook {playbook.id}",
                        rule="governance-not-owner")
    step = playbook.by_id.get(step_id)
    if step is None:
        raise NotFound(f"playbook {playbook.id} has no step {step_id!r}", rule="unknown-step")
    if not isinstance(step, DecisionStep):
        raise InvalidInput(f"step {step_id} is a {step.type}; autonomy is decided for decision steps",
                           rule="not-a-decision-step")
    entry = directory.get(agent)
    if entry is None:
        raise NotFound(f"unknown actor {agent!r}", rule="unknown-actor")
    if not entry.is_agent:
        raise InvalidInput(f"{agent} is a person; autonomy is decided for agents", rule="not-an-agent")
    if change not in CHANGES:
        raise InvalidInput(f"choose one of --limit N, --withdraw or --restore (got {change!r})",
                           rule="bad-autonomy-change")
    row = agent_row(directory, step, agent)
    if row is None:
        raise InvalidInput(f"no guarded authority row at step {step_id} names {agent} or a role containing it; "
                           "an agent's autonomy starts with such a row in the playbook", rule="agent-has-no-row")
    guard = step.authority[row].when
    source = guard.source if guard is not None else ""
    written = guard_limit(guard)
    if change == "limit":
        if written is None:
            raise InvalidInput(f"the guard of {agent}'s row at step {step_id} has no bound to change "
                               f"(`{source}`); "
                               "--limit needs a guard of the form QUANTITY <= NUMBER", rule="guard-has-no-limit")
        if limit is None or not math.isfinite(limit) or limit < 0:
            raise InvalidInput("--limit takes a finite number of at least 0", rule="bad-limit")
    if not rationale.strip():
        raise Forbidden("an autonomy decision needs a rationale", rule="rationale-required")
    before = None if current is None else {"limit": current.limit, "withdrawn": current.withdrawn}
    data = {"playbook": playbook.id, "step": step_id, "agent": agent, "change": change,
            "limit": limit if change == "limit" else None, "withdrawn": change == "withdraw",
            "written_limit": written.bound if written is not None else None,
            "guard": source,
            "row": row, "before": before, "rationale": rationale,
            "scorecard": [dict(r) for r in scorecard]}
    return Event(type=EVENT, at=format_time(now), actor=actor, channel=channel, step=step_id,
                 authority=authority("owner", held), data=data)


def evolve(state: dict[tuple[str, str, str], AgentAutonomy], event: Event) -> None:
    """Fold a `governance.autonomy_changed` event into the state rows, keyed (playbook, step, agent)."""
    if event.type != EVENT:
        return
    data = event.data
    key = (str(data["playbook"]), str(data["step"]), str(data["agent"]))
    state[key] = AgentAutonomy(playbook=key[0], step=key[1], agent=key[2],
                               limit=None if data.get("limit") is None else float(data["limit"]),
                               withdrawn=bool(data.get("withdrawn")), decided_by=event.actor,
                               decided_at=event.at, rationale=str(data.get("rationale", "")))


def recent_agreement(recommended: Iterable[tuple[str, int, str]], final: Mapping[str, tuple[int, str]],
                     window: int) -> tuple[int, int]:
    """(judged, agreed) over the agent's latest `window` judged recommendations at one step.

    Args:
        recommended: (run, attempt, outcome) of the agent's recommendations in log order; a newer one on the
            same run and attempt replaces the older, as in the scorecard.
        final: per run, (seq, outcome) of the step's last decision.
        window: how many of the latest judged recommendations count (by when their run's step was decided).
    """
    latest: dict[tuple[str, int], str] = {}
    for run, attempt, outcome in recommended:
        latest[(run, attempt)] = outcome
    judged = sorted(((final[run][0], outcome == final[run][1]) for (run, _), outcome in latest.items()
                     if run in final), key=lambda item: item[0])[-window:]
    return len(judged), sum(agreed for _, agreed in judged)
