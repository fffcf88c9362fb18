"""A small organisation and a price-exception playbook, and the steps of driving a run through the pure flow
functions (no database), shared by the flow's domain tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import count
from typing import Any

from ledgerflow.domain import flow
from ledgerflow.domain.directory import Directory, load_directory
from ledgerflow.domain.events import Event
from ledgerflow.domain.playbook import Playbook, load_playbook
from ledgerflow.domain.routing import Last
from ledgerflow.domain.runs import RunState, TaskState
from ledgerflow.domain.source import parse_yaml

NOW = datetime(2026, 3, 2, 8, tzinfo=UTC)
AT = "2026-03-02T08:00:00.000000Z"
AWAY = "away: {from: 2026-03-01, until: 2026-03-09}"

PEOPLE = """
people:
  - {id: alice, roles: [sales]}
  - {id: bob, roles: [sales]}
  - {id: cora, roles: [sales]}
  - {id: dave, roles: [finance]}
  - {id: erin, roles: [finance]}
  - {id: maria, roles: [vp]}
  - {id: victor, roles: [vp]}
  - {id: sam, roles: [ops]}
  - {id: lena, roles: [legal]}
agents:
  - {id: bot, roles: [helper]}
"""

PRICE = """
id: price
title: Price exception
outcome: {owner: maria, statement: Decide discounts fast, measure: median under a day}
workflow_owner: sam
input:
  type: object
  required: [discount, value]
  properties:
    discount: {type: number}
    value: {type: number}
    lines: {type: array, items: {type: string}}
steps:
  - id: prepare
    type: task
    owner: sales
    clarity: {what: Prepare, why: Finance needs it, success: sheet attached, due: 1d}
  - id: check
    type: check
    on_fail: {send_back: prepare}
    rules:
      - expr: input.discount <= 40
        message: Discounts above 40% are outside policy
        on_fail: {reject: true}
      - expr: steps.prepare.output.ready == true
        message: The deal sheet is not ready
  - id: approve
    type: decision
    rights: {approve: finance, execute: sales}
    authority:
      - when: input.value <= 50000
        approve: finance
      - approve: vp
    options: [approve, reject, send_back]
    separation_of_duties: [prepare]
    quorum: 1
    clarity: {what: Decide, why: Margin, success: decided, due: 1d}
    sla: {due: 24h, escalate: [{after: 24h, to: maria}]}
  - id: apply
    type: task
    owner: sales
    clarity: {what: Apply, why: Customer waits, success: quote sent, due: 4h}
"""

INPUT = {"discount": 18, "value": 12000}
READY = {"ready": True}


def people(*changes: tuple[str, str]) -> Directory:
    """The directory, each (entry, replacement) applied to the entry's line (`alice}` ends alice's)."""
    text = PEOPLE
    for old, new in changes:
        assert old in text, old
        text = text.replace(old, new)
    return load_directory(parse_yaml(text, "directory.yaml"))[0]


def playbook(text: str = PRICE, *changes: tuple[str, str]) -> Playbook:
    for old, new in changes:
        assert old in text, old
        text = text.replace(old, new)
    loaded = load_playbook(parse_yaml(text, "playbook.yaml"))
    assert not loaded.issues, loaded.issues
    return loaded


@dataclass
class Workload:
    """Work assigned before this command: open tasks per actor (every playbook), and who was last given each
    step, by (playbook, step)."""

    open: Mapping[str, int] = field(default_factory=dict)
    last: Mapping[tuple[str, str], Mapping[str, Last]] = field(default_factory=dict)

    def assigned(self, playbook: str, step: str,
                 actors: Sequence[str]) -> tuple[Mapping[str, int], Mapping[str, Last]]:
        last = self.last.get((playbook, step), {})
        return ({a: n for a, n in self.open.items() if a in actors}, {a: t for a, t in last.items() if a in actors})


def context(pb: Playbook | None = None, directory: Directory | None = None,
            workload: Workload | None = None) -> flow.Context:
    ids = count(1)
    return flow.Context(playbook=pb or playbook(), directory=directory or people(), workload=workload or Workload(),
                        now=NOW, new_id=lambda prefix: f"{prefix}-{next(ids)}")


def start(ctx: flow.Context, actor: str = "bob", **input: Any) -> flow.Builder:
    return flow.start_run(ctx, run_id="r-1", actor=actor, input={**INPUT, **input}, version=1, why=None)


def open_tasks(run: RunState) -> list[TaskState]:
    return [t for t in run.tasks if t.is_open]


def only_open(run: RunState) -> TaskState:
    (task,) = open_tasks(run)
    return task


def complete(ctx: flow.Context, run: RunState, task: TaskState, output: dict[str, Any] | None = None) -> flow.Builder:
    return flow.complete_task(ctx, run, task_id=task.id, actor=str(task.assignee),
                              output=READY if output is None else output)


def decide(ctx: flow.Context, run: RunState, task: TaskState, outcome: str = "approve",
           to: str | None = None) -> flow.Builder:
    return flow.decide(ctx, run, task_id=task.id, actor=str(task.assignee), outcome=outcome, rationale="because",
                       to=to)


def at_decision(ctx: flow.Context, starter: str = "bob", **input: Any) -> RunState:
    run = start(ctx, starter, **input).state
    return complete(ctx, run, only_open(run)).state


def types(b: flow.Builder) -> list[str]:
    return [e.type for e in b.events]


def of_type(b: flow.Builder, type_: str) -> list[Event]:
    return [e for e in b.events if e.type == type_]


def event(type_: str, task: str | None, step: str | None, *, authority: dict[str, Any] | None = None,
          data: dict[str, Any] | None = None, actor: str = "system") -> Event:
    return Event(type=type_, at=AT, actor=actor, channel="cli" if actor != "system" else "system", run="r-1",
                 task=task, step=step, authority=authority or {"kind": "system", "detail": None}, data=data or {})


def auth(kind: str, detail: object = None) -> dict[str, Any]:
    return {"kind": kind, "detail": detail}
