"""`audit verify` finds any single tampered event, and the replayed state equals the stored one."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, text, update

from ledgerflow.engine import governance
from ledgerflow.storage import schema
from ledgerflow.storage.event_body import event_row
from ledgerflow.storage.store import PERIOD_COUNTS, Store
from ledgerflow.trust import audit
from tests.engine.helpers import GOOD_OUTPUT, act, decide, finished_run, only_open, snapshot, start


def _two_runs(store: Store) -> None:
    for _ in range(2):
        run = start(store)
        decision = act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)["opened"][0]
        decide(store, decision, "approve")


def _raw(store: Store, *statements: object) -> None:
    with store.engine.begin() as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[call-overload]


def test_an_untouched_log_verifies(store: Store) -> None:
    _two_runs(store)
    result = audit.verify(store)
    assert result == {"ok": True, "events": result["events"], "first_bad": None} and result["events"] > 10


def test_hashes_given_for_another_number_of_events_are_refused_not_half_checked(store: Store) -> None:
    run = start(store)
    with store.read() as tx:
        chain = next(found for found in tx.scan_chains() if found[0] == run.id)
    _, rows, hashes = chain
    head = (len(rows), rows[-1]["hash"])
    assert audit.chain_problem(run.id, rows, head, hashes=hashes) is None
    for wrong in (hashes[:-1], [*hashes, hashes[-1]]):
        with pytest.raises(ValueError, match="zip"):
            audit.chain_problem(run.id, rows, head, hashes=wrong)


def test_an_altered_event_is_found(store: Store) -> None:
    _two_runs(store)
    _raw(store, update(schema.events).where(schema.events.c.seq == 7).values(actor="mallory"))
    assert audit.verify(store)["first_bad"] == {"seq": 7, "run": _run_of(store, 7), "reason": "altered"}


def _chain_of(store: Store, seq: int) -> list[dict[str, Any]]:
    """The chain holding event `seq`, in chain order."""
    with store.read() as tx:
        rows = tx.events()
    chain = next(r["chain"] for r in rows if r["seq"] == seq)
    return sorted((r for r in rows if r["chain"] == chain), key=lambda r: int(r["chain_seq"]))


def _rehash(row: dict[str, object]) -> dict[str, object]:
    from ledgerflow.storage.store import event_hash
    return {**row, "hash": event_hash({k: v for k, v in row.items() if k != "hash"})}


def test_a_deleted_event_is_found(store: Store) -> None:
    _two_runs(store)
    chain = _chain_of(store, 9)
    gone = next(i for i, r in enumerate(chain) if r["seq"] == 9)
    _raw(store, delete(schema.events).where(schema.events.c.seq == 9))
    assert audit.verify(store)["first_bad"] == {"seq": chain[gone + 1]["seq"], "run": chain[0]["run"],
                                                "reason": "removed"}


def test_a_deleted_event_is_found_when_the_rest_of_its_chain_is_renumbered(store: Store) -> None:
    _two_runs(store)
    chain = _chain_of(store, 9)
    gone = next(i for i, r in enumerate(chain) if r["seq"] == 9)
    later = chain[gone + 1:]
    _raw(store, delete(schema.events).where(schema.events.c.seq == 9),
         *[update(schema.events).where(schema.events.c.seq == r["seq"]).values(**event_row(_rehash({
             **r, "chain_seq": int(r["chain_seq"]) - 1}))) for r in later])
    assert audit.verify(store)["first_bad"] == {"seq": later[0]["seq"], "run": chain[0]["run"], "reason": "removed"}


def test_a_cut_tail_is_found(store: Store) -> None:
    _two_runs(store)
    with store.read() as tx:
        last = tx.last_seq()
    chain = _chain_of(store, last)
    _raw(store, delete(schema.events).where(schema.events.c.seq == last))
    assert audit.verify(store)["first_bad"] == {"seq": None, "run": chain[0]["run"], "reason": "truncated"}


def test_a_whole_run_removed_with_its_head_is_a_state_mismatch(store: Store) -> None:
    _two_runs(store)
    victim = _chain_of(store, 7)[0]["run"]
    _raw(store, delete(schema.events).where(schema.events.c.chain == victim),
         delete(schema.chains).where(schema.chains.c.id == victim))
    assert audit.verify(store)["first_bad"] == {"seq": None, "run": victim, "reason": "state-mismatch"}


def test_an_inserted_event_is_found(store: Store) -> None:
    _two_runs(store)
    chain = _chain_of(store, 7)
    at = next(i for i, r in enumerate(chain) if r["seq"] == 7)
    later = chain[at + 1:]
    with store.read() as tx:
        spare = tx.last_seq() + 1
    # make room: move the chain's later events one position on and to fresh seqs, re-hashed so each is well
    # formed on its own, then put a forged, well-hashed event in the gap
    moved = [_rehash({**r, "seq": spare + 1 + i, "chain_seq": int(r["chain_seq"]) + 1}) for i, r in enumerate(later)]
    _raw(store, *[update(schema.events).where(schema.events.c.seq == r["seq"]).values(**event_row(m))
                  for r, m in reversed(list(zip(later, moved, strict=True)))])
    forged = _rehash({**chain[at], "seq": spare, "chain_seq": int(chain[at]["chain_seq"]) + 1,
                      "prev_hash": chain[at]["hash"], "actor": "mallory"})
    _raw(store, insert(schema.events).values(**event_row(forged)))
    # found at the forgery itself, not at the genuine event after it
    assert audit.verify(store)["first_bad"] == {"seq": spare, "run": chain[0]["run"], "reason": "inserted"}


def test_two_swapped_events_are_found(store: Store) -> None:
    _two_runs(store)
    chain = _chain_of(store, 7)
    a, b = chain[2], chain[3]
    body = ("at", "type", "actor", "channel", "run", "task", "step", "authority", "data", "prev_hash", "hash")
    _raw(store,
         update(schema.events).where(schema.events.c.seq == a["seq"]).values(**event_row(a | {k: b[k] for k in body})),
         update(schema.events).where(schema.events.c.seq == b["seq"]).values(**event_row(b | {k: a[k] for k in body})))
    bad = audit.verify(store)["first_bad"]
    assert bad is not None and bad["seq"] == a["seq"]


def test_two_events_moved_whole_into_each_others_places_are_reordered(store: Store) -> None:
    _two_runs(store)
    chain = _chain_of(store, 7)
    a, b = chain[2], chain[3]
    # the attacker swaps the positions and re-hashes both, so each event is well formed on its own
    _raw(store, update(schema.events).where(schema.events.c.seq == a["seq"]).values(chain_seq=-1),
         update(schema.events).where(schema.events.c.seq == b["seq"]).values(
             **event_row(_rehash({**b, "chain_seq": a["chain_seq"], "prev_hash": chain[1]["hash"]}))),
         update(schema.events).where(schema.events.c.seq == a["seq"]).values(
             **event_row(_rehash({**a, "chain_seq": b["chain_seq"]}))))
    assert audit.verify(store)["first_bad"] == {"seq": a["seq"], "run": chain[0]["run"], "reason": "reordered"}


def test_state_changed_behind_the_log_is_a_state_mismatch(store: Store) -> None:
    _two_runs(store)
    _raw(store, update(schema.tasks).where(schema.tasks.c.step == "prepare").values(assignee="mallory"))
    assert audit.verify(store)["first_bad"]["reason"] == "state-mismatch"


def test_a_scorecard_flag_changed_behind_the_log_names_its_run(store: Store) -> None:
    _two_runs(store)
    run = start(store)
    decide(store, act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)["opened"][0], "reject")
    with store.read() as tx:
        assert tx.stored_flags([run.id]) == {run.id: (True, False, False)}  # a rejection is an exception
        last_seq = tx.events(run=run.id)[-1]["seq"]
    _raw(store, update(schema.runs).where(schema.runs.c.id == run.id).values(exception=False))  # flatters the rate
    assert audit.verify(store)["first_bad"] == {"seq": last_seq, "run": run.id, "reason": "state-mismatch"}


def test_open_task_counts_changed_behind_the_tasks_are_a_state_mismatch(store: Store) -> None:
    start(store)
    _raw(store, update(schema.workload).values(open=schema.workload.c.open + 1))  # skews least-loaded routing
    assert audit.verify(store)["first_bad"] == {"seq": None, "run": None, "reason": "state-mismatch"}


def test_week_counts_changed_behind_the_runs_are_a_state_mismatch(store: Store) -> None:
    _two_runs(store)
    _raw(store, update(schema.period_counts).values(exceptions=schema.period_counts.c.exceptions + 1))  # a trigger
    for processes in (1, 2):  # one snapshot, or chains split across processes
        bad = audit.verify(store, processes=processes)["first_bad"]
        assert bad == {"seq": None, "run": None, "reason": "state-mismatch"}


def test_latency_marks_changed_behind_the_decisions_are_a_state_mismatch(store: Store) -> None:
    _two_runs(store)
    assert audit.verify(store)["ok"]
    _raw(store, update(schema.latency_marks).values(above=1, below=0))  # as if a decision took days
    assert audit.verify(store)["first_bad"] == {"seq": None, "run": None, "reason": "state-mismatch"}


def test_a_process_killed_inside_a_command_leaves_the_database_as_it_was(store: Store) -> None:
    run = start(store)
    prepare = only_open(store, run.id)
    before = snapshot(store)
    script = textwrap.dedent(f"""
        import os
        from ledgerflow.engine import service
        from ledgerflow.storage.store import Store, Tx
        original = Tx.append
        def append_then_die(self, events):
            original(self, events)
            os._exit(9)  # killed after writing state and events, before the commit
        Tx.append = append_then_die
        service.task_command(Store({store.url!r}), "complete", {prepare.id!r},
                             service.Caller(actor={prepare.assignee!r}), output={GOOD_OUTPUT!r})
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 9, done.stderr
    assert snapshot(store) == before
    assert audit.verify(store)["ok"]
    if store.engine.dialect.name == "sqlite":
        with store.engine.connect() as conn:
            assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"


def _run_of(store: Store, seq: int) -> str | None:
    with store.engine.connect() as conn:
        return conn.execute(select(schema.events.c.run).where(schema.events.c.seq == seq)).scalar()


@pytest.mark.parametrize("seq", [1, 2, 3])
def test_tampering_with_any_early_event_is_found(store: Store, seq: int) -> None:
    _two_runs(store)
    _raw(store, update(schema.events).where(schema.events.c.seq == seq).values(at="2020-01-01T00:00:00.000000Z"))
    assert audit.verify(store)["first_bad"]["seq"] == seq


def test_verifying_in_parallel_reaches_the_same_verdict(store: Store) -> None:
    _two_runs(store)
    start(store)
    serial, parallel = audit.verify(store, processes=1), audit.verify(store, processes=2)
    assert serial == parallel and serial["ok"]
    victim = _chain_of(store, 7)
    _raw(store, delete(schema.events).where(schema.events.c.seq == victim[-1]["seq"]))
    serial, parallel = audit.verify(store, processes=1), audit.verify(store, processes=2)
    assert serial == parallel == {"ok": False, "events": serial["events"],
                                  "first_bad": {"seq": None, "run": victim[0]["run"], "reason": "truncated"}}


def test_verifying_in_three_processes_counts_every_event_once(store: Store) -> None:
    _two_runs(store)
    for _ in range(3):
        start(store)
    serial, three = audit.verify(store, processes=1), audit.verify(store, processes=3)
    assert serial == three and serial["ok"]


def _claims_after_the_other_process(monkeypatch: pytest.MonkeyPatch, ranges: int) -> list[int | None]:
    """This process's claims in the next parallel verify, the first made once another process has claimed a range
    (a spawned process imports first: without the wait, this one could claim every range of a small log)."""
    here: list[int | None] = []
    claim = audit._claim

    def recorded(ends: Any, *, back: bool) -> int | None:
        if not here:
            deadline = time.monotonic() + 60
            while ends[0] == 0 and ends[1] == ranges and time.monotonic() < deadline:
                time.sleep(0.01)
        here.append(claim(ends, back=back))
        return here[-1]

    monkeypatch.setattr(audit, "_claim", recorded)  # this process only: a spawned one imports anew
    return here


def test_a_parallel_verify_shares_the_ranges_out_and_verifies_each_once(store: Store,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The verifying process claims ranges from the back while the spawned one (which imports first) claims them
    from the front, one at a time: this process's are the last ones in turn, the first is the other's, and the
    parts add up to every event once."""
    ranges = 2 * audit.RANGES_PER_PROCESS
    for _ in range(ranges):
        start(store)
    serial = audit.verify(store, processes=1)
    here = _claims_after_the_other_process(monkeypatch, ranges)
    assert audit.verify(store, processes=2) == serial and serial["ok"]
    mine = here[:-1]  # the last claim found none left
    assert here[-1] is None and mine == list(range(ranges - 1, ranges - 1 - len(mine), -1)) and 0 not in mine


def test_a_log_grown_while_a_parallel_verify_reads_it_is_no_state_mismatch(store: Store,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The spawned process reads in a snapshot of its own, taken after this one's: a run decided and ended in
    between is in its parts but not in the week counts and latency marks this process read. The counts are then
    not comparable, and the verdict counts the events the parts read."""
    ranges = 2 * audit.RANGES_PER_PROCESS
    runs = [start(store) for _ in range(ranges)]
    with store.read() as tx:
        bounds = tx.chain_bounds(ranges)
    first = next(run for run in runs if run.id < str(bounds[1]))  # in the first range, the spawned process's first
    before = audit.verify(store, processes=1)
    side_by_side = audit._side_by_side

    def grown_first(url: str, tx: Any, parts: audit.Ranges, others: int) -> list[audit.Part]:
        decision = act(store, "complete", only_open(store, first.id), output=GOOD_OUTPUT)["opened"][0]
        decide(store, decision, "approve")  # ends the run: its week's counts and marks change
        return side_by_side(url, tx, parts, others)

    monkeypatch.setattr(audit, "_side_by_side", grown_first)
    here = _claims_after_the_other_process(monkeypatch, ranges)
    grown = audit.verify(store, processes=2)
    assert 0 not in here  # the run grown in between was read by the spawned process
    assert grown == {"ok": True, "events": grown["events"], "first_bad": None} and grown["events"] > before["events"]
    monkeypatch.undo()
    assert audit.verify(store, processes=1) == grown


def test_ranges_are_claimed_from_both_ends_each_once_until_the_ends_meet() -> None:
    """The claims of a parallel verify, alone: no database, only the shared pair of ends (which process holds
    which end is tested above)."""
    ends = multiprocessing.get_context("spawn").Array("q", [0, 4])
    claims = [audit._claim(ends, back=back) for back in (True, False, True, False, True, False)]
    assert claims == [3, 0, 2, 1, None, None] and ends[:] == [2, 2]


def test_fewer_chains_than_ranges_cut_one_range_per_chain(store: Store) -> None:
    for _ in range(2):
        start(store)
    with store.read() as tx:
        assert len(tx.chain_bounds(8)) - 1 == 3  # two runs' chains and the system chain
        assert tx.chain_bounds(1) == [None, None]


def test_runs_compared_in_batches_are_each_compared(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A long log compares its replayed runs with their rows 500 at a time; with batches of 2, five runs make
    three, and a run changed behind the log is found in the first as in the last."""
    runs = sorted((start(store) for _ in range(5)), key=lambda run: run.id)
    monkeypatch.setattr(audit, "_BATCH", 2)
    assert audit.verify(store)["ok"]
    for run in (runs[0], runs[-1]):  # in the first batch compared (chains in id order), then in the last
        with store.read() as tx:
            last_seq = tx.events(run=run.id)[-1]["seq"]
        _raw(store, update(schema.runs).where(schema.runs.c.id == run.id).values(why="changed behind the log"))
        assert audit.verify(store)["first_bad"] == {"seq": last_seq, "run": run.id, "reason": "state-mismatch"}
        _raw(store, update(schema.runs).where(schema.runs.c.id == run.id).values(why=None))


def test_a_cut_tail_of_the_system_chain_is_found_naming_no_run(store: Store) -> None:
    with store.read() as tx:
        last = max(e["seq"] for e in tx.events() if e["chain"] == schema.SYSTEM_CHAIN)
    _raw(store, delete(schema.events).where(schema.events.c.seq == last))  # the playbook's publication
    assert audit.verify(store)["first_bad"] == {"seq": None, "run": None, "reason": "truncated"}


def test_a_chain_emptied_under_its_head_is_truncated_naming_its_run(store: Store) -> None:
    _two_runs(store)
    victim = _chain_of(store, 7)[0]["run"]
    _raw(store, delete(schema.events).where(schema.events.c.chain == victim))
    assert audit.verify(store)["first_bad"] == {"seq": None, "run": victim, "reason": "truncated"}


def test_the_system_chain_emptied_under_its_head_is_truncated_naming_no_run(store: Store) -> None:
    _raw(store, delete(schema.events).where(schema.events.c.chain == schema.SYSTEM_CHAIN))
    assert audit.verify(store)["first_bad"] == {"seq": None, "run": None, "reason": "truncated"}


def test_a_follow_up_changed_behind_the_log_is_a_state_mismatch_at_its_last_event(store: Store) -> None:
    decided = governance.decide(store, "pricing-exception", actor="sam", channel="cli", decision="continue",
                                rationale="figures say so", follow_ups=[("Retrain account execs", "bob", "1w")])
    follow_up = decided["follow_ups"][0]
    assert audit.verify(store)["ok"]  # rebuilt from the system chain, it equals its row
    with store.read() as tx:
        opened = max(e["seq"] for e in tx.events() if e["task"] == follow_up)
    _raw(store, update(schema.tasks).where(schema.tasks.c.id == follow_up).values(assignee="mallory"))
    assert audit.verify(store)["first_bad"] == {"seq": opened, "run": None, "reason": "state-mismatch"}


def test_latency_marks_for_a_week_with_no_decision_must_place_none(store: Store) -> None:
    _two_runs(store)
    # a row for a week the log holds no decision in: counting all of them (none), it must place none
    _raw(store, insert(schema.latency_marks).values(playbook="pricing-exception", period="2020-W01", threshold=24.0,
                                                    decided=0, below=0, above=1, max_below=None, min_above=30.0))
    assert audit.verify(store)["first_bad"] == {"seq": None, "run": None, "reason": "state-mismatch"}


def test_a_follow_up_slipped_into_the_tasks_without_an_event_is_a_state_mismatch(store: Store) -> None:
    decided = governance.decide(store, "pricing-exception", actor="sam", channel="cli", decision="continue",
                                rationale="figures say so", follow_ups=[("Retrain account execs", "bob", "1w")])
    tasks = schema.tasks
    with store.engine.connect() as conn:
        row = conn.execute(select(tasks).where(tasks.c.id == decided["follow_ups"][0])).mappings().one()
    # a follow-up no event opened, done already (so that no open-task count gives it away)
    _raw(store, insert(tasks).values(**{**row, "id": "t-forged", "status": "completed", "ended_at": row["ready_at"]}))
    assert audit.verify(store)["first_bad"] == {"seq": None, "run": None, "reason": "state-mismatch"}


@pytest.mark.parametrize("count", PERIOD_COUNTS)
def test_each_week_count_of_ended_reworked_and_decided_runs_is_checked_against_the_log(store: Store,
                                                                                       count: str) -> None:
    finished_run(store)  # completed, clean (two of them: a rejection counted as clean would not make up both)
    finished_run(store)
    rejected = start(store)
    decide(store, act(store, "complete", only_open(store, rejected.id), output=GOOD_OUTPUT)["opened"][0], "reject")
    reworked = start(store)
    for _ in range(2):  # sent back twice in the week: each send-back counts
        decision = act(store, "complete", only_open(store, reworked.id), output=GOOD_OUTPUT)["opened"][0]
        decide(store, decision, "send_back")
    act(store, "complete", only_open(store, reworked.id), output=GOOD_OUTPUT)
    with store.read() as tx:
        assert tx.period_counts("pricing-exception", "2026-W10") == {
            "ended": 3, "exceptions": 1, "clean": 2, "rework": 2, "decided": 5}
    assert audit.verify(store)["ok"]
    counts = schema.period_counts
    _raw(store, update(counts).values({count: counts.c[count] + 1}))
    assert audit.verify(store)["first_bad"] == {"seq": None, "run": None, "reason": "state-mismatch"}


def test_a_chain_rewritten_whole_without_its_start_is_a_state_mismatch_not_a_crash(store: Store) -> None:
    _two_runs(store)
    chain = _chain_of(store, 7)
    run, rest = chain[0]["run"], chain[1:]
    rewritten: list[dict[str, object]] = []
    for position, row in enumerate(rest, start=1):  # re-linked and re-hashed from the chain's start, head and all
        prev = rewritten[-1]["hash"] if rewritten else "0" * 64
        rewritten.append(_rehash({**row, "chain_seq": position, "prev_hash": prev}))
    _raw(store, delete(schema.events).where(schema.events.c.chain == run),
         *[insert(schema.events).values(**event_row(row)) for row in rewritten],
         update(schema.chains).where(schema.chains.c.id == run).values(length=len(rewritten),
                                                                          hash=rewritten[-1]["hash"]))
    assert audit.verify(store)["first_bad"] == {"seq": rest[-1]["seq"], "run": run, "reason": "state-mismatch"}


def test_a_chain_without_events_replays_to_no_run() -> None:
    # what the replay compares a run row with when its chain holds none of its events: no run, not a default
    assert audit.replay_run([]) is None


@pytest.mark.parametrize("enabled", [True, False])
def test_verify_leaves_the_cycle_collector_as_it_found_it(store: Store, enabled: bool) -> None:
    import gc

    start(store)
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        assert audit.verify(store, processes=1)["ok"]
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


BIG_FLOATS = [3.705303927878146e16, 2.0**60, -1.2345678901234567e18, 1e16, 9007199254740994.0, 1e300]
"""Floats RFC 8785 writes as integer literals (below 1e21) or with an exponent: each reads back as the double
that was hashed, not as the integer its digits spell."""


def test_floats_written_as_integer_literals_read_back_as_the_floats_hashed(store: Store) -> None:
    run = start(store, notes=BIG_FLOATS, limit=2**53 - 1)
    decide(store, act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)["opened"][0], "approve")
    with store.read() as tx:
        started = tx.events(run=run.id)[0]
        _, rows, hashes = next(found for found in tx.scan_chains() if found[0] == run.id)
    for read in (started, rows[0]):
        notes = read["data"]["input"]["notes"]
        assert notes == BIG_FLOATS and all(type(n) is float for n in notes)
        assert read["data"]["input"]["limit"] == 2**53 - 1 and type(read["data"]["input"]["limit"]) is int
    assert hashes == [row["hash"] for row in rows] and audit.verify(store)["ok"]


@pytest.mark.parametrize("table", ["tasks", "recommendations"])
def test_a_closed_row_slipped_in_under_a_run_that_never_ran_is_a_state_mismatch(store: Store, table: str) -> None:
    """No replayed run is compared with it, and no open-task count gives a closed one away: the run id it names,
    which has no events, does."""
    run = start(store)
    decision = act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)["opened"][0]
    act(store, "recommend", decision, actor="carol", outcome="approve", rationale="fine")
    decide(store, decision, "approve")
    source = getattr(schema, table)
    with store.engine.connect() as conn:
        row = conn.execute(select(source).where(source.c.run == run.id).limit(1)).mappings().one()
    assert audit.verify(store)["ok"]
    forged = {**row, "run": "r-ghost"} | ({"id": "t-ghost", "status": "completed"} if table == "tasks" else
                                          {"task": "t-ghost"})
    _raw(store, insert(source).values(**forged))
    assert audit.verify(store)["first_bad"] == {"seq": None, "run": "r-ghost", "reason": "state-mismatch"}
