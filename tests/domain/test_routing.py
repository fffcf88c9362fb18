"""Routing picks one available, eligible member: least loaded, ties to the longest idle, then directory order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from ledgerflow.domain.directory import load_directory
from ledgerflow.domain.routing import Last, route
from ledgerflow.domain.source import parse_yaml

DIRECTORY = load_directory(parse_yaml("""
people:
  - {id: ann, roles: [ops]}
  - {id: ben, roles: [ops], away: {from: 2026-03-01, until: 2026-03-03, delegate: cat}}
  - {id: cat, roles: [ops]}
  - {id: dan, roles: [ops]}
  - {id: eve, roles: [audit], delegate: ann}
"""))[0]
NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)


class Load:
    def __init__(self, counts: Mapping[str, int], last: Mapping[str, str | Last]):
        self.counts = counts
        self.last = {a: (when, 1) if isinstance(when, str) else when for a, when in last.items()}

    def assigned(self, playbook: str, step: str,
                 actors: Sequence[str]) -> tuple[Mapping[str, int], Mapping[str, Last]]:
        return ({a: self.counts[a] for a in actors if a in self.counts},
                {a: self.last[a] for a in actors if a in self.last})


def pick(counts: Mapping[str, int], last: Mapping[str, str | Last], strategy: str = "least-loaded",
         owner: str = "ops") -> str | None:
    result = route(DIRECTORY, owner, NOW, workload=Load(counts, last), pending={}, playbook="p", step="s",
                   strategy=strategy, eligible=lambda actor, on_behalf_of: True)
    return None if result is None else result.assignee


def test_the_least_loaded_available_member_gets_the_task() -> None:
    assert pick({"ann": 3, "ben": 0, "cat": 2, "dan": 1}, {}) == "dan"  # ben is away


def test_ties_go_to_the_member_given_this_step_longest_ago_then_directory_order() -> None:
    assert pick({"ann": 1, "cat": 1, "dan": 1}, {"ann": "2026-03-02", "cat": "2026-03-01"}) == "dan"
    every = {"ann": "2026-03-02", "cat": "2026-03-01", "dan": "2026-03-02"}
    assert pick({"ann": 1, "cat": 1, "dan": 1}, every) == "cat"
    assert pick({}, {}) == "ann"


def test_round_robin_rotates_in_directory_order_skipping_the_away() -> None:
    assert pick({}, {"ann": "2026-03-02T08"}, strategy="round-robin") == "cat"
    assert pick({}, {"ann": "2026-03-01", "dan": "2026-03-02"}, strategy="round-robin") == "ann"


def test_round_robin_keeps_rotating_among_tasks_routed_at_the_same_instant() -> None:
    at = "2026-03-02T09:00:00Z"
    assert pick({}, {"ann": (at, 1)}, strategy="round-robin") == "cat"
    assert pick({}, {"ann": (at, 1), "cat": (at, 1)}, strategy="round-robin") == "dan"
    assert pick({}, {"ann": (at, 1), "cat": (at, 1), "dan": (at, 1)}, strategy="round-robin") == "ann"
    assert pick({}, {"ann": (at, 2), "cat": (at, 1), "dan": (at, 1)}, strategy="round-robin") == "cat"
    # the instant's rotation began at dan and wrapped round to ann: cat is next
    assert pick({}, {"ann": (at, 1), "cat": ("2026-03-01T09:00:00Z", 4), "dan": (at, 1)},
                strategy="round-robin") == "cat"


def test_an_away_person_owner_goes_to_their_delegate_on_their_behalf() -> None:
    result = route(DIRECTORY, "ben", NOW, workload=Load({}, {}), pending={}, playbook="p", step="s",
                   strategy="least-loaded", eligible=lambda actor, on_behalf_of: True)
    assert result is not None and (result.assignee, result.on_behalf_of) == ("cat", "ben")
