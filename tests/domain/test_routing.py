"""Routing picks one available, eligible member: least loaded, ties to the longest idle, then directory order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from ledgerflow.domain.directory import Directory, load_directory
from ledgerflow.domain.routing import Last, Pick, route, stand_in
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
        self.asked: list[tuple[str, str, tuple[str, ...]]] = []

    def assigned(self, playbook: str, step: str,
                 actors: Sequence[str]) -> tuple[Mapping[str, int], Mapping[str, Last]]:
        self.asked.append((playbook, step, tuple(actors)))
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


def test_the_workload_is_asked_about_this_playbook_step_and_the_available_members() -> None:
    load = Load({}, {})
    route(DIRECTORY, "ops", NOW, workload=load, pending={}, playbook="p", step="s", strategy="least-loaded",
          eligible=lambda actor, on_behalf_of: True)
    assert load.asked == [("p", "s", ("ann", "cat", "dan"))]


def test_tasks_given_earlier_in_the_same_command_count_as_load() -> None:
    result = route(DIRECTORY, "ops", NOW, workload=Load({"ann": 0, "cat": 1, "dan": 1}, {}), pending={"ann": 2},
                   playbook="p", step="s", strategy="least-loaded", eligible=lambda actor, on_behalf_of: True)
    assert result == Pick(assignee="cat")


def test_a_member_the_workload_does_not_mention_has_no_open_tasks() -> None:
    assert pick({"cat": 0}, {}) == "ann"


def test_round_robin_follows_whoever_had_the_step_last_not_the_last_name() -> None:
    assert pick({}, {"ann": "2026-03-02", "dan": "2026-03-01"}, strategy="round-robin") == "cat"


def test_round_robin_starts_at_the_first_member_when_nobody_had_the_step() -> None:
    assert pick({}, {}, strategy="round-robin") == "ann"


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


AWAY = "{from: 2026-03-01, until: 2026-03-03"
CHAINS = load_directory(parse_yaml(f"""
people:
  - {{id: ann, roles: [ops], delegate: dan}}
  - {{id: ben, roles: [ops], away: {AWAY}, delegate: cat}}}}
  - {{id: cat, roles: [ops], away: {AWAY}, delegate: dan}}}}
  - {{id: dan, roles: [ops]}}
  - {{id: lou, away: {AWAY}, delegate: max}}}}
  - {{id: max, away: {AWAY}, delegate: ned}}}}
  - {{id: ned, away: {AWAY}, delegate: max}}}}
  - {{id: oli, away: {AWAY}}}}}
"""))[0]


def _stand_in(actor: str, refuse: frozenset[str] = frozenset()) -> tuple[Pick | None, list[tuple[str, str | None]]]:
    """stand_in over CHAINS, with the eligibility questions it asked."""
    asked: list[tuple[str, str | None]] = []

    def eligible(candidate: str, on_behalf_of: str | None) -> bool:
        asked.append((candidate, on_behalf_of))
        return candidate not in refuse

    return stand_in(CHAINS, actor, NOW, eligible), asked


def test_an_available_actor_stands_for_themself_and_only_if_eligible() -> None:
    assert _stand_in("ann") == (Pick(assignee="ann"), [("ann", None)])  # ann's standing delegate is not asked
    assert _stand_in("ann", refuse=frozenset({"ann"})) == (None, [("ann", None)])


def test_an_away_actors_delegates_are_followed_to_the_first_available_one_on_their_behalf() -> None:
    assert _stand_in("ben") == (Pick(assignee="dan", on_behalf_of="ben"), [("dan", "ben")])  # cat is away too
    assert _stand_in("cat") == (Pick(assignee="dan", on_behalf_of="cat"), [("dan", "cat")])
    assert _stand_in("ben", refuse=frozenset({"dan"})) == (None, [("dan", "ben")])  # no going past an ineligible


def test_a_loop_or_a_dead_end_of_away_delegates_stands_in_nobody() -> None:
    assert _stand_in("lou") == (None, [])  # lou -> max -> ned -> max
    assert _stand_in("oli") == (None, [])


def _route(directory: Directory, owner: str, counts: Mapping[str, int], *, skip: frozenset[str] = frozenset(),
           refuse: frozenset[str] = frozenset()) -> Pick | None:
    return route(directory, owner, NOW, workload=Load(counts, {}), pending={}, playbook="p", step="s",
                 strategy="least-loaded", eligible=lambda actor, on_behalf_of: actor not in refuse, skip=skip)


def test_one_or_two_candidates_are_routed_by_the_same_rules() -> None:
    assert _route(DIRECTORY, "audit", {}) == Pick(assignee="eve")
    assert _route(DIRECTORY, "ops", {"ann": 3, "cat": 0}, skip=frozenset({"dan"})) == Pick(assignee="cat")


def test_members_the_rules_exclude_are_never_routed_to() -> None:
    assert _route(DIRECTORY, "ops", {"ann": 0, "cat": 2, "dan": 1}, refuse=frozenset({"ann"})) == Pick(assignee="dan")


def test_an_away_owner_with_nobody_to_stand_in_routes_to_nobody() -> None:
    assert _route(CHAINS, "oli", {}) is None
