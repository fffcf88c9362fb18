"""The in-place fold gives exactly what `evolve` gives, or leaves the run to it: never another state."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledgerflow.domain.events import EVENT_TYPES, Event
from ledgerflow.domain.replay import Unfolded, fold
from ledgerflow.domain.runs import RunState, evolve

_FIELDS = ("type", "at", "actor", "channel", "run", "task", "step", "authority", "data")


def evolved(rows: list[dict[str, Any]]) -> RunState | None:
    state: RunState | None = None
    for row in rows:
        state = evolve(state, Event(**{k: row[k] for k in _FIELDS}))
    return state


def row(type_: str, *, task: str | None = None, step: str | None = None, at: str = "2026-03-02T08:00:00.000000Z",
        actor: str = "bob", channel: str = "cli", **data: Any) -> dict[str, Any]:
    return {"type": type_, "at": at, "actor": actor, "channel": channel, "run": "r-1", "task": task, "step": step,
            "authority": {"kind": "system", "detail": None}, "data": data}


STARTED = row("run.started", playbook="p", version=1, input={"deal_value": 12000}, why=None)
READY = row("task.ready", task="t-1", step="prepare", type="task", assignee="bob", due_at=None)
TASKS = ["t-1", "t-2", "t-3"]
COMMON = ["run.started", "task.ready", "step.skipped", "check.passed", "check.failed", "task.started",
         "task.completed", "task.decided", "task.cancelled", "task.sent_back", "assignment.changed", "action.failed",
         "recommendation.recorded", "run.completed", "run.rejected", "run.cancelled", "run.held", "run.released",
         "nudge.sent"]
"""The types `fold` takes (what it leaves to `evolve` is listed below the property), drawn most often; every other
type is drawn too, so that a type `evolve` learns and `fold` does not breaks the property."""
SANE: dict[str, dict[str, Any]] = {
    "run.started": {"playbook": "p", "version": 1, "input": {}}, "task.decided": {"outcome": "approve"},
    **{kind: {"type": "task", "assignee": "bob"} for kind in ("task.ready", "step.skipped", "check.passed",
                                                              "check.failed")},
    "assignment.changed": {"to": "erin"}, "task.sent_back": {"superseded": ["t-1"], "cancelled": ["t-2"]},
    "recommendation.recorded": {"attempt": 1, "outcome": "approve", "rationale": "r", "data_hash": "h"}}
"""Data each event type needs, so that generated runs get past their first events most of the time."""
data_values = st.one_of(st.none(), st.booleans(), st.integers(0, 3), st.sampled_from([*TASKS, "x", "escalation"]),
                        st.lists(st.sampled_from(TASKS), max_size=2))
extra_data = st.dictionaries(st.sampled_from(["playbook", "version", "input", "type", "assignee", "to", "outcome",
                                              "kind", "superseded", "cancelled", "output", "attempt", "rationale",
                                              "data_hash", "blocked", "error", "seat", "ready_at"]),
                             data_values, max_size=3)
event_rows = st.builds(
    lambda type_, task, sane, extra, channel, at: {
        **row(type_, task=task, step="prepare", channel=channel, at=at),
        "data": {**SANE.get(type_, {}), **extra} if sane else extra},
    st.sampled_from(COMMON) | st.sampled_from(sorted(EVENT_TYPES)), st.sampled_from([*TASKS, None]),
    st.booleans() | st.just(True), extra_data,
    st.sampled_from(["cli", "worker"]), st.sampled_from(["2026-03-02T08:00:00.000000Z", "x"]))


@given(st.just([STARTED]) | st.just([]), st.lists(event_rows, max_size=14))
@settings(max_examples=2000)
def test_fold_gives_evolves_state_or_error_on_any_sequence_of_events(start: list[dict[str, Any]],
                                                                    rest: list[dict[str, Any]]) -> None:
    rows = start + rest
    try:
        expected: RunState | Exception | None = evolved(rows)
    except Exception as exc:  # whatever evolve raises, fold must leave the run to it
        expected = exc
    try:
        found = fold(rows)
    except Unfolded:
        return
    assert not isinstance(expected, Exception), f"fold gave a state where evolve raised {expected!r}"
    assert found == expected


def test_a_run_of_common_events_folds_to_evolves_state() -> None:
    rows = [STARTED, READY, row("task.started", task="t-1"), row("task.completed", task="t-1", output={"a": 1}),
            row("task.ready", task="t-2", step="approve", type="decision", assignee="maria", seat=1),
            row("assignment.changed", task="t-2", to="erin", kind="escalation"),
            row("assignment.changed", task="t-2", to="victor", kind="reassignment"),  # still escalated
            row("recommendation.recorded", task="t-2", step="approve", actor="agent", attempt=1, outcome="approve",
                rationale="fine", data_hash="h"),
            row("task.decided", task="t-2", outcome="approve", rationale="ok", data_hash="h"),
            row("run.held"), row("run.completed")]
    state = fold(rows)
    assert state == evolved(rows) and state is not None and len(state.tasks) == 2 and state.held
    assert state.tasks[1].escalated and state.tasks[1].assignee == "victor"


@pytest.mark.parametrize("rows", [
    [STARTED, READY, READY],  # a task id used twice: evolve keeps both tasks
    [STARTED, STARTED],  # a second start
    [STARTED, row("task.started", task="t-1", channel="fax")],  # a channel Event refuses
    [STARTED, READY, row("task.decided", task="t-1", outcome="approve"), row("task.started", task="t-1")],
    [STARTED, row("task.ready", task="t-1", step="prepare", type="task")],  # no assignee
    [STARTED, READY, row("escalation.pulled_in", task="t-1", to=["maria"])],
    [STARTED, READY, row("task.completed", task="t-1", attachments=[{"name": "a", "sha256": "0" * 64, "size": 1,
                                                                    "media_type": "text/plain"}])],
])
def test_events_outside_the_common_path_are_left_to_evolve(rows: list[dict[str, Any]]) -> None:
    with pytest.raises(Unfolded):
        fold(rows)
