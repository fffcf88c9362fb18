"""Routing: which one actor a task goes to (SPEC §3.2). Pure; the workload comes in through a view."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ledgerflow.domain.directory import Directory


class Workload(Protocol):
    """What routing needs to know about work already assigned, across all playbooks."""

    def assigned(self, playbook: str, step: str,
                 actors: Sequence[str]) -> tuple[Mapping[str, int], Mapping[str, str]]:
        """Open tasks per actor, and when each was last given a task of this step (absent: never).

        One question, so that a store answers both in one round trip.
        """
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Pick:
    """A routing result: the assignee, and the away actor they stand in for, if any."""

    assignee: str
    on_behalf_of: str | None = None


def choose(candidates: Sequence[str], *, workload: Workload, pending: Mapping[str, int], playbook: str,
           step: str, strategy: str) -> str | None:
    """Pick one of `candidates` (already available and eligible, in directory order)."""
    if not candidates:
        return None
    if len(candidates) == 1:
        return candidates[0]
    counts, last = workload.assigned(playbook, step, candidates)
    if strategy == "round-robin":
        if not last:
            return candidates[0]
        previous = max(last, key=lambda actor: last[actor])
        return candidates[(candidates.index(previous) + 1) % len(candidates)]
    order = {actor: index for index, actor in enumerate(candidates)}
    return min(candidates, key=lambda a: (counts.get(a, 0) + pending.get(a, 0), last.get(a, ""), order[a]))


def stand_in(
    directory: Directory, actor: str, moment: datetime, eligible: Callable[[str, str | None], bool]
) -> Pick | None:
    """Follow an away actor's delegates until an available, eligible one; None on a loop or dead end.

    `eligible(candidate, on_behalf_of)` applies the caller's rules (separation of duties, agents).
    """
    if directory.is_available(actor, moment):
        return Pick(assignee=actor) if eligible(actor, None) else None
    seen = {actor}
    current = directory.delegate_of(actor, moment)
    while current is not None and current not in seen:
        if directory.is_available(current, moment):
            return Pick(assignee=current, on_behalf_of=actor) if eligible(current, actor) else None
        seen.add(current)
        current = directory.delegate_of(current, moment)
    return None


def route(directory: Directory, owner: str, moment: datetime, *, workload: Workload, pending: Mapping[str, int],
          playbook: str, step: str, strategy: str, eligible: Callable[[str, str | None], bool],
          skip: frozenset[str] = frozenset()) -> Pick | None:
    """Route to a role or person: an available eligible member, else an away member's delegate."""
    members = [m for m in directory.members(owner) if m not in skip]
    available = [m for m in members if directory.is_available(m, moment) and eligible(m, None)]
    chosen = choose(available, workload=workload, pending=pending, playbook=playbook, step=step,
                    strategy=strategy)
    if chosen is not None:
        return Pick(assignee=chosen)
    for member in members:
        if not directory.is_available(member, moment):
            pick = stand_in(directory, member, moment, eligible)
            if pick is not None and pick.assignee not in skip:
                return pick
    return None
