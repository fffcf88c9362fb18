"""Hypothesis drives random command sequences; the log always replays to the stored state."""

from __future__ import annotations

import itertools
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from ledgerflow.domain.errors import LedgerflowError
from ledgerflow.engine import governance, service
from ledgerflow.storage.store import Store, Tx
from ledgerflow.trust import audit
from tests.conftest import ADMIN, DIRECTORY, PRICING, drop_schema, make_store

ACTORS = ["alice", "bob", "carol", "chen", "dave", "erin", "maria", "victor", "sam"]
OUTPUTS = [
    {"deal_sheet_url": "https://d/1", "justification": "Competitor offered 20%, three-year renewal"},
    {"deal_sheet_url": "https://d/2", "justification": "short"},
    {"quote_id": "Q-1"},
    {},
]


class Engine(RuleBasedStateMachine):
    backend = "sqlite"

    def __init__(self) -> None:
        super().__init__()
        # ids in creation order, so that a replayed example picks the same tasks (random ids would reorder
        # `task list`, and Hypothesis would see a different run each time it shrinks or replays)
        counter = itertools.count(1)
        self._ordered_ids = [patch.object(module, "new_id", lambda prefix: f"{prefix}-{next(counter):08d}")
                             for module in (service, governance)]
        for patcher in self._ordered_ids:
            patcher.start()
        self.store: Store = make_store(Path(tempfile.mkdtemp(prefix="lf-prop-")), backend=self.backend)
        service.load_directory_file(self.store, str(DIRECTORY), ADMIN)
        service.publish(self.store, str(PRICING), ADMIN)
        self.other = Store(self.store.url)  # a second process's handle: each keeps runs of its own
        self.last_seq = 0

    @rule(by=st.sampled_from(ACTORS), value=st.sampled_from([1000, 60000]), pct=st.sampled_from([5, 18, 45]))
    def start_run(self, by: str, value: int, pct: int) -> None:
        service.start_run(self.store, "pricing-exception", {"customer": "A", "deal_value": value,
                                                             "discount_pct": pct}, service.Caller(actor=by))

    @rule(pick=st.integers(0, 50), output=st.sampled_from(OUTPUTS), by_assignee=st.booleans(),
          outcome=st.sampled_from(["approve", "reject", "send_back"]), verb=st.sampled_from(
              ["complete", "decide", "start", "recommend", "reassign"]), other=st.sampled_from(ACTORS),
          elsewhere=st.booleans())
    def act(self, pick: int, output: dict[str, str], by_assignee: bool, outcome: str, verb: str, other: str,
            elsewhere: bool) -> None:
        with self.store.read() as tx:
            open_tasks = tx.tasks(status="open")
        if not open_tasks:
            return
        task = open_tasks[pick % len(open_tasks)]
        actor = task.assignee if by_assignee and task.assignee else other
        args: dict[str, Any] = {}
        if verb == "complete":
            args = {"output": output}
        elif verb == "decide":
            args = {"outcome": outcome, "rationale": "because", "to": None}
        elif verb == "recommend":
            args = {"outcome": outcome, "rationale": "because"}
        elif verb == "reassign":
            actor, args = ("sam" if by_assignee else "maria"), {"to": other, "reason": "load"}
        try:
            service.task_command(self.other if elsewhere else self.store, verb, task.id,
                                 service.Caller(actor=str(actor)), **args)
        except LedgerflowError as exc:
            assert exc.exit_code in (2, 3), exc

    @invariant()
    def log_replays_to_the_stored_state(self) -> None:
        with patch.object(Tx, "runs_by_id", side_effect=AssertionError("a run's rows differ from its row form")):
            result = audit.verify(self.store)  # every run the engine wrote is held by the row comparison alone
        assert result["ok"], result
        assert result["events"] >= self.last_seq  # the log only grows
        self.last_seq = result["events"]

    @invariant()
    def both_handles_read_every_run_as_its_rows(self) -> None:
        with self.store.read() as tx:
            ids = [row.id for row in tx.runs()]
            stored = tx.runs_by_id(ids)
        for handle in (self.store, self.other):
            with handle.read() as tx:
                assert all(tx.load_run(run_id) == stored[run_id] for run_id in ids)

    @invariant()
    def every_open_task_has_exactly_one_assignee(self) -> None:
        with self.store.read() as tx:
            for task in tx.tasks(status="open"):
                assert task.type == "action" or task.assignee is not None

    @invariant()
    def routing_counts_equal_each_assignees_open_tasks(self) -> None:
        with self.store.read() as tx:
            counted = Counter(t.assignee for t in tx.tasks(status="open") if t.assignee is not None)
            assert tx.workload() == dict(counted)

    def teardown(self) -> None:
        self.other.close()
        for patcher in self._ordered_ids:
            patcher.stop()
        self.store.close()
        drop_schema(self.store.url)


class EngineOnPostgres(Engine):
    backend = "postgresql"


Engine.TestCase.settings = settings(max_examples=15, stateful_step_count=25, deadline=None,
                                    suppress_health_check=[HealthCheck.too_slow])
EngineOnPostgres.TestCase.settings = settings(max_examples=6, stateful_step_count=25, deadline=None,
                                              suppress_health_check=[HealthCheck.too_slow])
# a few hundred commands each: on a busy 2-core machine with parallel workers they may take minutes, not hang
TestEngineReplay = pytest.mark.timeout(600)(Engine.TestCase)
TestEngineReplayOnPostgres = pytest.mark.timeout(600)(EngineOnPostgres.TestCase)
