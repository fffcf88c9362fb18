"""Earned autonomy use cases (SPEC §11): the owners change what an agent may decide, and everyone with the right
reads what it may decide now. The rules are `domain.autonomy`; this module loads, records and re-routes."""

from __future__ import annotations

from typing import Any

from ledgerflow.domain import autonomy as rules
from ledgerflow.domain.errors import Conflict, Forbidden
from ledgerflow.domain.limits import check_value
from ledgerflow.domain.times import display_time
from ledgerflow.engine import access, service
from ledgerflow.ops import telemetry
from ledgerflow.reporting import reports
from ledgerflow.storage.store import Store


def change(store: Store, playbook_id: str, *, actor: str, channel: str, agent: str, step: str, change: str,
           limit: float | None, rationale: str) -> dict[str, Any]:
    """`governance autonomy`: record the owner's decision with the agent's scorecard, keep the state row, and
    move on at once any open decision the agent may no longer take; all in one transaction.

    Raises:
        Forbidden: the actor owns neither layer of the playbook, or no rationale.
        InvalidInput / NotFound: see `domain.autonomy.decide`.
    """
    with telemetry.command("governance.autonomy", actor=actor, channel=channel, playbook=playbook_id):
        check_value({"agent": agent, "step": step, "change": change, "rationale": rationale, "limit": limit},
                    "the command", store.settings.limits)
        with store.write() as tx:
            playbook, _ = tx.playbook(playbook_id)
            tx.lock_governance(playbook_id)  # owners deciding at once: each reads the state the other left
            directory = tx.directory()
            if directory is None:
                raise Conflict("no directory is loaded; run `ledgerflow directory load FILE` first",
                               rule="no-directory")
            held = tx.autonomy(playbook_id)
            card = [row for row in reports.agent_rows(tx, playbook_id) if row["agent"] == agent]
            event = rules.decide(playbook, directory, actor=actor, channel=channel, agent=agent, step_id=step,
                                 change=change, limit=limit, rationale=rationale,
                                 scorecard=[{k: v for k, v in row.items() if k != "autonomy"} for row in card],
                                 current=held.entry(step, agent), now=tx.now())
            state: dict[tuple[str, str, str], rules.AgentAutonomy] = {}
            rules.evolve(state, event)
            entry = state[(playbook_id, step, agent)]
            tx.save_autonomy(entry)
            (stored,) = tx.append([event])
            # a narrower autonomy (a restore after a widening too) applies to the decisions the agent holds now
            runs = [run for run in tx.runs_with_open_tasks([agent]) if tx.load_run(run).playbook == playbook_id]
            moved = [e.task for e in service.reroute_decisions(tx, runs, describe(entry))
                     if e.type == "assignment.changed" and e.task is not None]
        return {"playbook": playbook_id, "step": step, "agent": agent, "change": change, "limit": entry.limit,
                "withdrawn": entry.withdrawn, "decided_by": actor, "decided_at": display_time(entry.decided_at),
                "rationale": rationale, "seq": stored["seq"],
                "scorecard": event.data["scorecard"], "moved": moved}


def describe(entry: rules.AgentAutonomy) -> str:
    """An autonomy decision in words, for the events it causes."""
    if entry.withdrawn:
        what = f"{entry.agent}'s authority at step {entry.step} withdrawn"
    elif entry.limit is not None:
        what = f"{entry.agent}'s limit at step {entry.step} set to {entry.limit:g}"
    else:
        what = f"{entry.agent}'s authority at step {entry.step} restored as written"
    return f"{what} by {entry.decided_by} ({entry.rationale})"


def current(store: Store, playbook_id: str, actor: str | None = None) -> list[dict[str, Any]]:
    """What each agent may decide at each decision step of a playbook now, with the owners' latest decision
    on it. With `actor`, only an owner of the playbook may read it (a channel's caller; the CLI is trusted).

    Raises:
        NotFound: no such playbook.
        Forbidden: `actor` owns neither layer of the playbook.
    """
    with store.read() as tx:
        playbook, _ = tx.playbook(playbook_id)
        if actor is not None and not access.owns(tx, playbook_id, actor):
            raise Forbidden(f"only the outcome owner or the workflow owner of {playbook_id} sees its agents' "
                            "autonomy", rule="governance-not-owner")
        directory = tx.directory()
        if directory is None:
            return []
        found = rules.current(playbook, directory, tx.autonomy(playbook_id))
    return [{**row, "decided_at": display_time(row["decided_at"])} for row in found]
