"""Routing: which one actor a task goes to (SPEC §3.2). Pure; the workload comes in through a view."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ledgerflow.domain.directory import Directory

Last = tuple[str, int]
"""When an actor was last given a task of a step (RFC 3339), and how many of them at that same instant."""


class Workload(Protocol):
    """What routing needs to know about work already assigned, across all playbooks."""

    def assigned(self, playbook: str, step: str,
                 actors: Sequence[str]) -> tuple[Mapping[str, int], Mapping[str, Last]]:
        """Open tasks per actor, and when each was last given a task of this step (absent: never) with how
        many tasks of this step it was given at that instant.

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
        return _next_in_rotation(candidates, last)
    order = {actor: index for index, actor in enumerate(candidates)}
    return min(candidates, key=lambda a: (counts.get(a, 0) + pending.get(a, 0), last.get(a, ("", 0)), order[a]))


def _next_in_rotation(candidates: Sequence[str], last: Mapping[str, Last]) -> str:
    """The member after the one given this step last, in directory order (SPEC §3.2).

    Tasks routed at the same instant tie on the time, so the count at that instant breaks the tie: within
    one instant the rotation gives a contiguous (cyclic) arc of members one task more than the rest, and the
    last one given a task is the end of that arc. When every member is on it, the rotation starts over.
    """
    if not last:
        return candidates[0]
    latest = max(last.values())
    arc = {actor for actor in candidates if last.get(actor) == latest}
    size = len(candidates)
    if len(arc) == size:
        return candidates[0]
    ends = [i for i, actor in enumerate(candidates) if actor in arc and candidates[(i + 1) % size] not in arc]
    return candidates[(ends[0] + 1) % size]


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
