"""The tamper matrix: one attack per test, each detected with its reason and location (SPEC §8, §9).

Trust assumption of each group (docs/audit.md): the database alone catches what an attacker does to events
without also rewriting the stored heads; a checkpoint signed by a key the verifier names catches rewrites,
truncation and rollback before it; nothing catches a forgery appended after the newest checkpoint and
covered by the next one (the checkpoint interval bounds it).
"""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, text, update

from ledgerflow.cli.main import main
from ledgerflow.domain import merkle, notes
from ledgerflow.domain.events import Event
from ledgerflow.domain.times import format_time
from ledgerflow.engine import service
from ledgerflow.storage import schema
from ledgerflow.storage.event_body import event_row
from ledgerflow.storage.schema import SYSTEM_CHAIN
from ledgerflow.storage.store import Store, event_hash
from ledgerflow.trust import audit, checkpoints, evidence
from ledgerflow.trust.checkpoints import Checkpoint, Trust
from tests.conftest import ADMIN, DIRECTORY, PRICING, make_store
from tests.engine.helpers import (
    GOOD_OUTPUT,
    act,
    body_by_hand,
    copy_tables,
    decide,
    finished_run,
    only_open,
    restore_tables,
    start,
)

KEY, PUBLIC = evidence.new_key()
FOREIGN, FOREIGN_PUBLIC = evidence.new_key()
TRUST = Trust(notes.anchors([PUBLIC], "test"))


@pytest.fixture
def ledger(store: Store) -> tuple[Store, str]:
    """A finished run, then another run whose events come after it in the log."""
    run_id = finished_run(store)
    start(store, customer="Globex")
    return store, run_id


def _rows(store: Store, chain: str) -> list[dict[str, Any]]:
    with store.read() as tx:
        return tx.chain_tail(chain, 0)[0]


def _body(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "hash"}


def _rehashed(row: dict[str, Any], **change: Any) -> dict[str, Any]:
    """The row changed and re-hashed, so that it is well formed on its own (a careful attacker)."""
    new = dict(row, **change)
    new["hash"] = event_hash(_body(new))
    return new


def _write(store: Store, *rows: dict[str, Any]) -> None:
    with store.engine.begin() as conn:
        for row in rows:
            conn.execute(update(schema.events).where(schema.events.c.seq == row["seq"]).values(**event_row(row)))


def _head(store: Store, chain: str, length: int, hash_: str) -> None:
    with store.engine.begin() as conn:
        conn.execute(update(schema.chains).where(schema.chains.c.id == chain).values(length=length, hash=hash_))


def _append_forged(store: Store, chain: list[dict[str, Any]], *changes: dict[str, Any]) -> list[dict[str, Any]]:
    """Events like the chain's last, each with its `changes`, linked on after it under the next free seqs and
    written by hand: no head is moved."""
    made, prev = [], chain[-1]["hash"]
    with store.engine.begin() as conn:
        last = conn.execute(select(schema.events.c.seq).order_by(schema.events.c.seq.desc()).limit(1)).scalar_one()
        for i, change in enumerate(changes, 1):
            forged = dict(chain[-1], seq=last + i, chain_seq=len(chain) + i, prev_hash=prev) | change
            forged["hash"] = prev = event_hash(_body(forged))
            conn.execute(insert(schema.events).values(**event_row(forged)))
            made.append(forged)
    return made


def _rehash_from(store: Store, chain: str, position: int, **change: Any) -> list[dict[str, Any]]:
    """Rewrite the event at `position` (1-based), re-hash it and everything after, move the head."""
    rows = _rows(store, chain)
    prev = rows[position - 2]["hash"] if position > 1 else "0" * 64
    new = []
    for row in rows[position - 1:]:
        row = dict(row, prev_hash=prev, **(change if row["chain_seq"] == position else {}))
        row["hash"] = prev = event_hash(_body(row))
        new.append(row)
    _write(store, *new)
    _head(store, chain, len(rows), prev)
    return rows


def _verified(store: Store) -> dict[str, Any] | None:
    first_bad: dict[str, Any] | None = audit.verify(store)["first_bad"]
    return first_bad


def _signed(store: Store, key: str = KEY) -> Checkpoint:
    return checkpoints.take(store, evidence.load_key(key))


def _against(store: Store, *cps: Checkpoint) -> dict[str, Any] | None:
    problem = checkpoints.against(store, list(cps))
    return None if problem is None else {k: problem[k] for k in ("seq", "run", "reason")}


# ----------------------------------------------------------------------- the database alone


def test_an_edited_event_is_found_where_it_was_edited(ledger: tuple[Store, str]) -> None:
    store, run_id = ledger
    rows = _rows(store, run_id)
    _write(store, dict(rows[2], actor="mallory"))
    assert _verified(store) == {"seq": rows[2]["seq"], "run": run_id, "reason": "altered"}


@pytest.mark.parametrize("at", [0, 2, -2], ids=["first", "middle", "next-to-last"])
def test_an_edited_and_rehashed_event_is_found_at_itself_not_after(ledger: tuple[Store, str], at: int) -> None:
    store, run_id = ledger
    rows = _rows(store, run_id)
    forged = dict(rows[at], actor="mallory")
    forged["hash"] = event_hash(_body(forged))
    _write(store, forged)
    assert _verified(store) == {"seq": rows[at]["seq"], "run": run_id, "reason": "altered"}


def test_a_first_event_relinked_to_a_hash_no_event_has_is_found_at_itself(ledger: tuple[Store, str]) -> None:
    store, run_id = ledger
    rows = _rows(store, run_id)
    _write(store, _rehashed(rows[0], prev_hash="e" * 64))
    assert _verified(store) == {"seq": rows[0]["seq"], "run": run_id, "reason": "altered"}


@pytest.mark.parametrize("at", [2, -1], ids=["middle", "last"])
def test_an_event_rewritten_to_name_another_run_and_rehashed_is_named_as_stored(ledger: tuple[Store, str],
                                                                                at: int) -> None:
    """As for a field changed without re-hashing (test_tamper_fields.py): the verdict names the row as it is now,
    whether the next event's link or the chain's head gives it away."""
    store, run_id = ledger
    other = start(store, customer="Initech").id
    rows = _rows(store, run_id)
    _write(store, _rehashed(rows[at], run=other))
    assert _verified(store) == {"seq": rows[at]["seq"], "run": other, "reason": "altered"}


def test_the_last_event_rewritten_and_rehashed_is_caught_by_the_stored_head(ledger: tuple[Store, str]) -> None:
    store, run_id = ledger
    rows = _rows(store, run_id)
    forged = dict(rows[-1], data={**rows[-1]["data"], "forged": True})
    forged["hash"] = event_hash(_body(forged))
    _write(store, forged)
    assert _verified(store) == {"seq": rows[-1]["seq"], "run": run_id, "reason": "altered"}


def test_a_forged_authority_is_caught(ledger: tuple[Store, str]) -> None:
    store, run_id = ledger
    rows = _rows(store, run_id)
    decided = next(r for r in rows if r["type"] == "task.decided")
    _write(store, dict(decided, authority={"kind": "admin", "detail": "mallory"}))
    assert _verified(store) == {"seq": decided["seq"], "run": run_id, "reason": "altered"}


def test_a_deleted_middle_event_is_found_at_the_gap(ledger: tuple[Store, str]) -> None:
    store, run_id = ledger
    rows = _rows(store, run_id)
    with store.engine.begin() as conn:
        conn.execute(delete(schema.events).where(schema.events.c.seq == rows[2]["seq"]))
    assert _verified(store) == {"seq": rows[3]["seq"], "run": run_id, "reason": "removed"}


def test_a_deleted_event_with_the_chain_relinked_over_it_is_found_at_the_gap(ledger: tuple[Store, str]) -> None:
    """Every later event re-linked and re-hashed, the head moved: only the numbering still shows the gap."""
    store, run_id = ledger
    rows = _rows(store, run_id)
    with store.engine.begin() as conn:
        conn.execute(delete(schema.events).where(schema.events.c.seq == rows[2]["seq"]))
    prev = rows[1]["hash"]
    for row in rows[3:]:
        new = _rehashed(row, prev_hash=prev)
        _write(store, new)
        prev = new["hash"]
    _head(store, run_id, len(rows) - 1, prev)
    assert _verified(store) == {"seq": rows[3]["seq"], "run": run_id, "reason": "removed"}


def test_a_deleted_last_event_is_a_truncated_chain(ledger: tuple[Store, str]) -> None:
    store, run_id = ledger
    rows = _rows(store, run_id)
    with store.engine.begin() as conn:
        conn.execute(delete(schema.events).where(schema.events.c.seq == rows[-1]["seq"]))
    assert _verified(store) == {"seq": None, "run": run_id, "reason": "truncated"}


def test_a_chain_whose_head_was_deleted_is_inserted_at_its_first_event(ledger: tuple[Store, str]) -> None:
    """With no head, nothing vouches for any of the chain's events: the whole chain reads as slipped in."""
    store, run_id = ledger
    rows = _rows(store, run_id)
    with store.engine.begin() as conn:
        conn.execute(delete(schema.chains).where(schema.chains.c.id == run_id))
    assert _verified(store) == {"seq": rows[0]["seq"], "run": run_id, "reason": "inserted"}


def test_an_event_appended_without_moving_the_head_is_inserted_at_it(ledger: tuple[Store, str]) -> None:
    """Linked and numbered to fit: only the head, which counts one event fewer, gives it away."""
    store, run_id = ledger
    (forged,) = _append_forged(store, _rows(store, run_id), {"actor": "mallory"})
    assert _verified(store) == {"seq": forged["seq"], "run": run_id, "reason": "inserted"}


def test_the_verdict_is_the_problem_earliest_in_the_log_whichever_chain_holds_it(ledger: tuple[Store, str]) -> None:
    """Chains are read in id order, runs before `system`: the earliest seq must win, not the first chain read,
    down to a forgery under seq 0 in a chain of its own read last."""
    store, run_id = ledger
    run_rows, system_rows = _rows(store, run_id), _rows(store, SYSTEM_CHAIN)
    _write(store, dict(run_rows[2], actor="mallory"), dict(system_rows[0], actor="mallory"))
    assert _verified(store) == {"seq": system_rows[0]["seq"], "run": None, "reason": "altered"}
    forged = dict(system_rows[0], seq=0, chain="zzzz-forged", chain_seq=1, prev_hash="0" * 64)
    forged["hash"] = event_hash(_body(forged))
    with store.engine.begin() as conn:
        conn.execute(insert(schema.events).values(**event_row(forged)))
    assert system_rows[0]["seq"] == 1 and _verified(store) == {"seq": 0, "run": None, "reason": "inserted"}


def test_a_lone_event_with_no_head_is_inserted_and_a_chain_with_neither_is_whole(ledger: tuple[Store, str]) -> None:
    """The run page judges a run's chain the same way: one with no events and no head has nothing to doubt."""
    store, run_id = ledger
    first = _rows(store, run_id)[:1]
    assert audit.chain_problem(run_id, first, None) == {"seq": first[0]["seq"], "run": run_id, "reason": "inserted"}
    assert audit.chain_problem(run_id, [], None) is None


def test_an_inserted_event_is_found_at_the_forgery_not_at_the_renumbered_events(ledger: tuple[Store, str]) -> None:
    store, run_id = ledger
    rows = _rows(store, run_id)
    with store.engine.begin() as conn:
        for row in reversed(rows[2:]):  # make room at position 3, each moved event re-hashed to look well formed
            conn.execute(update(schema.events).where(schema.events.c.seq == row["seq"])
                         .values(**event_row(_rehashed(row, chain_seq=row["chain_seq"] + 1))))
        last = conn.execute(select(schema.events.c.seq).order_by(schema.events.c.seq.desc()).limit(1)).scalar_one()
        forged = dict(rows[2], seq=last + 1, chain_seq=3, prev_hash=rows[1]["hash"], actor="mallory")
        forged["hash"] = event_hash(_body(forged))
        conn.execute(insert(schema.events).values(**event_row(forged)))
    assert _verified(store) == {"seq": last + 1, "run": run_id, "reason": "inserted"}


def test_an_inserted_first_event_is_found_at_the_forgery(ledger: tuple[Store, str]) -> None:
    store, run_id = ledger
    rows = _rows(store, run_id)
    with store.engine.begin() as conn:
        for row in reversed(rows):
            conn.execute(update(schema.events).where(schema.events.c.seq == row["seq"])
                         .values(**event_row(_rehashed(row, chain_seq=row["chain_seq"] + 1))))
        forged = dict(rows[0], seq=0, chain_seq=1, prev_hash="0" * 64, actor="mallory")
        forged["hash"] = event_hash(_body(forged))
        conn.execute(insert(schema.events).values(**event_row(forged)))
    assert _verified(store) == {"seq": 0, "run": run_id, "reason": "inserted"}


def _slip_in(store: Store, run_id: str, at: int, count: int, *, seqs: list[int] | None = None) -> list[int]:
    """Slip `count` linked forgeries in together before the event at position `at` (1-based), the genuine events
    from there on moved on and re-hashed to look well formed, their links left as they were; returns the
    forgeries' seqs (fresh ones after the log's last, unless given)."""
    rows = _rows(store, run_id)
    with store.engine.begin() as conn:
        for row in reversed(rows[at - 1:]):
            conn.execute(update(schema.events).where(schema.events.c.seq == row["seq"])
                         .values(**event_row(_rehashed(row, chain_seq=row["chain_seq"] + count))))
        last = conn.execute(select(schema.events.c.seq).order_by(schema.events.c.seq.desc()).limit(1)).scalar_one()
        seqs = seqs or [last + 1 + i for i in range(count)]
        prev = rows[at - 2]["hash"] if at > 1 else "0" * 64
        for i, seq in enumerate(seqs):
            forged = dict(rows[at - 1], seq=seq, chain_seq=at + i, prev_hash=prev, actor="mallory")
            forged["hash"] = prev = event_hash(_body(forged))
            conn.execute(insert(schema.events).values(**event_row(forged)))
    return seqs


@pytest.mark.parametrize("count", [2, 3])
def test_events_slipped_in_together_are_found_at_the_first_forgery(ledger: tuple[Store, str], count: int) -> None:
    """As for one event slipped in: the genuine event after them links to the one before them, and their seqs
    are no genuine events' moved ahead of it."""
    store, run_id = ledger
    forged = _slip_in(store, run_id, 3, count)
    assert _verified(store) == {"seq": forged[0], "run": run_id, "reason": "inserted"}


def test_events_slipped_in_together_at_the_start_are_found_at_the_first_forgery(ledger: tuple[Store, str]) -> None:
    store, run_id = ledger
    forged = _slip_in(store, run_id, 1, 2)
    assert _verified(store) == {"seq": forged[0], "run": run_id, "reason": "inserted"}


def test_an_event_slipped_in_first_with_a_seq_below_every_other_is_inserted_at_it(ledger: tuple[Store, str]) -> None:
    store, run_id = ledger
    _slip_in(store, run_id, 1, 1, seqs=[-1])
    assert _verified(store) == {"seq": -1, "run": run_id, "reason": "inserted"}


def test_an_event_slipped_in_before_the_first_and_linked_from_it_is_inserted_by_its_number(
        ledger: tuple[Store, str]) -> None:
    """The chain's first event re-linked to the forgery, re-hashed, the head moved: only its `chain_seq` of 0
    (the only number left free below the chain) gives it away."""
    store, run_id = ledger
    rows = _rows(store, run_id)
    with store.engine.begin() as conn:
        forged = dict(rows[0], seq=0, chain_seq=0, prev_hash="0" * 64, actor="mallory")
        forged["hash"] = event_hash(_body(forged))
        conn.execute(insert(schema.events).values(**event_row(forged)))
    prev = forged["hash"]
    for row in rows:
        new = _rehashed(row, prev_hash=prev)
        _write(store, new)
        prev = new["hash"]
    _head(store, run_id, len(rows) + 1, prev)
    assert _verified(store) == {"seq": 0, "run": run_id, "reason": "inserted"}


def test_two_events_swapped_with_the_whole_chain_relinked_are_reordered_where_the_seq_falls(
        ledger: tuple[Store, str]) -> None:
    """Links, numbering and head all rewritten to fit: the seqs, drawn in append order, still give it away."""
    store, run_id = ledger
    rows = _rows(store, run_id)
    order = [*rows[:2], rows[3], rows[2], *rows[4:]]
    with store.engine.begin() as conn:
        conn.execute(update(schema.events).where(schema.events.c.chain == run_id)
                     .values(chain_seq=schema.events.c.chain_seq + 10_000))
    prev = rows[1]["hash"]
    for position, row in enumerate(order[2:], start=3):
        new = _rehashed(row, chain_seq=position, prev_hash=prev)
        _write(store, new)
        prev = new["hash"]
    _write(store, *rows[:2])
    _head(store, run_id, len(rows), prev)
    assert _verified(store) == {"seq": rows[2]["seq"], "run": run_id, "reason": "reordered"}


def test_two_events_swapped_and_rehashed_are_reordered(ledger: tuple[Store, str]) -> None:
    store, run_id = ledger
    rows = _rows(store, run_id)
    with store.engine.begin() as conn:
        conn.execute(update(schema.events).where(schema.events.c.seq == rows[2]["seq"]).values(chain_seq=10_000))
        conn.execute(update(schema.events).where(schema.events.c.seq == rows[3]["seq"])
                     .values(**event_row(_rehashed(rows[3], chain_seq=3, prev_hash=rows[1]["hash"]))))
        conn.execute(update(schema.events).where(schema.events.c.seq == rows[2]["seq"])
                     .values(**event_row(_rehashed(rows[2], chain_seq=4))))
    # found at the event moved later: its link names the event now two places before it
    assert _verified(store) == {"seq": rows[2]["seq"], "run": run_id, "reason": "reordered"}


def test_an_event_moved_two_places_later_and_rehashed_is_reordered(ledger: tuple[Store, str]) -> None:
    """The two events moved ahead of it are genuine ones from later in the chain (their seqs say so), not
    forgeries slipped in together."""
    store, run_id = ledger
    rows = _rows(store, run_id)
    moved, ahead = rows[2], rows[3:5]
    with store.engine.begin() as conn:
        conn.execute(update(schema.events).where(schema.events.c.seq == moved["seq"]).values(chain_seq=10_000))
        prev = rows[1]["hash"]
        for row in ahead:
            new = _rehashed(row, chain_seq=row["chain_seq"] - 1, prev_hash=prev)
            conn.execute(update(schema.events).where(schema.events.c.seq == row["seq"]).values(**event_row(new)))
            prev = new["hash"]
        conn.execute(update(schema.events).where(schema.events.c.seq == moved["seq"])
                     .values(**event_row(_rehashed(moved, chain_seq=5))))
    assert rows[5:]  # a later event, whose seq is above the moved-ahead ones'
    assert _verified(store) == {"seq": moved["seq"], "run": run_id, "reason": "reordered"}


def test_a_changed_state_row_is_a_state_mismatch(ledger: tuple[Store, str]) -> None:
    store, run_id = ledger
    with store.engine.begin() as conn:
        conn.execute(update(schema.runs).where(schema.runs.c.id == run_id).values(started_by="mallory"))
    bad = _verified(store)
    assert bad is not None and (bad["run"], bad["reason"]) == (run_id, "state-mismatch")


# ----------------------------------------------------------------------- against a trusted checkpoint


def test_history_rewritten_and_rehashed_passes_alone_but_not_against_a_checkpoint(ledger: tuple[Store, str]) -> None:
    store, run_id = ledger
    saved = _signed(store)
    assert _against(store, saved) is None
    rows = _rehash_from(store, run_id, 3, actor="mallory")
    assert _verified(store) is None  # the database alone cannot tell
    assert _against(store, saved) == {"seq": rows[0]["seq"], "run": run_id, "reason": "altered"}


def test_two_checkpoints_narrow_a_rewrite_to_the_events_between_them(store: Store) -> None:
    run = start(store)
    early = _signed(store)  # the run's first events
    decision = act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)["opened"][0]
    decide(store, decision, "approve")
    late = _signed(store)
    signed_then = early.heads[run.id][0]
    rows = _rehash_from(store, run.id, signed_then + 1, actor="mallory")
    assert _against(store, early, late) == {"seq": rows[signed_then]["seq"], "run": run.id, "reason": "altered"}


def test_a_chain_cut_with_its_head_rewritten_is_truncated(ledger: tuple[Store, str]) -> None:
    store, run_id = ledger
    saved = _signed(store)
    rows = _rows(store, run_id)
    with store.engine.begin() as conn:
        conn.execute(delete(schema.events).where(schema.events.c.chain == run_id,
                                                 schema.events.c.chain_seq > len(rows) - 2))
    _head(store, run_id, len(rows) - 2, rows[-3]["hash"])
    assert _against(store, saved) == {"seq": None, "run": run_id, "reason": "truncated"}


def test_a_database_restored_from_an_older_copy_is_rolled_back(ledger: tuple[Store, str]) -> None:
    store, _ = ledger
    older = copy_tables(store)
    later = start(store, customer="Initech")
    saved = _signed(store)
    restore_tables(store, older)
    assert _verified(store) is None  # the old copy is a consistent database
    assert _against(store, saved) == {"seq": None, "run": later.id, "reason": "rolled-back"}


def test_a_forgery_appended_after_the_newest_checkpoint_cannot_be_told_apart(ledger: tuple[Store, str]) -> None:
    """What no check can catch: events appended, with links and head, after the newest checkpoint. The next
    checkpoint signs them, so the checkpoint interval bounds the window."""
    store, run_id = ledger
    saved = _signed(store)
    rows = _rows(store, run_id)
    (forged,) = _append_forged(store, rows, {"type": "notification.delivered", "data": {"forged": True}})
    _head(store, run_id, len(rows) + 1, forged["hash"])
    assert _against(store, saved) is None
    assert checkpoints.verify_since(store, saved)["ok"] is True


# ----------------------------------------------------------------------- signatures and keys


def test_a_checkpoint_signed_by_a_foreign_key_is_untrusted(ledger: tuple[Store, str]) -> None:
    store, _ = ledger
    problem = checkpoints.judged(_signed(store, FOREIGN), TRUST)
    assert problem is not None and problem["reason"] == "untrusted-key"
    assert "+" in problem["detail"]  # names the key id that signed


def test_a_stripped_signature_is_unsigned(ledger: tuple[Store, str]) -> None:
    store, _ = ledger
    saved = _signed(store)
    stripped = Checkpoint(notes.parse(saved.note.body + "\n"), saved.statement, saved.heads)
    problem = checkpoints.judged(stripped, TRUST)
    assert problem is not None and problem["reason"] == "unsigned"


def test_a_revoked_key_is_named_as_revoked(ledger: tuple[Store, str]) -> None:
    store, _ = ledger
    revoked = Trust(notes.anchors([FOREIGN_PUBLIC, f"revoked {PUBLIC}"], "test"))
    problem = checkpoints.judged(_signed(store), revoked)
    assert problem is not None and problem["reason"] == "revoked-key"


def test_a_checkpoint_whose_heads_were_edited_no_longer_matches_its_signature(ledger: tuple[Store, str]) -> None:
    store, run_id = ledger
    doc = _signed(store).document()
    doc["heads"][run_id] = [1, doc["heads"][run_id][1]]
    with pytest.raises(Exception) as caught:
        checkpoints.parse_document(doc, "edited")
    assert getattr(caught.value, "rule", None) == "bad-signature"


# ----------------------------------------------------------------------- evidence packs


@pytest.fixture
def packs(ledger: tuple[Store, str], monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], dict[str, Any]]:
    store, run_id = ledger
    other = finished_run(store)
    signing = Store(store.url, settings=type(store.settings)(signing_key=KEY))
    try:
        first = json.loads(json.dumps(evidence.export_run(signing, run_id), default=str))
        second = json.loads(json.dumps(evidence.export_run(signing, other), default=str))
    finally:
        signing.close()
    return first, second


def _reason(pack: dict[str, Any], trust: Trust = TRUST) -> str | None:
    result = evidence.verify_pack(pack, trust)
    return None if result["ok"] else str(result["first_bad"]["reason"])


def test_a_pack_stands_alone_with_a_trusted_key(packs: tuple[dict[str, Any], dict[str, Any]]) -> None:
    pack, _ = packs
    result = evidence.verify_pack(pack, TRUST)
    assert result["ok"] is True and result["events"] == len(pack["events"])
    assert _reason(pack, Trust(notes.anchors([FOREIGN_PUBLIC], "test"))) == "untrusted-key"


def test_an_edited_pack_is_altered(packs: tuple[dict[str, Any], dict[str, Any]]) -> None:
    pack = copy.deepcopy(packs[0])
    decided = next(e for e in pack["events"] if e["type"] == "task.decided")
    decided["data"]["rationale"] = "edited"
    result = evidence.verify_pack(pack, TRUST)
    assert result["first_bad"]["reason"] == "altered" and result["first_bad"]["seq"] == decided["seq"]


def _slipped_into(pack: dict[str, Any], seq: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The pack with a forgery slipped in at position 3 under `seq`, the genuine events after it renumbered and
    re-hashed, their links left as they were; and the pack's events before."""
    events = pack["events"]
    forged = dict(events[2], seq=seq, chain_seq=3, prev_hash=events[1]["hash"], actor="mallory")
    forged["hash"] = event_hash(_body(forged))
    moved = [_rehashed(e, chain_seq=e["chain_seq"] + 1) for e in events[2:]]
    return {**copy.deepcopy(pack), "events": [*events[:2], forged, *moved]}, events


@pytest.mark.parametrize("under", ["next", "last"])
def test_a_pack_event_slipped_in_under_a_genuine_events_seq_is_inserted(
        packs: tuple[dict[str, Any], dict[str, Any]], under: str) -> None:
    """A pack is JSON: unlike the database, it can repeat a seq. No genuine event moved ahead shares one, so a
    repeated seq is a forgery, whichever genuine event it copies (the one after it, the latest)."""
    events = packs[0]["events"]
    seq = events[2]["seq"] if under == "next" else events[-1]["seq"]
    pack, _ = _slipped_into(packs[0], seq)
    result = evidence.verify_pack(pack, TRUST)
    assert (result["first_bad"]["seq"], result["first_bad"]["reason"]) == (seq, "inserted")


def test_a_pack_event_repeating_the_seq_before_it_is_reordered_though_linked_in(
        packs: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """Links and numbering rewritten to fit: a seq must still rise along the chain, and an equal one does not."""
    pack = copy.deepcopy(packs[0])
    events = pack["events"]
    forged = dict(events[2], seq=events[1]["seq"], actor="mallory")
    prev, relinked = events[1]["hash"], []
    for position, event in enumerate([forged, *events[2:]], start=3):
        event = dict(event, chain_seq=position, prev_hash=prev)
        event["hash"] = prev = event_hash(_body(event))
        relinked.append(event)
    pack["events"] = [*events[:2], *relinked]
    pack["head"] = {**pack["head"], "length": len(pack["events"]), "hash": prev}
    result = evidence.verify_pack(pack, TRUST)
    assert (result["first_bad"]["seq"], result["first_bad"]["reason"]) == (events[1]["seq"], "reordered")


def test_a_pack_rewritten_and_rehashed_is_not_in_the_signed_checkpoint(
        packs: tuple[dict[str, Any], dict[str, Any]]) -> None:
    pack = copy.deepcopy(packs[0])
    prev = "0" * 64
    for event in pack["events"]:
        if event["type"] == "task.decided":
            event["data"]["rationale"] = "edited"
        event["prev_hash"] = prev
        event["hash"] = prev = event_hash(_body(event))
    pack["head"]["hash"] = prev
    assert _reason(pack) == "not-included"


def test_a_pack_resigned_with_a_foreign_key_is_untrusted(packs: tuple[dict[str, Any], dict[str, Any]]) -> None:
    pack = copy.deepcopy(packs[0])
    note = notes.parse(pack["checkpoint"])
    origin = note.lines[0]
    pack["checkpoint"] = note.body + "\n" + notes.sign_line(evidence.load_key(FOREIGN), origin, note.body)
    assert _reason(pack) == "untrusted-key"
    pack["checkpoint"] = note.body + "\n"
    assert _reason(pack) == "unsigned"
    del pack["checkpoint"]
    assert _reason(pack) == "not-an-evidence-pack"


def test_packs_swapped_between_runs_fail_the_inclusion_proof(packs: tuple[dict[str, Any], dict[str, Any]]) -> None:
    first, second = packs
    swapped = {**copy.deepcopy(first), "checkpoint": second["checkpoint"], "proof": second["proof"]}
    assert _reason(swapped) == "not-included"
    other_proof = {**copy.deepcopy(first), "proof": second["proof"]}
    assert _reason(other_proof) == "not-included"


def test_an_inclusion_proof_reveals_no_other_run(packs: tuple[dict[str, Any], dict[str, Any]]) -> None:
    first, second = packs
    text = json.dumps(first)
    assert second["run"]["run"] not in text
    assert all(len(base64.b64decode(node)) == 32 for node in first["proof"]["path"])


def test_merkle_proofs_match_the_rfc_definition() -> None:
    def reference(leaves: list[bytes]) -> bytes:
        if len(leaves) == 1:
            return leaves[0]
        k = 1 << ((len(leaves) - 1).bit_length() - 1)
        return merkle.node_hash(reference(leaves[:k]), reference(leaves[k:]))

    for n in range(1, 40):
        leaves = [merkle.leaf_hash(str(i).encode()) for i in range(n)]
        assert merkle.root(leaves) == reference(leaves)
        for i in range(n):
            assert merkle.root_from_proof(i, n, leaves[i], merkle.inclusion_proof(i, leaves)) == reference(leaves)
            wrong = (i + 1) % n
            if n > 1:
                assert merkle.root_from_proof(wrong, n, leaves[i], merkle.inclusion_proof(i, leaves)) != reference(
                    leaves)


# ----------------------------------------------------------------------- the command line


def test_verify_and_check_pack_refuse_to_judge_without_a_trust_anchor(
        ledger: tuple[Store, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    store, run_id = ledger
    monkeypatch.delenv("LEDGERFLOW_TRUSTED_KEYS", raising=False)
    monkeypatch.setenv("LEDGERFLOW_SIGNING_KEY", KEY)
    saved, pack = tmp_path / "cp.json", tmp_path / "pack.json"
    assert main(["audit", "checkpoint", "--out", str(saved), "--db", store.url]) == 0
    assert main(["audit", "export", run_id, "--out", str(pack), "--db", store.url]) == 0
    capsys.readouterr()
    assert main(["audit", "verify", "--checkpoint", str(saved), "--db", store.url, "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["error"]["rule"] == "trust-anchor-missing"
    assert main(["audit", "check-pack", str(pack), "--json"]) == 2
    capsys.readouterr()
    keys = tmp_path / "trusted.txt"
    keys.write_text(f"# the ledger's key\n{PUBLIC}\n")
    assert main(["audit", "verify", "--checkpoint", str(saved), "--trust", str(keys), "--db", store.url]) == 0
    capsys.readouterr()
    assert main(["audit", "check-pack", str(pack), "--trust", PUBLIC, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    assert main(["audit", "check-pack", str(pack), "--trust", FOREIGN_PUBLIC, "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["first_bad"]["reason"] == "untrusted-key"
    assert main(["audit", "check-pack", str(pack), "--trust", "not-a-key", "--json"]) == 2


def test_the_cli_reports_a_rewrite_against_a_checkpoint_folder(ledger: tuple[Store, str], tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    store, run_id = ledger
    folder = tmp_path / "checkpoints"
    monkeypatch.setenv("LEDGERFLOW_SIGNING_KEY", KEY)
    monkeypatch.setenv("LEDGERFLOW_CHECKPOINT_DIR", str(folder))
    monkeypatch.setenv("LEDGERFLOW_TRUSTED_KEYS", PUBLIC)
    assert main(["audit", "checkpoint", "--db", store.url]) == 0
    assert main(["audit", "checkpoint", "--db", store.url]) == 0
    assert len(list(folder.glob("*.json"))) == 2  # one new file each, none replaced
    capsys.readouterr()
    rows = _rehash_from(store, run_id, 2, actor="mallory")
    assert main(["audit", "verify", "--db", store.url, "--json"]) == 0  # the database alone verifies
    capsys.readouterr()
    assert main(["audit", "verify", "--checkpoint", str(folder), "--db", store.url, "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["first_bad"] | {"detail": None} == {
        "seq": rows[0]["seq"], "run": run_id, "reason": "altered", "detail": None}
    with store.read() as tx:
        recorded = [e for e in tx.events() if e["type"] == "audit.checkpointed"]
    assert len(recorded) == 2 and recorded[0]["data"]["files"][0].startswith(str(folder))


# ----------------------------------------------------------------------- incremental verify


def test_verify_since_a_checkpoint_checks_only_the_new_events(ledger: tuple[Store, str]) -> None:
    store, _ = ledger
    saved = _signed(store)
    later = start(store, customer="Initech")
    act(store, "complete", only_open(store, later.id), output=GOOD_OUTPUT)
    with store.read() as tx:
        heads = tx.chain_heads()
    appended = sum(n - saved.heads.get(chain, (0, ""))[0] for chain, (n, _) in heads.items())
    result = checkpoints.verify_since(store, saved)
    assert result == {"ok": True, "events": appended, "first_bad": None}
    assert appended < sum(n for n, _ in heads.values())


def test_verify_since_finds_a_new_event_edited(ledger: tuple[Store, str]) -> None:
    store, _ = ledger
    saved = _signed(store)
    later = start(store, customer="Initech")
    rows = _rows(store, later.id)
    _write(store, dict(rows[0], actor="mallory"))
    assert checkpoints.verify_since(store, saved)["first_bad"] == {
        "seq": rows[0]["seq"], "run": later.id, "reason": "altered"}


def test_verify_since_finds_history_before_the_checkpoint_rewritten(ledger: tuple[Store, str]) -> None:
    store, run_id = ledger
    saved = _signed(store)
    rows = _rehash_from(store, run_id, 3, actor="mallory")
    bad = checkpoints.verify_since(store, saved)["first_bad"]
    assert (bad["seq"], bad["run"], bad["reason"]) == (rows[0]["seq"], run_id, "altered")


def test_verify_since_finds_an_append_that_does_not_link_to_the_signed_head(ledger: tuple[Store, str]) -> None:
    store, run_id = ledger
    saved = _signed(store)
    rows = _rows(store, run_id)
    (forged,) = _append_forged(store, rows, {"prev_hash": "e" * 64})
    _head(store, run_id, len(rows) + 1, forged["hash"])
    assert checkpoints.verify_since(store, saved)["first_bad"] == {"seq": forged["seq"], "run": run_id,
                                                                   "reason": "altered"}


def test_verify_since_finds_an_event_appended_past_the_head_where_it_is(ledger: tuple[Store, str]) -> None:
    """Two events appended since the checkpoint, the head moved over the first only: the second is the one
    nothing vouches for, counted from the signed head, not from the chain's start."""
    store, run_id = ledger
    saved = _signed(store)
    rows = _rows(store, run_id)
    appended = _append_forged(store, rows, *({"type": "notification.delivered", "data": {"forged": i}} for i in (1, 2)))
    _head(store, run_id, len(rows) + 1, appended[0]["hash"])
    assert checkpoints.verify_since(store, saved)["first_bad"] == {"seq": appended[1]["seq"], "run": run_id,
                                                                   "reason": "inserted"}


@pytest.mark.parametrize("appended", [0, 1], ids=["nothing-since", "one-since"])
def test_verify_since_finds_a_head_moved_back_behind_the_signed_one_truncated(ledger: tuple[Store, str],
                                                                               appended: int) -> None:
    """A stored head rolled back below what a checkpoint signed (and hashed as an earlier head) counts fewer
    events than were vouched for: the chain is truncated, whether or not anything was appended since."""
    store, run_id = ledger
    saved = _signed(store)
    if appended:  # a genuine append after the checkpoint, moving the head on
        with store.write() as tx:
            tx.append([Event(type="nudge.sent", at=format_time(tx.now()), actor="system", run=run_id)])
    rows = _rows(store, run_id)
    signed_length = saved.heads[run_id][0]
    _head(store, run_id, signed_length - 1, rows[signed_length - 2]["hash"])
    assert checkpoints.verify_since(store, saved)["first_bad"] == {"seq": None, "run": run_id, "reason": "truncated"}


def test_verify_since_finds_a_head_rewritten_at_the_signed_length(ledger: tuple[Store, str]) -> None:
    """The events the checkpoint signed are in place, but the head row names another hash at their length."""
    store, run_id = ledger
    saved = _signed(store)
    _head(store, run_id, saved.heads[run_id][0], "f" * 64)
    assert checkpoints.verify_since(store, saved)["first_bad"] == {"seq": None, "run": run_id, "reason": "altered"}


def test_verify_since_finds_an_event_past_a_head_rewritten_at_the_signed_length_inserted(
        ledger: tuple[Store, str]) -> None:
    """An event linked on after the checkpoint while the head keeps the signed length (its hash rewritten): the
    head does not count the event, which is where the forgery is."""
    store, run_id = ledger
    saved = _signed(store)
    rows = _rows(store, run_id)
    (forged,) = _append_forged(store, rows, {"type": "notification.delivered", "data": {"forged": 1}})
    _head(store, run_id, len(rows), forged["hash"])
    assert checkpoints.verify_since(store, saved)["first_bad"] == {"seq": forged["seq"], "run": run_id,
                                                                   "reason": "inserted"}


def test_export_without_a_key_uses_a_kept_checkpoint_or_exits_3(ledger: tuple[Store, str], tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    store, run_id = ledger
    folder = tmp_path / "kept"
    monkeypatch.delenv("LEDGERFLOW_SIGNING_KEY", raising=False)
    monkeypatch.setenv("LEDGERFLOW_CHECKPOINT_DIR", str(folder))
    pack = tmp_path / "pack.json"
    assert main(["audit", "export", run_id, "--out", str(pack), "--db", store.url, "--json"]) == 3
    assert json.loads(capsys.readouterr().out)["error"]["rule"] == "no-checkpoint"
    assert not pack.exists()
    checkpoints.write_new(str(folder), _signed(store))
    assert main(["audit", "export", run_id, "--out", str(pack), "--db", store.url]) == 0
    assert evidence.verify_pack(json.loads(pack.read_text()), TRUST)["ok"] is True


def test_a_row_made_unhashable_by_hand_is_altered_not_a_crash(tmp_path: Path) -> None:
    """SQLite keeps JSON as text: a NaN or a lone surrogate written into a row is reported where it is."""
    store = make_store(tmp_path)
    try:
        service.load_directory_file(store, str(DIRECTORY), ADMIN)
        service.publish(store, str(PRICING), ADMIN)
        rows = _rows(store, SYSTEM_CHAIN)
        for row, text_ in ((rows[0], '{"x": NaN}'), (rows[1], '{"x": "\\ud800"}')):
            with store.engine.begin() as conn:
                conn.execute(text("UPDATE events SET body = :b WHERE seq = :s"),
                             {"b": body_by_hand(row, "data", text_), "s": row["seq"]})
            assert _verified(store) == {"seq": rows[0]["seq"], "run": None, "reason": "altered"}
    finally:
        store.close()


def test_a_checkpoint_of_another_ledger_is_not_evidence_about_this_one(ledger: tuple[Store, str],
                                                                        tmp_path: Path) -> None:
    store, _ = ledger
    (tmp_path / "other").mkdir()
    other = make_store(tmp_path / "other")
    try:
        service.load_directory_file(other, str(DIRECTORY), ADMIN)
        foreign = _signed(other)
    finally:
        other.close()
    problem = checkpoints.against(store, [foreign])
    assert problem is not None and problem["reason"] == "other-ledger"


def test_audit_files_go_through_the_input_gate(ledger: tuple[Store, str], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    store, _ = ledger
    before = copy_tables(store)
    for name, text_ in (("nan.json", '{"format": NaN}'), ("surrogate.json", '{"note": "\\ud800"}'),
                        ("deep.json", "[" * 10_000 + "]" * 10_000)):
        bad = tmp_path / name
        bad.write_text(text_)
        assert main(["audit", "check-pack", str(bad), "--trust", PUBLIC, "--json"]) == 2
        assert main(["audit", "verify", "--checkpoint", str(bad), "--trust", PUBLIC, "--db", store.url]) == 2
        capsys.readouterr()
    assert copy_tables(store) == before
