"""`audit verify` finds any single tampered event, and the replayed state equals the stored one."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from sqlalchemy import delete, insert, select, text, update

from ledgerflow import audit
from ledgerflow.storage import schema
from ledgerflow.storage.store import Store
from tests.engine.helpers import GOOD_OUTPUT, act, decide, only_open, snapshot, start


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


def test_an_altered_event_is_found(store: Store) -> None:
    _two_runs(store)
    _raw(store, update(schema.events).where(schema.events.c.seq == 7).values(actor="mallory"))
    assert audit.verify(store)["first_bad"] == {"seq": 7, "run": _run_of(store, 7), "reason": "altered"}


def test_a_deleted_event_is_found(store: Store) -> None:
    _two_runs(store)
    _raw(store, delete(schema.events).where(schema.events.c.seq == 9))
    bad = audit.verify(store)["first_bad"]
    assert bad["seq"] == 10 and bad["reason"] == "removed"


def test_a_cut_tail_is_found(store: Store) -> None:
    _two_runs(store)
    with store.read() as tx:
        last = tx.chain_head().seq
    _raw(store, delete(schema.events).where(schema.events.c.seq == last))
    assert audit.verify(store)["first_bad"]["reason"] == "truncated"


def test_an_inserted_event_is_found(store: Store) -> None:
    _two_runs(store)
    with store.read() as tx:
        rows = tx.events()
    forged = dict(rows[4])
    # make room: shift every later event by one, then put a forged copy in the gap
    _raw(store, *[update(schema.events).where(schema.events.c.seq == r["seq"]).values(seq=r["seq"] + 1)
                  for r in reversed(rows[5:])])
    forged["seq"] = rows[4]["seq"] + 1
    forged["prev_hash"] = rows[4]["hash"]
    from ledgerflow.storage.store import event_hash
    forged["hash"] = event_hash({k: v for k, v in forged.items() if k != "hash"})
    _raw(store, insert(schema.events).values(**forged))
    bad = audit.verify(store)["first_bad"]
    assert bad is not None and bad["seq"] == forged["seq"] + 1


def test_two_swapped_events_are_found(store: Store) -> None:
    _two_runs(store)
    with store.read() as tx:
        a, b = tx.events()[5:7]
    body = ("at", "type", "actor", "channel", "run", "task", "step", "authority", "data", "prev_hash", "hash")
    _raw(store,
         update(schema.events).where(schema.events.c.seq == a["seq"]).values(**{k: b[k] for k in body}),
         update(schema.events).where(schema.events.c.seq == b["seq"]).values(**{k: a[k] for k in body}))
    bad = audit.verify(store)["first_bad"]
    assert bad is not None and bad["seq"] == a["seq"]


def test_state_changed_behind_the_log_is_a_state_mismatch(store: Store) -> None:
    _two_runs(store)
    _raw(store, update(schema.tasks).where(schema.tasks.c.step == "prepare").values(assignee="mallory"))
    assert audit.verify(store)["first_bad"]["reason"] == "state-mismatch"


def test_a_process_killed_inside_a_command_leaves_the_database_as_it_was(store: Store) -> None:
    run = start(store)
    prepare = only_open(store, run.id)
    before = snapshot(store)
    script = textwrap.dedent(f"""
        import os
        from ledgerflow import service
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
