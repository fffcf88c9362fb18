"""`audit verify`: recompute every hash chain, check it against its stored head, replay the state.

The log is one chain per run plus the `system` chain (see storage/store.py). Within a chain each event's
`prev_hash` is its predecessor's `hash` and `chain_seq` counts 1, 2, 3...; the head (length, hash) is
written in the same transaction as the events. So an event altered, inserted, removed, reordered or cut
from the end of any chain is found, unless an attacker also rewrites that chain's head (signed
checkpoints, which cover every head, close that gap). Verification streams the log chain by chain, so
its memory holds one chain and a batch of runs, not the whole history.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import multiprocessing
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from itertools import pairwise
from typing import Any

import rfc8785

from ledgerflow.domain import autonomy
from ledgerflow.domain.canonical import ZERO_HASH
from ledgerflow.domain.events import Event
from ledgerflow.domain.figures import Marks, decisions, ended_counts, run_flags, week_of
from ledgerflow.domain.governance import evolve_standalone
from ledgerflow.domain.replay import Unfolded, fold
from ledgerflow.domain.runs import RunState, TaskState, evolve
from ledgerflow.domain.states import RunStatus
from ledgerflow.domain.times import parse_time
from ledgerflow.storage.rows import compared
from ledgerflow.storage.schema import SYSTEM_CHAIN
from ledgerflow.storage.store import PERIOD_COUNTS, Store, Tx, event_hash

ATTACHING = ("run.started", "task.completed")
"""The events that attach documents (SPEC §14)."""
_EVENT_FIELDS = ("type", "at", "actor", "channel", "run", "task", "step", "authority", "data")
_BATCH = 500  # runs compared against their stored rows per round of queries


def _bad(seq: int | None, run: str | None, reason: str) -> dict[str, Any]:
    return {"seq": seq, "run": run, "reason": reason}


def _chain_run(chain: str) -> str | None:
    return None if chain == SYSTEM_CHAIN else chain


def chain_problem(chain: str, rows: list[dict[str, Any]], head: tuple[int, str] | None, *,
                  start: tuple[int, str] = (0, ZERO_HASH), hashes: Sequence[str | None] | None = None
                  ) -> dict[str, Any] | None:
    """The first problem in one chain's events (in `chain_seq` order), judged against its stored head.

    `start` is the (length, hash) the rows follow on from: the chain's beginning, or a trusted checkpoint's
    head when only what was appended after it is checked. Each problem is placed at the event it is in:
    events slipped in between two linked ones (at the first of them), an event rewritten and re-hashed (the
    next one still names its old hash), a gap where events were removed. `hashes`, when given, are the hashes
    of the rows' stored bodies (`Tx.scan_chains` and `Tx.chain_tail` give them); without them (an evidence
    pack's events) each event's fields are hashed anew.
    """
    base, prev = start
    position = {prev: -1} | {row["hash"]: index for index, row in enumerate(rows)}
    prev_seq: int | None = None  # any seq may start a chain: a forged first event is judged by its link
    short = head is not None and head[0] > base + len(rows)  # the head counts more events than there are
    if hashes is None:
        hashes = [_rehashed({k: v for k, v in row.items() if k != "hash"}) for row in rows]
    for row, rehashed in zip(rows, hashes, strict=True):  # first: a forged chain_seq moves an altered event away
        if rehashed != row["hash"] or row["chain"] != chain:  # from the gap it leaves
            return _bad(row["seq"], row["run"], "altered")
    for index, row in enumerate(rows):
        want = base + index + 1
        if row["prev_hash"] != prev:
            earlier = position.get(row["prev_hash"])
            if earlier is not None:
                # the events between it and the one it links to were slipped in, unless they are events moved
                # ahead of it (a reordering), which their seqs give away: each above this one's, yet below a
                # later event's (seqs are unique, so an equal one is a forgery too); the first that is not is
                # where the forgery starts
                later = max(r["seq"] for r in rows[index:])
                for between in rows[earlier + 1:index]:
                    if between["seq"] <= row["seq"] or between["seq"] >= later:
                        return _bad(between["seq"], between["run"], "inserted")
                return _bad(row["seq"], row["run"], "reordered")
            if row["chain_seq"] > want or short:  # a gap, or later events renumbered over it
                return _bad(row["seq"], row["run"], "removed")
            if index > 0:  # linked to a hash no event has: the one before it was rewritten and re-hashed
                return _bad(rows[index - 1]["seq"], rows[index - 1]["run"], "altered")
            return _bad(row["seq"], row["run"], "altered")
        if row["chain_seq"] != want:
            return _bad(row["seq"], row["run"], "removed" if row["chain_seq"] > want else "inserted")
        # seq rises along a chain: each append draws a larger one under the chain's lock
        if prev_seq is not None and row["seq"] <= prev_seq:
            return _bad(row["seq"], row["run"], "reordered")
        prev, prev_seq = row["hash"], row["seq"]
    if head is None:
        return _bad(rows[0]["seq"], rows[0]["run"], "inserted") if rows else None
    length, head_hash = head
    if length > base + len(rows) or length < base:  # more events counted than there are, or fewer than signed
        return _bad(None, _chain_run(chain), "truncated")
    if length < base + len(rows):
        extra = rows[length - base]
        return _bad(extra["seq"], extra["run"], "inserted")
    if head_hash != prev:  # with no rows (nothing past a checkpoint), the head itself was rewritten
        return _bad(rows[-1]["seq"], rows[-1]["run"], "altered") if rows else _bad(None, _chain_run(chain), "altered")
    return None


def _rehashed(body: dict[str, Any]) -> str | None:
    """The event's hash, or None when its stored body is not JSON any more (a NaN or a lone surrogate put
    into a row by hand): that is an altered event, not a crash of the verifier."""
    try:
        return event_hash(body)
    except (ValueError, TypeError, UnicodeError, rfc8785.CanonicalizationError):
        return None


def earliest(problems: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """The problem earliest in the global order (unknown seqs last)."""
    return min(problems, key=lambda p: (p["seq"] is None, p["seq"] or 0), default=None)


PARALLEL_FROM = 200_000
"""Logs at least this long are verified by one process per core, each taking ranges of chains."""
RANGES_PER_PROCESS = 8
"""A parallel verify cuts the chains into this many ranges per process, claimed one at a time, so that the
processes finish together within about one range."""


def verify(store: Store, *, processes: int | None = None) -> dict[str, Any]:
    """Returns `{ok, events, first_bad}`; first_bad names the seq, the run and the reason.

    Chains are independent, so a long log is cut into ranges of chains verified side by side, each in
    one snapshot (every chain is read whole with its head in one snapshot, which is all a chain's verdict
    needs); the runs with no chain and the running counts are checked in the first snapshot.
    """
    with store.read(snapshot=True) as tx:
        events = tx.event_total()
        wanted = processes if processes is not None else (os.cpu_count() or 1) if events >= PARALLEL_FROM else 1
        wanted = max(wanted, 1)
        bounds = tx.chain_bounds(wanted * RANGES_PER_PROCESS if wanted > 1 else 1)
        ranges = list(pairwise(bounds))
        if len(ranges) == 1:
            parts = [_verify_range(tx, *ranges[0])]
        else:
            parts = _side_by_side(store.url, tx, ranges, wanted - 1)
        orphans = [_bad(None, run, "state-mismatch") for run in tx.runs_without_chain()]
        if tx.workload() != tx.open_tasks_by_assignee():  # the open-task counts routing reads, against the tasks
            orphans.append(_bad(None, None, "state-mismatch"))
        stored_weeks, stored_marks = tx.all_period_counts(), tx.all_latency_marks()
    count = sum(part.events for part in parts)
    broken = [problem for part in parts for problem in part.broken]
    mismatched = [problem for part in parts for problem in part.mismatched] + orphans
    weeks: Counter[tuple[str, str, str]] = Counter()
    for part in parts:
        weeks.update(part.weeks)
    # the week counts risk triggers read, against what the replayed runs add up to; comparable when the parts
    # saw the log the counts were read with (the log only grows, and every change of state appends to it)
    if count == events and (stored_weeks != _week_table(weeks) or not _marks_agree(stored_marks, parts)):
        mismatched.append(_bad(None, None, "state-mismatch"))
    documents: dict[str, tuple[str, int]] = {}
    for part in parts:
        documents.update(part.documents)
    first_bad = earliest(broken) or earliest(mismatched) or earliest(damaged_documents(store, documents))
    return {"ok": first_bad is None, "events": count, "first_bad": first_bad}


def damaged_documents(store: Store, documents: dict[str, tuple[str, int]]) -> Iterator[dict[str, Any]]:
    """Every document a run refers to and retention has not removed must be kept and hash to its name
    (`attachment-missing`, `attachment-altered`); `documents` maps each hash to a run and the seq that attached it.
    """
    for sha256, (run, seq) in sorted(documents.items()):
        data = store.blobs.get(sha256)
        if data is None:
            yield {**_bad(seq, run, "attachment-missing"), "detail": sha256}
        elif hashlib.sha256(data).hexdigest() != sha256:
            yield {**_bad(seq, run, "attachment-altered"), "detail": sha256}


@dataclass(frozen=True, slots=True)
class Part:
    """What one range of chains gave: events read, chain problems, state mismatches, and the week counts
    its runs add up to, by (playbook, ISO week, count name)."""

    events: int
    broken: list[dict[str, Any]]
    mismatched: list[dict[str, Any]]
    weeks: Counter[tuple[str, str, str]]
    latencies: dict[tuple[str, str], list[float]]  # decision latencies in hours by (playbook, ISO week)
    documents: dict[str, tuple[str, int]]  # the documents its runs keep: hash -> (run, seq of the event attaching it)


def _marks_agree(stored: dict[tuple[str, str, float], Marks], parts: list[Part]) -> bool:
    """Latency marks that count every decision of their week (the ones risk triggers use) must be exactly the
    marks of those decisions; marks that count fewer (the trigger arrived mid-week) are never used."""
    latencies: dict[tuple[str, str], list[float]] = {}
    for part in parts:
        for key, values in part.latencies.items():
            latencies.setdefault(key, []).extend(values)
    for (playbook, week, threshold), marks in stored.items():
        values = latencies.get((playbook, week), [])
        if marks.decided == len(values) and marks != Marks.of(values, threshold):
            return False
    return True


def _week_table(weeks: Counter[tuple[str, str, str]]) -> dict[tuple[str, str], dict[str, int]]:
    table: dict[tuple[str, str], dict[str, int]] = {}
    for (playbook, week, name), n in weeks.items():
        if n:
            table.setdefault((playbook, week), dict.fromkeys(PERIOD_COUNTS, 0))[name] = n
    return table


Ranges = list[tuple[str | None, str | None]]
_ends: Any = None
"""In a spawned process of a parallel verify: the claims shared with the others (see `_claim`)."""


def _side_by_side(url: str, tx: Tx, ranges: Ranges, others: int) -> list[Part]:
    """`others` spawned processes claim ranges from the front while this one claims them from the back, in its
    own snapshot, until they meet; each range is verified once. A spawned process spends its first half second
    importing (a fresh interpreter: no inherited connections), and this one works meanwhile; ranges are claimed
    one at a time, so whichever process is free takes the next."""
    spawn = multiprocessing.get_context("spawn")
    ends = spawn.Array("q", [0, len(ranges)])
    parts: dict[int, Part] = {}
    with ProcessPoolExecutor(max_workers=others, mp_context=spawn, initializer=_share, initargs=(ends,)) as pool:
        futures = [pool.submit(_verify_claimed, url, ranges) for _ in range(others)]
        while (index := _claim(ends, back=True)) is not None:
            parts[index] = _verify_range(tx, *ranges[index])
        for future in futures:
            parts.update(future.result())
    return [parts[index] for index in range(len(ranges))]


def _share(ends: Any) -> None:
    global _ends
    _ends = ends


def _claim(ends: Any, *, back: bool) -> int | None:
    """The next unclaimed range from the back or the front of `ends` ([the next range from the front, one past
    the next from the back], shared by the processes); None when every range is claimed."""
    with ends.get_lock():
        front, end = ends[0], ends[1]
        if front >= end:
            return None
        if back:
            ends[1] = end - 1
            return int(end - 1)
        ends[0] = front + 1
        return int(front)


def _verify_claimed(url: str, ranges: Ranges) -> dict[int, Part]:
    """In a spawned process: the ranges it claims from the front, in one snapshot."""
    store = Store(url)
    found: dict[int, Part] = {}
    try:
        with store.read(snapshot=True) as tx:
            while (index := _claim(_ends, back=False)) is not None:
                found[index] = _verify_range(tx, *ranges[index])
        return found
    finally:
        store.close()


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """A verify allocates a few dicts and tuples per event, none in a reference cycle (reference counting frees
    them): the cyclic collector's passes over them cost about a tenth of a verify and find nothing. Paused for
    the scan and left as it was found (the collector is process-wide: another thread's cycles wait until the
    scan ends)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _verify_range(tx: Tx, low: str | None, high: str | None) -> Part:
    """Every chain with an id in [low, high)."""
    with _no_cycle_collection():
        return _scan_range(tx, low, high)


def _scan_range(tx: Tx, low: str | None, high: str | None) -> Part:
    heads = tx.chain_heads(low, high)
    broken: list[dict[str, Any]] = []
    mismatched: list[dict[str, Any]] = []
    pending: list[Replayed] = []
    weeks: Counter[tuple[str, str, str]] = Counter()
    latencies: dict[tuple[str, str], list[float]] = {}
    documents: dict[str, tuple[str, int]] = {}
    count = 0
    for chain, rows, hashes in tx.scan_chains(low, high):
        count += len(rows)
        problem = chain_problem(chain, rows, heads.pop(chain, None), hashes=hashes)
        if problem is not None:
            broken.append(problem)
        elif chain == SYSTEM_CHAIN:
            mismatched.extend(standalone_mismatch(rows, tx.standalone()))
            mismatched.extend(autonomy_mismatch(rows, tx.autonomy()))
        else:
            replayed = _replayed(chain, rows)
            _add_figures(replayed, rows, weeks, latencies)
            pending.append(replayed)
            documents.update(kept_documents(chain, rows))
            if len(pending) >= _BATCH:
                mismatched.extend(_compare_runs(tx, pending))
                pending = []
    mismatched.extend(_compare_runs(tx, pending))
    broken.extend(_bad(None, _chain_run(chain), "truncated") for chain in heads)
    return Part(count, broken, mismatched, weeks, latencies, documents)


def kept_documents(run: str, rows: list[dict[str, Any]]) -> dict[str, tuple[str, int]]:
    """The documents a run's events attach and retention has not removed: hash -> (run, seq attaching it)."""
    found: dict[str, tuple[str, int]] = {}
    for row in rows:
        if row["type"] == "attachment.removed":
            found.pop(row["data"]["sha256"], None)
        elif row["type"] in ATTACHING:
            for document in row["data"].get("attachments") or ():
                found.setdefault(document["sha256"], (run, row["seq"]))
    return found


@functools.cache
def _day_week(day: date) -> str:
    return week_of(datetime.combine(day, time(0), UTC)).name


def _week(at: str) -> str:
    """The ISO week of a time's UTC date (as `week_of`), kept per date: `week_of` builds a period, ten times the
    cost of parsing the time, for each of the several times a run's counts place in a week."""
    return _day_week(parse_time(at).date())


def _add_figures(replayed: Replayed, rows: list[dict[str, Any]], weeks: Counter[tuple[str, str, str]],
                 latencies: dict[tuple[str, str], list[float]]) -> None:
    """What one run adds to its playbook's week counts (`schema.period_counts`), from its events, and its decided
    decisions' latencies in hours by (playbook, week decided)."""
    _, state, flags, _ = replayed
    if state is None:
        return
    playbook = state.playbook
    if flags is not None and state.ended_at is not None:
        ended = _week(state.ended_at)
        counts = ended_counts(state.status == RunStatus.COMPLETED, flags)
        weeks.update((playbook, ended, name) for name, n in counts.items() if n)
    for row in rows:
        if row["type"] == "task.sent_back":
            weeks[playbook, _week(row["at"]), "rework"] += 1
    for decided_at, hours in decisions(state.tasks):
        week = _week(decided_at)
        weeks[playbook, week, "decided"] += 1
        latencies.setdefault((playbook, week), []).append(hours)


def _event(row: dict[str, Any]) -> Event:
    return Event(**{k: row[k] for k in _EVENT_FIELDS})


def replay_run(rows: Iterable[dict[str, Any]]) -> RunState | None:
    """Fold one run's events (its chain, in order) into its state."""
    state: RunState | None = None
    for row in rows:
        state = evolve(state, _event(row))
    return state


def _normal(run: RunState) -> tuple[Any, ...]:
    return (run.id, run.playbook, run.version, run.status, run.started_by, run.started_at, run.ended_at, run.input,
            run.why, {t.id: t for t in run.tasks}, set(run.recommendations), run.attachments, run.held)


Replayed = tuple[str, RunState | None, tuple[bool, bool, bool] | None, int]
"""A run rebuilt from its chain: (id, state, the scorecard flags its events give if it ended completed or
rejected, its last event's seq)."""


def _replayed(chain: str, rows: list[dict[str, Any]]) -> Replayed:
    try:
        state = fold(rows)
    except Unfolded:  # an event the in-place fold leaves to `evolve`, whose state (or error) stands
        state = replay_run(rows)
    flags = None  # stored when a run ends completed or rejected (the scorecard counts them)
    if state is not None and state.status in (RunStatus.COMPLETED, RunStatus.REJECTED):
        flags = run_flags((row["type"], row["authority"], row["data"]) for row in rows)
    return chain, state, flags, rows[-1]["seq"]


def _compare_runs(tx: Tx, rebuilt: list[Replayed]) -> Iterator[dict[str, Any]]:
    """Each replayed run against its stored rows: rows equal to its row form (`rows.compared`) hold it, and only
    the runs whose rows differ (tampered, or stored in another form) are built from their rows and judged
    as domain objects, whose comparison decides."""
    stored = tx.run_rows([run_id for run_id, _, _, _ in rebuilt])
    doubtful: list[tuple[str, RunState, tuple[bool, bool, bool] | None, int]] = []
    for run_id, mine, flags, last_seq in rebuilt:
        if mine is None:
            yield _bad(last_seq, run_id, "state-mismatch")
        elif stored.get(run_id) != compared(mine, flags):
            doubtful.append((run_id, mine, flags, last_seq))
    if not doubtful:
        return
    ids = [run_id for run_id, _, _, _ in doubtful]
    states, stored_flags = tx.runs_by_id(ids), tx.stored_flags(ids)
    for run_id, mine, flags, last_seq in doubtful:
        theirs = states.get(run_id)
        if theirs is None or _normal(mine) != _normal(theirs) or stored_flags.get(run_id) != (flags or (None,) * 3):
            yield _bad(last_seq, run_id, "state-mismatch")


def standalone_mismatch(rows: list[dict[str, Any]], stored: dict[str, TaskState]) -> Iterator[dict[str, Any]]:
    """Reviews and follow-ups (system chain events with a task) rebuilt from their events must equal their rows."""
    rebuilt: dict[str, TaskState] = {}
    last: dict[str, int] = {}
    for row in rows:
        if row["task"] is not None:
            evolve_standalone(rebuilt, _event(row))
            last[row["task"]] = row["seq"]
    for task_id in set(rebuilt) | set(stored):
        if rebuilt.get(task_id) != stored.get(task_id):
            yield _bad(last.get(task_id), None, "state-mismatch")


def autonomy_mismatch(rows: list[dict[str, Any]], stored: autonomy.Autonomy) -> Iterator[dict[str, Any]]:
    """The agents' autonomy (SPEC §11) rebuilt from its system chain events must equal its state rows."""
    rebuilt: dict[tuple[str, str, str], autonomy.AgentAutonomy] = {}
    last: dict[tuple[str, str, str], int] = {}
    for row in rows:
        if row["type"] == autonomy.EVENT:
            autonomy.evolve(rebuilt, _event(row))
            data = row["data"]
            last[(str(data["playbook"]), str(data["step"]), str(data["agent"]))] = row["seq"]
    kept = {(e.playbook, e.step, e.agent): e for e in stored.entries}
    for key in sorted(set(rebuilt) | set(kept)):
        if rebuilt.get(key) != kept.get(key):
            yield _bad(last.get(key), None, "state-mismatch")
