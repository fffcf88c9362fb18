"""The directory: people, agents and roles, with standing delegates and away periods (SPEC §2)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from ledgerflow.domain.errors import InvalidInput, LoadError
from ledgerflow.domain.source import Source, join

ID_PATTERN = re.compile(r"^[a-z0-9._-]+$")
_PERSON_KEYS = {"id", "name", "email", "roles", "delegate", "away", "slack"}
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,30}$")
"""A Slack user id (SPEC §13): `U…`, or `W…` on Enterprise Grid."""
_AGENT_KEYS = {"id", "name", "roles"}
_AWAY_KEYS = {"from", "until", "delegate"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Away:
    """An away period: from `start` 00:00Z to the end of `until` (its last day away)."""

    start: date
    until: date
    delegate: str | None = None

    @property
    def begins(self) -> datetime:
        return datetime.combine(self.start, time(0), tzinfo=UTC)

    def covers(self, moment: datetime) -> bool:
        end = datetime.combine(self.until, time(0), tzinfo=UTC) + timedelta(days=1)
        return self.begins <= moment < end


@dataclass(frozen=True, slots=True, kw_only=True)
class Actor:
    """A person or an agent."""

    id: str
    kind: str  # "person" | "agent"
    name: str
    email: str | None
    roles: tuple[str, ...]
    delegate: str | None = None
    away: tuple[Away, ...] = ()
    slack: str | None = None
    """The person's Slack user id: decisions and reminders reach them there when the Slack app is set up."""

    @property
    def is_agent(self) -> bool:
        return self.kind == "agent"


@dataclass(frozen=True, slots=True, kw_only=True)
class Directory:
    """One version of the directory. Actors keep the order they were written in."""

    actors: tuple[Actor, ...]
    by_id: dict[str, Actor] = field(init=False, compare=False, repr=False)
    roles: dict[str, tuple[str, ...]] = field(init=False, compare=False, repr=False)
    """Role name to member ids, in directory order."""
    agent_names: frozenset[str] = field(init=False, compare=False, repr=False)
    """The names that stand for at least one agent: each agent's id, and each role with an agent among its members.
    Every command asks whether a playbook's guarded rows name one (autonomy), which a walk over the members of
    every role would answer in time that grows with the team."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_id", {a.id: a for a in self.actors})
        roles: dict[str, list[str]] = {}
        for actor in self.actors:
            for role in actor.roles:
                roles.setdefault(role, []).append(actor.id)
        object.__setattr__(self, "roles", {r: tuple(m) for r, m in roles.items()})
        agents = {a.id for a in self.actors if a.is_agent}
        object.__setattr__(self, "agent_names", frozenset(agents | {
            role for role, members in roles.items() if role not in self.by_id and not agents.isdisjoint(members)}))

    def get(self, actor_id: str) -> Actor | None:
        return self.by_id.get(actor_id)

    def by_slack(self, user_id: str) -> Actor | None:
        """The person with this Slack user id, if any."""
        return next((a for a in self.actors if a.slack is not None and a.slack == user_id), None)

    def is_actor(self, name: str) -> bool:
        return name in self.by_id

    def is_role(self, name: str) -> bool:
        return name in self.roles

    def is_person(self, name: str) -> bool:
        actor = self.get(name)
        return actor is not None and not actor.is_agent

    def knows(self, name: str) -> bool:
        """True for a person id, an agent id or a role name."""
        return self.is_actor(name) or self.is_role(name)

    def members(self, owner: str) -> tuple[str, ...]:
        """The actors a role or actor name stands for: a role's members, or the actor alone."""
        if self.is_actor(owner):
            return (owner,)
        return self.roles.get(owner, ())

    def names(self) -> Iterator[str]:
        yield from self.by_id
        yield from self.roles

    def away_period(self, actor_id: str, moment: datetime) -> Away | None:
        actor = self.get(actor_id)
        if actor is None:
            return None
        for period in actor.away:
            if period.covers(moment):
                return period
        return None

    def is_available(self, actor_id: str, moment: datetime) -> bool:
        return self.is_actor(actor_id) and self.away_period(actor_id, moment) is None

    def away_starts(self, after: datetime) -> list[tuple[datetime, str]]:
        """(when, who) for every away period that begins after `after`: each is a timer (SPEC §2)."""
        return sorted((period.begins, actor.id) for actor in self.actors for period in actor.away
                      if period.begins > after)

    def delegate_of(self, actor_id: str, moment: datetime) -> str | None:
        """Who stands in for an away actor now: the period's delegate, else the standing one."""
        period = self.away_period(actor_id, moment)
        actor = self.get(actor_id)
        if period is not None and period.delegate:
            return period.delegate
        return actor.delegate if actor is not None else None


def load_directory(source: Source) -> tuple[Directory, dict[str, Any]]:
    """Build a directory from parsed YAML, checking every rule of SPEC §2 at once.

    Returns:
        The directory and the plain data it was built from (what is stored and hashed).

    Raises:
        LoadError: a wrong shape, with its line.
        InvalidInput: id clashes, unknown delegates or delegation loops (all of them, in `details`).
    """
    data = source.data
    if not isinstance(data, dict):
        raise LoadError("a directory is a mapping with `people` and `agents`", file=source.file, line=1)
    unknown = set(data) - {"people", "agents"}
    if unknown:
        key = sorted(unknown)[0]
        raise LoadError(f"unknown key {key!r}; a directory has `people` and `agents`", file=source.file,
                        line=source.line(key), path=key)
    actors: list[Actor] = []
    for section, kind, allowed in (("people", "person", _PERSON_KEYS), ("agents", "agent", _AGENT_KEYS)):
        entries = data.get(section) or []
        if not isinstance(entries, list):
            raise LoadError(f"`{section}` must be a list", file=source.file, line=source.line(section),
                            path=section)
        for index, entry in enumerate(entries):
            actors.append(_actor(source, join(section, index), entry, kind, allowed))
    problems = _problems(actors)
    if problems:
        raise InvalidInput(
            "the directory was refused: " + "; ".join(p["message"] for p in problems),
            rule=problems[0]["rule"], details={"problems": problems},
        )
    return Directory(actors=tuple(actors)), data


def _fail(source: Source, path: str, message: str) -> LoadError:
    return LoadError(f"{path}: {message}", file=source.file, line=source.line(path), path=path)


def _actor(source: Source, path: str, entry: Any, kind: str, allowed: set[str]) -> Actor:
    if not isinstance(entry, dict):
        raise _fail(source, path, f"each {kind} is a mapping with at least `id`")
    for key in entry:
        if key not in allowed:
            raise _fail(source, join(path, key), f"unknown key {key!r}; allowed: {', '.join(sorted(allowed))}")
    actor_id = entry.get("id")
    if not isinstance(actor_id, str) or not ID_PATTERN.match(actor_id):
        raise _fail(source, join(path, "id"), "an id is required and uses only a-z, 0-9, '.', '_' and '-'")
    roles = entry.get("roles") or []
    if not isinstance(roles, list) or not all(isinstance(r, str) and ID_PATTERN.match(r) for r in roles):
        raise _fail(source, join(path, "roles"), "roles is a list of role names ([a-z0-9._-]+)")
    email = entry.get("email")
    if email is not None and not isinstance(email, str):
        raise _fail(source, join(path, "email"), "email is a string")
    slack = entry.get("slack")
    if slack is not None and not (isinstance(slack, str) and _SLACK_USER.match(slack)):
        raise _fail(source, join(path, "slack"), "slack is a Slack user id such as U024BE7LH")
    delegate = entry.get("delegate")
    if delegate is not None and not isinstance(delegate, str):
        raise _fail(source, join(path, "delegate"), "delegate is a person id")
    away_data = entry.get("away") or []
    if isinstance(away_data, dict):
        away_data = [away_data]
    if not isinstance(away_data, list):
        raise _fail(source, join(path, "away"), "away is one period or a list of {from, until, delegate}")
    periods = []
    for index, item in enumerate(away_data):
        item_path = join(join(path, "away"), index)
        if not isinstance(item, dict) or not {"from", "until"} <= set(item) or set(item) - _AWAY_KEYS:
            raise _fail(source, item_path, "an away period is {from: DATE, until: DATE, delegate: ID}")
        try:
            start, until = date.fromisoformat(str(item["from"])), date.fromisoformat(str(item["until"]))
        except ValueError:
            raise _fail(source, item_path, "from and until are dates like 2026-11-20") from None
        if until < start:
            raise _fail(source, item_path, "until is before from")
        periods.append(Away(start=start, until=until, delegate=item.get("delegate")))
    name = entry.get("name")
    return Actor(id=actor_id, kind=kind, name=str(name) if name else actor_id, email=email,
                 roles=tuple(roles), delegate=delegate, away=tuple(periods), slack=slack)


def _problems(actors: list[Actor]) -> list[dict[str, str]]:
    problems: list[dict[str, str]] = []
    seen: set[str] = set()
    for actor in actors:
        if actor.id in seen:
            problems.append({"rule": "id-clash", "message": f"id {actor.id!r} is used twice"})
        seen.add(actor.id)
    roles = {role for actor in actors for role in actor.roles}
    for clash in sorted(roles & seen):
        problems.append({"rule": "id-clash", "message": f"{clash!r} is both an actor id and a role name"})
    slack_ids: dict[str, str] = {}
    for actor in actors:
        if actor.slack is not None and slack_ids.setdefault(actor.slack, actor.id) != actor.id:
            problems.append({"rule": "slack-clash", "message": f"Slack user {actor.slack} is given to both "
                                                               f"{slack_ids[actor.slack]} and {actor.id}"})
    people = {a.id for a in actors if not a.is_agent}
    for actor in actors:
        for target in [actor.delegate, *(p.delegate for p in actor.away)]:
            if target is None:
                continue
            if target not in people:
                problems.append({"rule": "unknown-delegate",
                                 "message": f"{actor.id}'s delegate {target!r} is not a person in the directory"})
            elif target == actor.id:
                problems.append({"rule": "delegation-loop", "message": f"{actor.id} delegates to themself"})
    return problems
