"""Authorization matrix (SPEC §3.2-3.4, §6): every command × every kind of actor, allowed or refused.

Nothing here names a person. The scenario comes from the published playbook and the loaded directory: a
member of the first task step's owner role starts a run, routing gives `prepare` to someone, the completed
work opens the decision, a holder of `rights.recommend` records a recommendation. Each kind of actor is read
off that data (the starter is `run.started_by`, the approver is the decision's assignee, ...); the delegate's
cells run on a directory variant in which the approver is away today behind a standing delegate, so that the
decision is routed to the delegate on the approver's behalf. The expected outcome of every (command, kind) cell
is computed by `expected`, a small restatement of the rules of SPEC §3. Every cell runs against a fresh
database; a refused command must change nothing.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from ledgerflow.domain.directory import Directory
from ledgerflow.domain.errors import Conflict, Forbidden, InvalidTransition, LedgerflowError, NotFound
from ledgerflow.domain.playbook import DecisionStep, Playbook, TaskStep
from ledgerflow.domain.rights import agent_may_approve
from ledgerflow.domain.runs import RunState, TaskState
from ledgerflow.domain.source import parse_yaml
from ledgerflow.domain.states import TaskStatus
from ledgerflow.engine import service
from ledgerflow.storage.store import Store
from ledgerflow.trust import audit
from tests.conftest import ADMIN, DIRECTORY, PRICING, make_store
from tests.engine.helpers import GOOD_OUTPUT, caller, publish_text, run_state, snapshot

PLAYBOOK = "pricing-exception"
INPUT = {"customer": "Acme", "deal_value": 12000, "discount_pct": 18}
RATIONALE = "Three-year renewal; the margin stays above the floor"

KINDS = ("starter", "preparer", "recommender", "approver", "delegate", "outsider", "agent", "workflow-owner",
         "outcome-owner")
COMMANDS = ("start-run", "start", "complete", "decide", "recommend", "reassign", "cancel")
STAGE = {"start-run": "prepare", "complete": "prepare"}  # every other command acts on the open decision

# What each refusal is, by the rule name the engine gives it (SPEC §6: exit 2 for what was typed wrong,
# exit 3 for a well-formed command the rules refuse).
REFUSALS: dict[str, type[LedgerflowError]] = {
    "unknown-actor": NotFound,
    "not-assignee": Forbidden,
    "separation-of-duties": Forbidden,
    "agent-not-authorized": Forbidden,
    "ownership-gap": Forbidden,
    "no-recommend-right": Forbidden,
    "decider-cannot-recommend": Forbidden,
    "reassign-not-owner": Forbidden,
    "cancel-not-allowed": Forbidden,
    "not-an-approver": Forbidden,
    "seat-taken": Forbidden,
    "already-assigned": InvalidTransition,
}



# ------------------------------------------------------------------------------------------ scenario


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """One run of the playbook, stopped with `prepare` open (`decision` None) or with the decision open."""

    store: Store
    playbook: Playbook
    directory: Directory
    now: datetime
    step: DecisionStep
    run: RunState
    prepare: TaskState
    decision: TaskState | None

    @property
    def open_decision(self) -> TaskState:
        assert self.decision is not None, "this scenario stops before the decision"
        return self.decision


def fresh_store(path: Path) -> Store:
    """What the `store` fixture holds: the shared directory loaded and the example playbook published."""
    db = make_store(path)
    service.load_directory_file(db, str(DIRECTORY), ADMIN)
    service.publish(db, str(PRICING), ADMIN)
    return db


def loaded(store: Store, playbook_id: str = PLAYBOOK) -> tuple[Playbook, Directory, datetime]:
    with store.read() as tx:
        playbook, _ = tx.playbook(playbook_id)
        directory = tx.directory()
        now = tx.now()
    assert directory is not None
    return playbook, directory, now


def first_task_step(playbook: Playbook) -> TaskStep:
    return next(s for s in playbook.walk() if isinstance(s, TaskStep))


def decision_step(playbook: Playbook) -> DecisionStep:
    return next(s for s in playbook.walk() if isinstance(s, DecisionStep))


def decision_step_named(playbook: Playbook, step_id: str) -> DecisionStep:
    step = playbook.step(step_id)
    assert isinstance(step, DecisionStep)
    return step


def asker(playbook: Playbook, directory: Directory) -> str:
    """Who starts runs: the last person of the first task step's role (routing gives the work to another)."""
    people = [m for m in directory.members(first_task_step(playbook).owner or "") if directory.is_person(m)]
    return people[-1]


def involved(playbook: Playbook, directory: Directory) -> set[str]:
    """Every actor the playbook gives any part: owners, rights, authority rows, escalation, both owners."""
    names: set[str] = {n for n in (playbook.workflow_owner, playbook.outcome.owner) if n}
    for step in playbook.walk():
        owner = getattr(step, "owner", None)
        if owner:
            names.add(owner)
        if isinstance(step, DecisionStep):
            rights = step.rights
            names.update(rights.recommend, rights.inform, [n for n in (rights.approve, rights.execute) if n])
            names.update(row.approve for row in step.authority)
            names.update(e.to for e in (step.sla.escalate if step.sla else ()))
    return {m for name in names for m in directory.members(name)}


def build(store: Store, stage: str = "decision", directory_file: Path | None = None,
          playbook_id: str = PLAYBOOK, input: dict[str, Any] | None = None, by: str | None = None) -> Scenario:
    """Start a run and take it to `stage`: `prepare` open; the decision `open`; or the `decision` open with one
    recommendation on it."""
    if directory_file is not None:
        service.load_directory_file(store, str(directory_file), ADMIN)
    playbook, directory, now = loaded(store, playbook_id)
    step = decision_step(playbook)
    starter = by or asker(playbook, directory)
    run, opened = service.start_run(store, playbook_id, INPUT if input is None else input, caller(starter))
    [prepare] = opened
    assert prepare.step == first_task_step(playbook).id
    scenario = Scenario(store=store, playbook=playbook, directory=directory, now=now, step=step, run=run,
                        prepare=prepare, decision=None)
    if stage == "prepare":
        return scenario
    done = service.task_command(store, "complete", prepare.id, caller(prepare.assignee), output=GOOD_OUTPUT)
    [decision] = [t for t in done["opened"] if t.step == step.id]
    if stage == "decision" and step.rights.recommend:
        deciders = {decision.assignee, decision.on_behalf_of}
        recommender = next(m for name in step.rights.recommend for m in directory.members(name)
                           if directory.is_person(m) and m not in deciders
                           and m not in (run.started_by, prepare.assignee))
        service.task_command(store, "recommend", decision.id, caller(recommender), outcome="approve",
                             rationale="The deal sheet supports the discount")
    state = run_state(store, run.id)
    return replace(scenario, run=state, prepare=state.task(prepare.id) or prepare,
                   decision=state.task(decision.id))


# ---------------------------------------------------------------------------------------------- cast


@dataclass(frozen=True, slots=True, kw_only=True)
class Cast:
    """Who plays each kind, and the directory in which the approver is away and their delegate decides."""

    actors: dict[str, str]
    delegated_directory: str

    def check(self, scenario: Scenario, *, delegated: bool) -> None:
        """The fresh scenario a cell runs against routes the work to the same people as the cast."""
        a = self.actors
        assert scenario.run.started_by == a["starter"]
        assert scenario.prepare.assignee == a["preparer"]
        if scenario.decision is None:
            return
        if delegated:
            assert (scenario.decision.assignee, scenario.decision.on_behalf_of) == (a["delegate"], a["approver"])
        else:
            assert (scenario.decision.assignee, scenario.decision.on_behalf_of) == (a["approver"], None)
        assert [r.actor for r in scenario.run.recommendations] == [a["recommender"]]


def directory_text(edit: Callable[[dict[str, Any]], None], base: str | None = None) -> str:
    """The shared directory (or `base`) as YAML, with `edit` applied to every person and agent entry."""
    data = parse_yaml(DIRECTORY.read_text() if base is None else base).data
    for entry in [*data["people"], *(data.get("agents") or [])]:
        edit(entry)
    out = io.StringIO()
    YAML(typ="safe").dump(data, out)
    return out.getvalue()


def with_role(role: str, actors: set[str], base: str | None = None) -> str:
    """The shared directory (or `base`) with `role` added to each of `actors`."""
    def edit(entry: dict[str, Any]) -> None:
        if entry["id"] in actors and role not in entry["roles"]:
            entry["roles"] = [*entry["roles"], role]
    return directory_text(edit, base)


def away_directory(approver: str, delegate: str, also_away: list[str], today: datetime) -> str:
    """The shared directory with `approver` away this week behind a standing `delegate`, and the other
    approvers routing could pick instead away too (without a delegate), so the decision goes to the delegate."""
    period = {"from": today.date().isoformat(), "until": (today + timedelta(days=7)).date().isoformat()}

    def edit(entry: dict[str, Any]) -> None:
        if entry["id"] == approver:
            entry.update(delegate=delegate, away=[period])
        elif entry["id"] in also_away:
            entry["away"] = [period]
    return directory_text(edit)


def playbook_variant(playbook_id: str, *, rows: str | None = None, first_rows: str = "",
                     escalate_to: str | None = None, drop: str | None = None) -> str:
    """The example playbook under another id, edited as text: the decision's authority rows replaced by `rows`
    (YAML list items) and `first_rows` put before them; its escalation target replaced; the decision's
    `drop` key removed."""
    text = PRICING.read_text().replace(f"id: {PLAYBOOK}\n", f"id: {playbook_id}\n", 1)
    table = re.search(r"    authority:\n((?:      .*\n)+)", text)
    assert table is not None
    text = text.replace(table[0], "    authority:\n" + first_rows + (table[1] if rows is None else rows), 1)
    if escalate_to is not None:
        text, count = re.subn(r"(\n\s+- after: .*\n\s+to: )\S+", rf"\g<1>{escalate_to}", text)
        assert count == 1
    if drop is not None:
        text, count = re.subn(rf"\n    {drop}: .*\n", "\n", text)
        assert count == 1
    return text


def write(tmp_path: Path, text: str, name: str = "directory-away.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def cast(tmp_path_factory: pytest.TempPathFactory) -> Cast:
    """Derive every kind of actor once, from a full run of the scenario and of its delegated variant."""
    store = fresh_store(tmp_path_factory.mktemp("cast"))
    try:
        base = build(store)
    finally:
        store.close()
    pb, directory, decision = base.playbook, base.directory, base.open_decision
    assert decision.on_behalf_of is None and decision.assignee is not None
    [recommendation] = base.run.recommendations
    actors = {
        "starter": base.run.started_by,
        "preparer": str(base.prepare.assignee),
        "recommender": recommendation.actor,
        "approver": decision.assignee,
        "agent": next(a.id for a in directory.actors if a.is_agent),
        "workflow-owner": str(pb.workflow_owner),
        "outcome-owner": str(pb.outcome.owner),
    }
    taken = involved(pb, directory) | set(actors.values())
    bystanders = [a.id for a in directory.actors if not a.is_agent and a.id not in taken]
    assert len(bystanders) >= 2, "the directory needs two people with no part in the playbook"
    actors["delegate"], actors["outsider"] = bystanders[0], bystanders[-1]
    assert len(set(actors.values())) == len(KINDS), actors
    others = [m for m in directory.members(decision.approver or "")
              if m != decision.assignee and m not in (base.run.started_by, base.prepare.assignee)]
    text = away_directory(decision.assignee, actors["delegate"], others, base.now)
    store = fresh_store(tmp_path_factory.mktemp("cast-delegated"))
    try:
        delegated = build(store, directory_file=write(tmp_path_factory.mktemp("dir"), text))
    finally:
        store.close()
    assert delegated.open_decision.assignee == actors["delegate"]
    assert delegated.open_decision.on_behalf_of == actors["approver"]
    return Cast(actors=actors, delegated_directory=text)


# --------------------------------------------------------------------------------------------- rules


@dataclass(frozen=True, slots=True)
class Expect:
    """Allowed, or refused by any one of `rules` (the engine may check them in any order)."""

    rules: frozenset[str]

    @property
    def allowed(self) -> bool:
        return not self.rules


def excluded(s: Scenario, actor: str | None) -> bool:
    """SPEC §3.3: started the run, acted on a separation-of-duties step, supplied data under decision, or
    recommended on this decision."""
    if actor is None:
        return False
    if actor == s.run.started_by:
        return True
    readable = {step.id for step in s.playbook.before(s.step)}
    for task in s.run.tasks:
        if actor not in (task.assignee, task.on_behalf_of):
            continue
        if task.step in s.step.separation_of_duties and task.status in (TaskStatus.COMPLETED, TaskStatus.DECIDED):
            return True
        if task.step in readable and task.status == TaskStatus.COMPLETED:
            return True
    return any(r.step == s.step.id and r.actor == actor for r in s.run.recommendations)


def agent_allowed(s: Scenario, actor: str) -> bool:
    """SPEC §3.3: an agent decides only through a guarded authority row naming it or a role containing it."""
    entry = s.directory.get(actor)
    if entry is None or not entry.is_agent:
        return True
    index = s.open_decision.authority_row
    if index is None:
        return False
    row = s.step.authority[index]
    return row.when is not None and actor in s.directory.members(row.approve)


def expected(command: str, actor: str, s: Scenario) -> Expect:
    """The outcome SPEC §3.2-3.4 and §6 give `command` done by `actor` in scenario `s`."""
    refused: set[str] = set()
    owners = {s.playbook.workflow_owner, s.playbook.outcome.owner}
    if command == "start-run":  # any person or agent in the directory may start a run
        if not s.directory.is_actor(actor):
            refused.add("unknown-actor")
    elif command == "complete":  # only the assignee completes
        if actor != s.prepare.assignee:
            refused.add("not-assignee")
    elif command == "start":  # only the assignee starts
        if actor != s.open_decision.assignee:
            refused.add("not-assignee")
    elif command == "decide":
        task = s.open_decision
        if actor != task.assignee:
            refused.add("not-assignee")
        acting_for = task.on_behalf_of if actor == task.assignee else None
        if excluded(s, actor) or excluded(s, acting_for):  # a delegate carries the delegator's exclusions
            refused.add("separation-of-duties")
        if not agent_allowed(s, actor):
            refused.add("agent-not-authorized")
        if task.blocked:
            refused.add("ownership-gap")
    elif command == "recommend":  # holders of rights.recommend who are not deciding it
        holders = {m for name in s.step.rights.recommend for m in s.directory.members(name)}
        if actor not in holders:
            refused.add("no-recommend-right")
        deciders = {who for t in s.run.latest(s.step.id) if t.is_open for who in (t.assignee, t.on_behalf_of)}
        if actor in deciders:  # an assignee, or the away approver their delegate decides for
            refused.add("decider-cannot-recommend")
    elif command == "reassign":  # the workflow owner or the outcome owner, with a reason
        if actor not in owners:
            refused.add("reassign-not-owner")
    elif command == "cancel":  # the starter, the workflow owner or the outcome owner
        if actor not in owners | {s.run.started_by}:
            refused.add("cancel-not-allowed")
    else:
        raise AssertionError(f"no rule for {command}")
    return Expect(frozenset(refused))


def reassign_target(s: Scenario) -> str:
    """An eligible approver other than the assignee, available if there is one."""
    task = s.open_decision
    eligible = [m for m in s.directory.members(task.approver or "")
                if m != task.assignee and not excluded(s, m) and agent_allowed(s, m)]
    available = [m for m in eligible if s.directory.is_available(m, s.now)]
    return (available or eligible)[0]


def perform(command: str, actor: str, s: Scenario) -> Any:
    who = caller(actor)
    if command == "start-run":
        return service.start_run(s.store, s.playbook.id, INPUT, who)
    if command == "complete":
        return service.task_command(s.store, "complete", s.prepare.id, who, output=GOOD_OUTPUT)
    if command == "cancel":
        return service.cancel_run(s.store, s.run.id, who, "The customer withdrew the request")
    task = s.open_decision.id
    if command == "start":
        return service.task_command(s.store, "start", task, who)
    if command == "decide":
        return service.task_command(s.store, "decide", task, who, outcome="approve", rationale=RATIONALE, to=None)
    if command == "recommend":
        return service.task_command(s.store, "recommend", task, who, outcome="approve", rationale=RATIONALE)
    if command == "reassign":
        return service.task_command(s.store, "reassign", task, who, to=reassign_target(s),
                                    reason="Rebalancing the approvers' queue")
    raise AssertionError(f"no driver for {command}")


def last_event(store: Store, type_: str) -> dict[str, Any]:
    with store.read() as tx:
        return [e for e in tx.events() if e["type"] == type_][-1]


def check_effect(command: str, actor: str, s: Scenario, result: Any) -> None:
    """What an allowed command must have done."""
    if command == "start-run":
        run, _opened = result
        assert run.started_by == actor and run.status == "running"
        return
    after = run_state(s.store, s.run.id)
    if command == "complete":
        prepared = after.task(s.prepare.id)
        assert prepared is not None and prepared.status == TaskStatus.COMPLETED
        assert [t.step for t in result["opened"]] == [s.step.id]
        return
    if command == "cancel":
        assert after.status == "cancelled" and not any(t.is_open for t in after.tasks)
        assert last_event(s.store, "run.cancelled")["actor"] == actor
        return
    before = s.open_decision
    task = after.task(before.id)
    assert task is not None
    if command == "start":
        assert (task.status, task.assignee) == (TaskStatus.IN_PROGRESS, actor)
    elif command == "decide":
        assert (task.status, task.outcome) == (TaskStatus.DECIDED, "approve")
        event = last_event(s.store, "task.decided")
        authority: dict[str, Any]
        if before.on_behalf_of:
            authority = {"kind": "delegation", "detail": before.on_behalf_of}
        elif before.authority_row is not None:
            authority = {"kind": "authority_row", "detail": before.authority_row}
        else:
            authority = {"kind": "role", "detail": before.approver}
        assert (event["actor"], event["authority"]) == (actor, authority)
    elif command == "recommend":
        mine = [(r.outcome, r.rationale) for r in after.recommendations if r.actor == actor]
        assert mine == [("approve", RATIONALE)]  # a newer recommendation replaces the older one
    elif command == "reassign":
        assert task.assignee == reassign_target(s)
        event = last_event(s.store, "assignment.changed")
        assert event["actor"] == actor and event["data"]["kind"] == "reassignment"
        assert event["authority"]["kind"] == "owner"


# -------------------------------------------------------------------------------------------- matrix


def _cells() -> list[Any]:
    return [pytest.param(command, kind, id=f"{command}-by-{kind}") for command in COMMANDS for kind in KINDS]


@pytest.mark.parametrize(("command", "kind"), _cells())
def test_authorization_matrix(store: Store, tmp_path: Path, cast: Cast, command: str, kind: str) -> None:
    away = write(tmp_path, cast.delegated_directory) if kind == "delegate" else None
    scenario = build(store, STAGE.get(command, "decision"), directory_file=away)
    cast.check(scenario, delegated=kind == "delegate")
    actor = cast.actors[kind]
    expect = expected(command, actor, scenario)
    before = snapshot(store)
    if expect.allowed:
        result = perform(command, actor, scenario)
        check_effect(command, actor, scenario, result)
        assert snapshot(store) != before
        assert audit.verify(store)["ok"]
        return
    with pytest.raises(LedgerflowError) as info:
        perform(command, actor, scenario)
    error = info.value
    assert error.rule in expect.rules, f"refused by {error.rule!r}, expected one of {sorted(expect.rules)}"
    assert isinstance(error, REFUSALS[error.rule]), type(error)
    assert error.exit_code == REFUSALS[error.rule].exit_code
    assert snapshot(store) == before


def test_the_generated_matrix_for_the_shared_example(tmp_path: Path, cast: Cast) -> None:
    """The allowed cells `expected` generates for the shared playbook and directory, written out once: a guard
    against a rule function that has drifted into agreeing with the engine on something SPEC §3 does not say."""
    away = write(tmp_path, cast.delegated_directory)
    scenarios: dict[tuple[str, bool], Scenario] = {}
    for stage in ("prepare", "decision"):
        for delegated in (False, True):
            path = tmp_path / f"{stage}-{delegated}"
            path.mkdir()
            store = fresh_store(path)
            scenarios[stage, delegated] = build(store, stage, directory_file=away if delegated else None)
            store.close()
    allowed = {command: {kind for kind in KINDS
                         if expected(command, cast.actors[kind],
                                     scenarios[STAGE.get(command, "decision"), kind == "delegate"]).allowed}
               for command in COMMANDS}
    assert allowed == {
        "start-run": set(KINDS),
        "start": {"approver", "delegate"},
        "complete": {"preparer"},
        "decide": {"approver", "delegate"},
        "recommend": {"recommender"},
        "reassign": {"workflow-owner", "outcome-owner"},
        "cancel": {"starter", "workflow-owner", "outcome-owner"},
    }


# ---------------------------------------------------------------------- reassignment targets (§3.2)


def expected_target(target: str, s: Scenario) -> Expect:
    """SPEC §3.2: a decision may be reassigned only to an actor who holds approve for it and is not excluded."""
    task = s.open_decision
    refused: set[str] = set()
    if target == task.assignee:
        refused.add("already-assigned")
    if target not in s.directory.members(task.approver or ""):
        refused.add("not-an-approver")
    if excluded(s, target):
        refused.add("separation-of-duties")
    if not agent_allowed(s, target):
        refused.add("agent-not-authorized")
    if any(t.assignee == target and t.is_open and t.id != task.id for t in s.run.latest(s.step.id)):
        refused.add("seat-taken")
    return Expect(frozenset(refused))


# A reassignment grants no authority of its own: the delegate (approver present) and the outsider keep no
# approve right; every other kind is given the approving role, so that only the rules tell them apart.
WITHOUT_THE_ROLE = ("delegate", "outsider")


@pytest.mark.parametrize("kind", KINDS, ids=[f"reassign-to-{kind}" for kind in KINDS])
def test_reassignment_targets(store: Store, tmp_path: Path, cast: Cast, kind: str) -> None:
    s = build(store)
    cast.check(s, delegated=False)
    members = {cast.actors[k] for k in KINDS if k not in WITHOUT_THE_ROLE}
    text = with_role(str(s.open_decision.approver), members)
    service.load_directory_file(store, str(write(tmp_path, text, "directory-approvers.yaml")), ADMIN)
    s = replace(s, directory=loaded(store)[1], run=run_state(store, s.run.id))
    assert s.run.task(s.open_decision.id) == s.open_decision  # the directory change moved nothing
    target = cast.actors[kind]
    expect = expected_target(target, s)
    by = caller(s.playbook.workflow_owner)
    before = snapshot(store)
    if expect.allowed:
        result = service.task_command(store, "reassign", s.open_decision.id, by, to=target, reason="Rebalancing")
        assert result["task"].assignee == target and snapshot(store) != before
        assert last_event(store, "assignment.changed")["data"]["kind"] == "reassignment"
        return
    with pytest.raises(LedgerflowError) as info:
        service.task_command(store, "reassign", s.open_decision.id, by, to=target, reason="Rebalancing")
    assert info.value.rule in expect.rules, f"refused by {info.value.rule!r}, expected one of {sorted(expect.rules)}"
    assert isinstance(info.value, REFUSALS[info.value.rule])
    assert snapshot(store) == before


def test_whoever_supplied_the_data_under_decision_is_excluded_without_separation_of_duties(
        store: Store, tmp_path: Path, cast: Cast) -> None:
    """With `separation_of_duties` emptied, the preparer is still excluded: the decision reads their output."""
    preparer, approver = cast.actors["preparer"], cast.actors["approver"]
    playbook, _directory, _ = loaded(store)
    role = str(decision_step(playbook).rights.approve)
    publish_text(store, tmp_path, playbook_variant("no-sod", drop="separation_of_duties"))
    directory = write(tmp_path, with_role(role, {preparer}), "directory-preparer-approves.yaml")
    s = build(store, "open", directory_file=directory, playbook_id="no-sod")
    assert s.prepare.assignee == preparer and preparer in s.directory.members(role)
    assert s.open_decision.assignee == approver  # routing passed over the preparer, first in the role
    assert expected_target(preparer, s).rules == {"separation-of-duties"}
    before = snapshot(store)
    with pytest.raises(Forbidden) as info:
        service.task_command(store, "reassign", s.open_decision.id, caller(playbook.workflow_owner), to=preparer,
                             reason="Rebalancing")
    assert info.value.rule == "separation-of-duties" and "supplied data" in info.value.message
    assert snapshot(store) == before


def test_a_decider_who_also_holds_recommend_decides_rather_than_recommends(store: Store, tmp_path: Path,
                                                                           cast: Cast) -> None:
    approver = cast.actors["approver"]
    playbook, _directory, _ = loaded(store)
    role = decision_step(playbook).rights.recommend[0]
    s = build(store, directory_file=write(tmp_path, with_role(role, {approver}), "directory-recommending.yaml"))
    assert s.open_decision.assignee == approver and approver in s.directory.members(role)
    assert expected("recommend", approver, s).rules == {"decider-cannot-recommend"}
    before = snapshot(store)
    with pytest.raises(Forbidden) as info:
        service.task_command(store, "recommend", s.open_decision.id, caller(approver), outcome="approve",
                             rationale=RATIONALE)
    assert info.value.rule == "decider-cannot-recommend"
    assert snapshot(store) == before


TWO_KEYS = """
id: two-keys
title: Two keys
outcome: {{owner: {outcome_owner}, statement: Two people sign off every exception, measure: 95% within 2 days}}
workflow_owner: {workflow_owner}
steps:
  - id: ask
    type: task
    owner: {asker}
    clarity: {{what: Describe the exception, why: Signers need the facts, success: request filled in, due: 1d}}
  - id: first
    type: decision
    rights: {{approve: {approver}}}
    clarity: {{what: Sign first, why: Two keys, success: decision recorded, due: 1d}}
    sla: {{due: 1d}}
  - id: second
    type: decision
    rights: {{approve: {approver}}}
    separation_of_duties: [first]
    clarity: {{what: Countersign, why: Two keys, success: decision recorded, due: 1d}}
    sla: {{due: 1d}}
"""


def test_whoever_decided_a_step_listed_in_separation_of_duties_is_excluded(store: Store, tmp_path: Path) -> None:
    """A decision has no output, so only `separation_of_duties` keeps its decider off the countersignature."""
    playbook, _directory, _ = loaded(store)
    role = str(decision_step(playbook).rights.approve)
    publish_text(store, tmp_path, TWO_KEYS.format(outcome_owner=playbook.outcome.owner, asker=first_task_step(
        playbook).owner, workflow_owner=playbook.workflow_owner, approver=role))
    s = build(store, "open", playbook_id="two-keys", input={})
    first = s.open_decision
    done = service.task_command(store, "decide", first.id, caller(first.assignee), outcome="approve",
                                rationale=RATIONALE, to=None)
    [second] = done["opened"]
    assert second.step == "second" and second.assignee != first.assignee
    s = replace(s, step=decision_step_named(s.playbook, "second"), run=run_state(store, s.run.id), decision=second)
    assert expected_target(str(first.assignee), s).rules == {"separation-of-duties"}
    before = snapshot(store)
    with pytest.raises(Forbidden) as info:
        service.task_command(store, "reassign", second.id, caller(playbook.workflow_owner), to=first.assignee,
                             reason="Rebalancing")
    assert info.value.rule == "separation-of-duties" and "separation_of_duties" in info.value.message
    assert snapshot(store) == before


# ------------------------------------------------------------------------------------ agents (§3.3)


def _agent_and_role(store: Store) -> tuple[str, str]:
    _, directory, _ = loaded(store)
    agent = next(a for a in directory.actors if a.is_agent)
    return agent.id, agent.roles[0]


def _guarded(approve: str) -> str:
    return f"      - when: input.deal_value <= 1000\n        approve: {approve}\n"


@pytest.mark.parametrize("names", ["role", "agent"])
def test_an_agent_decides_through_a_guarded_authority_row_naming_it(store: Store, tmp_path: Path,
                                                                    names: str) -> None:
    agent, role = _agent_and_role(store)
    publish_text(store, tmp_path, playbook_variant("agent-pricing",
                                                   first_rows=_guarded(role if names == "role" else agent)))
    s = build(store, "open", playbook_id="agent-pricing", input={**INPUT, "deal_value": 800})
    decision = s.open_decision
    assert (decision.assignee, decision.authority_row) == (agent, 0)
    assert last_event(store, "task.ready")["authority"] == {"kind": "authority_row", "detail": 0}
    assert expected("decide", agent, s).allowed
    result = service.task_command(store, "decide", decision.id, caller(agent), outcome="approve",
                                  rationale="Small deal within the assistant's limit", to=None)
    assert result["task"].status == TaskStatus.DECIDED
    event = last_event(store, "task.decided")
    assert event["actor"] == agent and event["data"]["agent"] is True
    assert event["authority"] == {"kind": "authority_row", "detail": 0}
    assert audit.verify(store)["ok"]


def test_a_guarded_row_that_does_not_match_never_routes_the_agent(store: Store, tmp_path: Path) -> None:
    agent, role = _agent_and_role(store)
    publish_text(store, tmp_path, playbook_variant("agent-pricing", first_rows=_guarded(role)))
    s = build(store, "open", playbook_id="agent-pricing")  # deal_value 12000: the agent's row is false
    assert s.open_decision.authority_row == 1 and s.open_decision.assignee != agent


def test_an_unguarded_row_naming_only_agents_is_refused_at_publish(store: Store, tmp_path: Path) -> None:
    _agent, role = _agent_and_role(store)
    before = snapshot(store)
    with pytest.raises(Conflict) as info:
        publish_text(store, tmp_path, playbook_variant("agent-pricing", first_rows=f"      - approve: {role}\n"))
    assert "agent-only-approver" in {f["rule"] for f in info.value.details["findings"]}
    assert snapshot(store) == before


def test_without_the_guard_the_agent_is_never_routed_the_decision(store: Store, tmp_path: Path) -> None:
    """The agent shares an unguarded approving role with one person; when that person is excluded, the
    decision escalates to a person rather than going to the agent, and cannot be reassigned to it."""
    agent, role = _agent_and_role(store)
    playbook, directory, _ = loaded(store)
    person = directory.members(decision_step(playbook).rights.approve or "")[0]
    service.load_directory_file(store, str(write(tmp_path, with_role(role, {person}), "directory-mixed.yaml")),
                                ADMIN)
    findings = publish_text(store, tmp_path, playbook_variant("agent-pricing", rows=f"      - approve: {role}\n"))
    assert "agent-unguarded-approve" in {f["rule"] for f in findings["findings"]}
    s = build(store, "open", playbook_id="agent-pricing", by=person)  # the person is excluded as the starter
    decision = s.open_decision
    assert decision.approver == role and set(s.directory.members(role)) == {person, agent}
    assert decision.assignee != agent and s.directory.is_person(str(decision.assignee)) and decision.escalated
    before = snapshot(store)
    with pytest.raises(Forbidden) as info:
        service.task_command(store, "reassign", decision.id, caller(playbook.workflow_owner), to=agent,
                             reason="the assistant is idle")
    assert info.value.rule == "agent-not-authorized"
    assert snapshot(store) == before


def test_an_agent_holding_recommend_records_a_recommendation(store: Store, tmp_path: Path) -> None:
    agent, _role = _agent_and_role(store)
    playbook, _directory, _ = loaded(store)
    role = decision_step(playbook).rights.recommend[0]
    s = build(store, directory_file=write(tmp_path, with_role(role, {agent}), "directory-agent-recommends.yaml"))
    assert expected("recommend", agent, s).allowed
    service.task_command(store, "recommend", s.open_decision.id, caller(agent), outcome="approve",
                         rationale=RATIONALE)
    recorded = run_state(store, s.run.id).recommendations
    assert [r.actor for r in recorded] == [*(r.actor for r in s.run.recommendations), agent]
    assert last_event(store, "recommendation.recorded")["actor"] == agent


def test_agent_may_approve_only_through_a_guarded_row(store: Store, tmp_path: Path) -> None:
    agent, role = _agent_and_role(store)
    publish_text(store, tmp_path, playbook_variant("agent-pricing", first_rows=_guarded(role)))
    playbook, directory, _ = loaded(store, "agent-pricing")
    step = decision_step(playbook)
    person = directory.members(step.authority[1].approve)[0]
    assert agent_may_approve(directory, step, 0, agent)  # guarded, names the agent's role
    assert not agent_may_approve(directory, step, 1, agent)  # guarded, names a role without the agent
    assert not agent_may_approve(directory, step, 2, agent)  # unguarded
    assert not agent_may_approve(directory, step, None, agent)  # rights.approve, no row matched
    assert agent_may_approve(directory, step, None, person)  # people are not limited by this rule


# -------------------------------------------------------------------------------- delegation (§2, §3.3)


def test_a_delegate_decides_on_behalf_of_the_away_approver(store: Store, tmp_path: Path, cast: Cast) -> None:
    delegate, approver = cast.actors["delegate"], cast.actors["approver"]
    s = build(store, directory_file=write(tmp_path, cast.delegated_directory))
    decision = s.open_decision
    assert (decision.assignee, decision.on_behalf_of) == (delegate, approver)
    assert not s.directory.is_available(approver, s.now) and approver in s.directory.members(str(decision.approver))
    assert delegate not in s.directory.members(str(decision.approver))  # the rights are the delegator's
    with store.read() as tx:
        ready = next(e for e in tx.events(run=s.run.id) if e["type"] == "task.ready" and e["task"] == decision.id)
    assert ready["authority"] == {"kind": "delegation", "detail": approver}
    result = service.task_command(store, "decide", decision.id, caller(delegate), outcome="approve",
                                  rationale=RATIONALE, to=None)
    assert result["task"].outcome == "approve" and [t.step for t in result["opened"]] == ["apply"]
    event = last_event(store, "task.decided")
    assert event["actor"] == delegate
    assert event["authority"] == {"kind": "delegation", "detail": approver}
    assert audit.verify(store)["ok"]


def test_a_delegate_is_never_routed_a_decision_their_delegator_is_excluded_from(store: Store, tmp_path: Path,
                                                                              cast: Cast) -> None:
    delegate, approver = cast.actors["delegate"], cast.actors["approver"]
    s = build(store, "open", directory_file=write(tmp_path, cast.delegated_directory), by=approver)
    decision = s.open_decision
    assert decision.assignee != delegate and decision.on_behalf_of is None
    assert decision.escalated  # nobody in the approving role could take it: the escalation map did


def test_the_away_approver_cannot_recommend_on_the_decision_their_delegate_holds(store: Store, tmp_path: Path,
                                                                                 cast: Cast) -> None:
    delegate, approver = cast.actors["delegate"], cast.actors["approver"]
    playbook, _directory, _ = loaded(store)
    role = decision_step(playbook).rights.recommend[0]
    text = with_role(role, {approver}, base=cast.delegated_directory)
    s = build(store, directory_file=write(tmp_path, text, "directory-away-recommending.yaml"))
    decision = s.open_decision
    assert (decision.assignee, decision.on_behalf_of) == (delegate, approver)
    assert expected("recommend", approver, s).rules == {"decider-cannot-recommend"}
    before = snapshot(store)
    with pytest.raises(Forbidden) as info:
        service.task_command(store, "recommend", decision.id, caller(approver), outcome="approve",
                             rationale=RATIONALE)
    assert info.value.rule == "decider-cannot-recommend"
    assert snapshot(store) == before


# ------------------------------------------------------------------------------- ownership gap (§3.4)


def test_the_workflow_owner_holding_a_blocked_gap_may_reassign_it_but_never_decide_it(store: Store,
                                                                                     tmp_path: Path) -> None:
    """Every approver is away without a delegate and the outcome owner, the only escalation target, started the
    run: the decision is a blocked gap for the workflow owner until the approvers are back."""
    playbook, directory, now = loaded(store)
    owner, workflow_owner = str(playbook.outcome.owner), str(playbook.workflow_owner)
    approvers = set(directory.members(str(decision_step(playbook).rights.approve)))
    period = {"from": now.date().isoformat(), "until": (now + timedelta(days=7)).date().isoformat()}
    everyone_away = directory_text(lambda e: e.update(away=[period]) if e["id"] in approvers else None)
    publish_text(store, tmp_path, playbook_variant("gap-pricing", escalate_to=owner))
    s = build(store, "open", directory_file=write(tmp_path, everyone_away), playbook_id="gap-pricing", by=owner)
    gap = s.open_decision
    assert (gap.assignee, gap.blocked) == (workflow_owner, True)
    assert expected("decide", workflow_owner, s).rules == {"ownership-gap"}
    before = snapshot(store)
    with pytest.raises(Forbidden) as info:
        service.task_command(store, "decide", gap.id, caller(workflow_owner), outcome="approve",
                             rationale="someone has to", to=None)
    assert info.value.rule == "ownership-gap"
    assert snapshot(store) == before
    service.load_directory_file(store, str(DIRECTORY), ADMIN)  # the approvers are back
    assert run_state(store, s.run.id).task(gap.id) == gap  # a blocked gap waits for its holder to reassign it
    s = replace(s, directory=loaded(store, "gap-pricing")[1], run=run_state(store, s.run.id))
    target = reassign_target(s)
    assert target in approvers and expected_target(target, s).allowed
    moved = service.task_command(store, "reassign", gap.id, caller(workflow_owner), to=target,
                                 reason="the approvers are back")["task"]
    assert (moved.assignee, moved.blocked) == (target, False)
    result = service.task_command(store, "decide", gap.id, caller(target), outcome="approve", rationale=RATIONALE,
                                  to=None)
    assert result["task"].outcome == "approve"
    assert audit.verify(store)["ok"]
