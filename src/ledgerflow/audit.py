"""`audit verify`: recompute the hash chain, check it against the stored head, replay the state.

The chain is global: each event's `prev_hash` is its predecessor's `hash`, and the head (last seq and hash)
is written in the same transaction as the events. So an event altered, inserted, removed, reordered or cut
from the end is found, unless an attacker also rewrites the head (signed checkpoints close that gap).
"""

from __future__ import annotations

from typing import Any

from ledgerflow.domain.canonical import ZERO_HASH
from ledgerflow.domain.events import Event
from ledgerflow.domain.governance import evolve_standalone
from ledgerflow.domain.runs import RunState, TaskState, evolve
from ledgerflow.storage.store import Store, event_hash

_EVENT_FIELDS = ("type", "at", "actor", "channel", "run", "task", "step", "authority", "data")


def _bad(seq: int, run: str | None, reason: str) -> dict[str, Any]:
    return {"seq": seq, "run": run, "reason": reason}


def verify(store: Store) -> dict[str, Any]:
    """Returns `{ok, events, first_bad}`; first_bad names the seq, the run and the reason."""
    with store.read() as tx:
        rows = tx.events()
        head = tx.chain_head()
        stored_runs = tx.all_runs()
        stored_standalone = tx.standalone()
    hashes = {row["hash"]: index for index, row in enumerate(rows)}
    prev_hash, prev_seq = ZERO_HASH, 0
    for index, row in enumerate(rows):
        body = {k: v for k, v in row.items() if k != "hash"}
        if event_hash(body) != row["hash"]:
            return _result(False, rows, _bad(row["seq"], row["run"], "altered"))
        if row["seq"] != prev_seq + 1:
            return _result(False, rows, _bad(row["seq"], row["run"], "removed"))
        if row["prev_hash"] != prev_hash:
            reason = "reordered" if row["prev_hash"] in hashes and hashes[row["prev_hash"]] != index - 1 else (
                "removed" if index > 0 and row["prev_hash"] not in hashes else "inserted")
            return _result(False, rows, _bad(row["seq"], row["run"], reason))
        prev_hash, prev_seq = row["hash"], row["seq"]
    if head.seq > prev_seq:
        return _result(False, rows, _bad(prev_seq + 1, None, "truncated"))
    if head.seq < prev_seq:
        return _result(False, rows, _bad(head.seq + 1, rows[head.seq]["run"] if head.seq < len(rows) else None,
                                         "inserted"))
    if head.hash != prev_hash:
        return _result(False, rows, _bad(prev_seq, rows[-1]["run"] if rows else None, "altered"))
    mismatch = replay_mismatch(rows, stored_runs) or standalone_mismatch(rows, stored_standalone)
    return _result(mismatch is None, rows, mismatch)


def replay(rows: list[dict[str, Any]]) -> tuple[dict[str, RunState], dict[str, int]]:
    """Fold every run's events into its state; also the last seq seen per run."""
    runs: dict[str, RunState] = {}
    last: dict[str, int] = {}
    for row in rows:
        if row["run"] is None:
            continue
        event = Event(**{k: row[k] for k in _EVENT_FIELDS})
        state = evolve(runs.get(row["run"]), event)
        if state is not None:
            runs[row["run"]] = state
        last[row["run"]] = row["seq"]
    return runs, last


def _normal(run: RunState) -> tuple[Any, ...]:
    return (run.id, run.playbook, run.version, run.status, run.started_by, run.started_at, run.ended_at, run.input,
            run.why, {t.id: t for t in run.tasks}, set(run.recommendations))


def replay_mismatch(rows: list[dict[str, Any]], stored: dict[str, RunState]) -> dict[str, Any] | None:
    rebuilt, last = replay(rows)
    for run_id in sorted(set(rebuilt) | set(stored), key=lambda r: last.get(r, 0)):
        mine, theirs = rebuilt.get(run_id), stored.get(run_id)
        if mine is None or theirs is None or _normal(mine) != _normal(theirs):
            return _bad(last.get(run_id, 0), run_id, "state-mismatch")
    return None


def standalone_mismatch(rows: list[dict[str, Any]], stored: dict[str, TaskState]) -> dict[str, Any] | None:
    """Reviews and follow-ups rebuilt from their events must equal their rows."""
    rebuilt: dict[str, TaskState] = {}
    last: dict[str, int] = {}
    for row in rows:
        if row["run"] is None and row["task"] is not None:
            evolve_standalone(rebuilt, Event(**{k: row[k] for k in _EVENT_FIELDS}))
            last[row["task"]] = row["seq"]
    for task_id in sorted(set(rebuilt) | set(stored), key=lambda t: last.get(t, 0)):
        if rebuilt.get(task_id) != stored.get(task_id):
            return _bad(last.get(task_id, 0), None, "state-mismatch")
    return None


def _result(ok: bool, rows: list[dict[str, Any]], first_bad: dict[str, Any] | None) -> dict[str, Any]:
    return {"ok": ok, "events": len(rows), "first_bad": first_bad}
