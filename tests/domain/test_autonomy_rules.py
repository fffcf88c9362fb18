"""The rules of earned autonomy (SPEC §11), without a database: which guards carry a limit, how a changed agent
reads its row while its row-mates keep the guard as written, and the agreement window of the trigger."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ledgerflow.domain.autonomy import (
    AS_WRITTEN,
    EVENT,
    AgentAutonomy,
    Autonomy,
    admits,
    decide,
    evolve,
    guard_limit,
    names_agents,
    recent_agreement,
    row_matches,
)
from ledgerflow.domain.directory import load_directory
from ledgerflow.domain.errors import Forbidden, InvalidInput
from ledgerflow.domain.expressions import compile_expression
from ledgerflow.domain.playbook import DecisionStep, load_playbook
from ledgerflow.domain.rights import agent_may_approve, approving_authority
from ledgerflow.domain.source import parse_yaml

DIRECTORY = load_directory(parse_yaml("""
people:
  - {id: fin, roles: [finance]}
  - {id: pat, roles: [triage]}
  - {id: maria}
  - {id: sam}
agents:
  - {id: bot, roles: [triage]}
"""))[0]
PLAYBOOK_SOURCE = """
id: credit
title: Credits
outcome: {owner: maria, statement: Credits settle in a day, measure: median latency}
workflow_owner: sam
input: {type: object, properties: {amount: {type: number}}}
steps:
  - id: triage
    type: decision
    rights: {approve: finance}
    authority:
      - {when: input.amount <= 100, approve: triage}
      - {approve: finance}
    clarity: {what: Triage, why: Small credits should not wait, success: decided, due: 1h}
"""
PLAYBOOK = load_playbook(parse_yaml(PLAYBOOK_SOURCE))


def _decision_step() -> DecisionStep:
    step = PLAYBOOK.by_id["triage"]
    assert isinstance(step, DecisionStep)
    return step


STEP = _decision_step()
NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)


def _held(limit: float | None = None, withdrawn: bool = False) -> Autonomy:
    return Autonomy((AgentAutonomy(playbook="credit", step="triage", agent="bot", limit=limit, withdrawn=withdrawn,
                                   decided_by="sam", decided_at="2026-03-02T09:00:00Z", rationale="r"),))


def _context(amount: float) -> dict[str, object]:
    return {"input": {"amount": amount}}


@pytest.mark.parametrize(("source", "bound"), [
    ("input.amount <= 100", 100.0), ("input.amount < 2.5e3", 2500.0), ("steps.check.output.total<=1000", 1000.0),
    ("input.amount <= 100 && input.customer != 'x'", None), ("input.amount >= 100", None),
    ("input.customer == 'Acme'", None), ("100 >= input.amount", None),
])
def test_only_a_guard_of_the_form_quantity_below_a_number_carries_a_limit(source: str, bound: float | None) -> None:
    found = guard_limit(compile_expression(source))
    assert (found.bound if found is not None else None) == bound


def test_a_widened_agent_alone_passes_its_row_and_its_row_mates_keep_the_guard() -> None:
    widened = _held(limit=500)
    assert approving_authority(STEP, _context(300), DIRECTORY, AS_WRITTEN)[1] == 1
    assert approving_authority(STEP, _context(300), DIRECTORY, widened)[1] == 0  # the row now matches for bot
    assert admits(DIRECTORY, widened, STEP, 0, "bot", _context(300))
    assert not admits(DIRECTORY, widened, STEP, 0, "pat", _context(300))  # the person in the same role does not
    assert agent_may_approve(DIRECTORY, STEP, 0, "bot", widened, _context(300))
    assert not agent_may_approve(DIRECTORY, STEP, 0, "pat", widened, _context(300))
    assert agent_may_approve(DIRECTORY, STEP, 0, "maria", widened, _context(300))  # an escalation target


def test_a_narrowed_or_withdrawn_agent_no_longer_makes_its_row_match_for_it() -> None:
    for held in (_held(limit=50), _held(withdrawn=True)):
        assert not admits(DIRECTORY, held, STEP, 0, "bot", _context(80))
        assert row_matches(DIRECTORY, held, STEP, 0, _context(80))  # pat still holds the row as written
        assert not agent_may_approve(DIRECTORY, STEP, 0, "bot", held, _context(80))
    assert admits(DIRECTORY, _held(limit=50), STEP, 0, "bot", _context(40))


def test_only_an_owner_decides_and_the_event_folds_into_the_state_row() -> None:
    with pytest.raises(Forbidden):
        decide(PLAYBOOK, DIRECTORY, actor="bot", channel="mcp", agent="bot", step_id="triage", change="limit",
               limit=1e6, rationale="earned", scorecard=[], current=None, now=NOW)
    with pytest.raises(InvalidInput):
        decide(PLAYBOOK, DIRECTORY, actor="sam", channel="cli", agent="pat", step_id="triage", change="withdraw",
               limit=None, rationale="a person", scorecard=[], current=None, now=NOW)
    event = decide(PLAYBOOK, DIRECTORY, actor="sam", channel="cli", agent="bot", step_id="triage", change="limit",
                   limit=500, rationale="earned", scorecard=[{"agent": "bot", "agreement_rate": 0.95}],
                   current=None, now=NOW)
    assert event.type == EVENT and event.data["written_limit"] == 100 and event.data["scorecard"][0]["agent"] == "bot"
    state: dict[tuple[str, str, str], AgentAutonomy] = {}
    evolve(state, event)
    assert state[("credit", "triage", "bot")].limit == 500 and state[("credit", "triage", "bot")].changed


def test_agreement_is_read_over_the_latest_judged_recommendations_only() -> None:
    recommended = [("r1", 1, "approve"), ("r2", 1, "approve"), ("r3", 1, "approve"), ("r3", 1, "reject"),
                   ("r4", 1, "approve")]
    final = {"r1": (10, "reject"), "r2": (20, "approve"), "r3": (30, "reject")}  # r4 not decided yet
    assert recent_agreement(recommended, final, 20) == (3, 2)  # r3's newer recommendation counts
    assert recent_agreement(recommended, final, 2) == (2, 2)  # the two decided last


@pytest.mark.parametrize(("approver", "guarded", "names"), [
    ("triage", True, True),  # a role with an agent among its people
    ("bot", True, True),  # the agent itself
    ("finance", True, False),  # people only
    ("fin", True, False),  # a person
    ("triage", False, False),  # a row without a guard: autonomy never applies to it
])
def test_a_playbook_names_an_agent_only_in_a_guarded_row_whose_approver_holds_one(
        approver: str, guarded: bool, names: bool) -> None:
    guard = "when: input.amount <= 100, " if guarded else ""
    source = PLAYBOOK_SOURCE.replace("{when: input.amount <= 100, approve: triage}", f"{{{guard}approve: {approver}}}")
    assert names_agents(load_playbook(parse_yaml(source)), DIRECTORY) is names
