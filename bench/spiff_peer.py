"""Peer comparison: the pricing-exception process as BPMN, run by SpiffWorkflow, with durable state.

    python bench/spiff_peer.py --runs 300 [--mode reload|cached] [--seed 7]

The process (bench/pricing_exception.bpmn) has the playbook's steps and rules; the workload is the one
bench/engine.py drives through ledgerflow: all runs started first, then the open user tasks worked
round-robin with the same decision mix (80% approve, 10% reject, 10% send back once, same seed).

Durability is what a service needs before it can answer "done" to a person: the serialized workflow
(SpiffWorkflow's own `BpmnWorkflowSerializer` JSON, one row per workflow) is written to SQLite in WAL
mode with synchronous=FULL, in a `BEGIN IMMEDIATE` transaction and one commit per human step (and per
start). The row also keeps the open task's id and step, the minimum an inbox needs to find the work.

Modes:
- `reload` (the headline): every step loads the row and deserializes the workflow first, as a stateless
  service process does, and as ledgerflow does on every command (it reads the run's rows).
- `cached`: workflows stay in this process's memory between steps; each step only serializes and writes.
  A lower bound on SpiffWorkflow's cost that a single-process service could reach.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any
from uuid import UUID

from common import scratch_dir
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.parser import BpmnParser
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.util.task import TaskState

from engine import INPUT, OUTPUT, outcomes

BPMN = Path(__file__).resolve().parent / "pricing_exception.bpmn"
PROCESS = "pricing_exception"
SCHEMA = """
CREATE TABLE workflows (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    open_task TEXT,
    open_step TEXT,
    lane TEXT,
    state TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX ix_workflows_status ON workflows (status);
"""


class SpiffService:
    """A minimal durable BPMN service: one SQLite row per workflow, one commit per command."""

    def __init__(self, path: Path, *, cached: bool) -> None:
        parser = BpmnParser()
        parser.add_bpmn_file(str(BPMN))
        self.spec = parser.get_spec(PROCESS)
        self.subprocess_specs = parser.get_subprocess_specs(PROCESS)
        self.serializer = BpmnWorkflowSerializer()
        self.cached = cached
        self.memory: dict[str, BpmnWorkflow] = {}
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("PRAGMA busy_timeout=10000")
        self.db.executescript(SCHEMA)
        self.bytes_written = 0

    def _save(self, workflow_id: str, workflow: BpmnWorkflow, insert: bool) -> None:
        state = self.serializer.serialize_json(workflow)
        self.bytes_written += len(state)
        ready = workflow.get_tasks(state=TaskState.READY, manual=True)
        if workflow.is_completed():
            ended = workflow.get_tasks(state=TaskState.COMPLETED, spec_name="rejected")
            status, task_id, step, lane = ("rejected" if ended else "completed"), None, None, None
        else:
            task = ready[0]
            status, task_id, step, lane = "running", str(task.id), task.task_spec.name, task.task_spec.lane
        if insert:
            self.db.execute("INSERT INTO workflows (id, status, open_task, open_step, lane, state, updated_at) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?)", (workflow_id, status, task_id, step, lane, state,
                                                             time.time()))
        else:
            self.db.execute("UPDATE workflows SET status = ?, open_task = ?, open_step = ?, lane = ?, state = ?, "
                            "updated_at = ? WHERE id = ?", (status, task_id, step, lane, state, time.time(),
                                                            workflow_id))
        if self.cached:
            self.memory[workflow_id] = workflow

    def start(self, workflow_id: str, data: dict[str, Any]) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            workflow = BpmnWorkflow(self.spec, self.subprocess_specs)
            workflow.get_tasks(state=TaskState.READY)[0].data.update(data)
            workflow.do_engine_steps()
            self._save(workflow_id, workflow, insert=True)
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def complete(self, workflow_id: str, task_id: str, data: dict[str, Any]) -> None:
        """Complete one user task with its form data, run the engine to the next wait, persist, commit."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            if self.cached:
                workflow = self.memory[workflow_id]
            else:
                (state,) = self.db.execute("SELECT state FROM workflows WHERE id = ?", (workflow_id,)).fetchone()
                workflow = self.serializer.deserialize_json(state)
            task = workflow.get_task_from_id(UUID(task_id))
            if task.state != TaskState.READY or not task.task_spec.manual:
                raise RuntimeError(f"task {task_id} of {workflow_id} is not a ready user task")
            task.data.update(data)
            task.run()
            workflow.do_engine_steps()
            self._save(workflow_id, workflow, insert=False)
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def open_work(self) -> list[tuple[str, str, str]]:
        return list(self.db.execute("SELECT id, open_task, open_step FROM workflows WHERE status = 'running' "
                                    "ORDER BY rowid"))

    def statuses(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT status, count(*) FROM workflows GROUP BY status").fetchall())

    def close(self) -> None:
        self.db.close()


def run_spiff(runs: int, seed: int = 7, *, mode: str = "reload") -> dict[str, Any]:
    """One SpiffWorkflow measurement on a fresh SQLite file; the same workload as `engine.work`."""
    directory = scratch_dir("spiff-bench-")
    service = SpiffService(directory / "spiff.db", cached=mode == "cached")
    try:
        mix = outcomes(seed)
        sent_back: set[str] = set()
        outcome_counts = {"approve": 0, "reject": 0, "send_back": 0}
        started = time.perf_counter()
        for index in range(runs):
            service.start(f"w-{index:07d}", {"customer": f"c{index}", **INPUT})
        start_seconds = time.perf_counter() - started
        steps = 0
        while work := service.open_work():
            for workflow_id, task_id, step in work:
                if step == "approve":
                    outcome = next(mix)
                    if outcome == "send_back" and workflow_id in sent_back:
                        outcome = "approve"
                    if outcome == "send_back":
                        sent_back.add(workflow_id)
                    outcome_counts[outcome] += 1
                    service.complete(workflow_id, task_id, {"outcome": outcome, "rationale": "bench"})
                else:
                    service.complete(workflow_id, task_id, OUTPUT if step == "prepare" else {"quote_id": "Q"})
                steps += 1
        elapsed = time.perf_counter() - started
        commands = runs + steps
        return {
            "benchmark": "spiffworkflow", "mode": mode, "runs": runs, "human_steps": steps,
            "seconds": round(elapsed, 3), "runs_per_s": round(runs / elapsed, 1),
            "human_steps_per_s": round(steps / elapsed, 1), "commands_per_s": round(commands / elapsed, 1),
            "ms_per_start": round(1000 * start_seconds / runs, 3),
            "ms_per_human_step": round(1000 * (elapsed - start_seconds) / max(steps, 1), 3),
            "avg_state_bytes": round(service.bytes_written / commands),
            "outcomes": outcome_counts, "statuses": service.statuses(),
            "durability": "sqlite WAL synchronous=FULL, BEGIN IMMEDIATE, one commit per command",
        }
    finally:
        service.close()
        shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--mode", choices=["reload", "cached"], default="reload")
    args = parser.parse_args()
    print(json.dumps(run_spiff(args.runs, args.seed, mode=args.mode)))


if __name__ == "__main__":
    main()
