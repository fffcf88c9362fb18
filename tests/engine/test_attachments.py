"""Documents attached to runs and tasks (SPEC §14), on both databases: stored by hash, read back by who may
read the run, refused before anything is written, and bound into the data under decision."""

from __future__ import annotations

import hashlib
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ledgerflow.domain.attachments import AttachmentLimits
from ledgerflow.domain.errors import (
    AttachmentRefused,
    AttachmentTooLarge,
    AttachmentType,
    Forbidden,
    InvalidInput,
    NotFound,
)
from ledgerflow.engine import documents, service
from ledgerflow.engine.tokens import ACTOR, ADMIN, GUEST, Principal
from ledgerflow.ops.config import Settings
from ledgerflow.storage import schema
from ledgerflow.storage.store import Store
from tests.engine.helpers import GOOD_OUTPUT, act, caller, changes_nothing, decide, only_open, run_state

INPUT = {"customer": "Acme", "deal_value": 12000, "discount_pct": 18}
PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n%%EOF\n"
SHEET_V1 = b"deal sheet: 18% off list, margin 31%\n"
SHEET_V2 = b"deal sheet: 18% off list, margin 27% after freight\n"


def reader(actor: str) -> Principal:
    return Principal(token_id="test", actor=actor, kind=ACTOR)


def stored(store: Store) -> list[str]:
    return [sha for sha, _ in store.blobs.stored()]


def start_with(store: Store, *files: tuple[str, bytes], by: str = "bob") -> str:
    run, _ = service.start_run(store, "pricing-exception", INPUT, caller(by), attachments=documents.keep(store, files))
    return run.id


def complete_prepare(store: Store, run_id: str, *files: tuple[str, bytes]) -> None:
    act(store, "complete", only_open(store, run_id), output=GOOD_OUTPUT, attachments=documents.keep(store, files))


def test_documents_attached_at_start_and_completion_are_listed_and_read_back_by_a_reader(store: Store) -> None:
    run_id = start_with(store, ("deal.pdf", PDF))
    complete_prepare(store, run_id, ("sheet.txt", SHEET_V1))
    run = run_state(store, run_id)
    assert [(a.name, a.media_type, a.size, a.actor, a.step) for a in run.attachments] == [
        ("deal.pdf", "application/pdf", len(PDF), "bob", None),
        ("sheet.txt", "text/plain", len(SHEET_V1), "alice", "prepare")]
    decision = only_open(store, run_id)
    found, data = documents.fetch(store, reader(str(decision.assignee)), hashlib.sha256(SHEET_V1).hexdigest())
    assert (found.name, data) == ("sheet.txt", SHEET_V1)


def test_the_same_bytes_are_stored_once_however_often_they_are_attached(store: Store) -> None:
    first = start_with(store, ("a.pdf", PDF), ("copy.pdf", PDF))
    second = start_with(store, ("b.pdf", PDF))
    assert stored(store) == [hashlib.sha256(PDF).hexdigest()]
    assert [a.name for a in run_state(store, first).attachments] == ["a.pdf", "copy.pdf"]
    assert [a.name for a in run_state(store, second).attachments] == ["b.pdf"]
    with store.read() as tx:
        assert tx.runs_referencing(hashlib.sha256(PDF).hexdigest()) == sorted([first, second])


def test_someone_who_may_not_read_the_run_cannot_read_its_documents(store: Store) -> None:
    start_with(store, ("deal.pdf", PDF))
    sha = hashlib.sha256(PDF).hexdigest()
    with pytest.raises(NotFound) as caught:
        documents.fetch(store, reader("erin"), sha)  # finance, but not on this run
    assert caught.value.rule == "unknown-attachment"
    assert documents.fetch(store, reader("bob"), sha)[1] == PDF
    assert documents.fetch(store, Principal(token_id="cli", actor="admin", kind=ADMIN), sha)[1] == PDF


def test_a_guest_reads_only_the_documents_of_its_own_task(store: Store) -> None:
    run_id = start_with(store, ("deal.pdf", PDF))
    prepare = only_open(store, run_id)
    complete_prepare(store, run_id, ("sheet.txt", SHEET_V1))
    guest = Principal(token_id="g1", actor="alice", kind=GUEST, task=prepare.id, email="partner@example.com")
    assert documents.fetch(store, guest, hashlib.sha256(SHEET_V1).hexdigest())[1] == SHEET_V1
    with pytest.raises(NotFound):
        documents.fetch(store, guest, hashlib.sha256(PDF).hexdigest())
    other = Principal(token_id="g2", actor="alice", kind=GUEST, task=only_open(store, run_id).id)
    with pytest.raises(NotFound):
        documents.fetch(store, other, hashlib.sha256(SHEET_V1).hexdigest())


def _limited(store: Store, **changes: object) -> Store:
    return Store(store.url, settings=replace(Settings(), **changes))  # type: ignore[arg-type]


def test_a_document_over_the_size_limit_is_refused_and_nothing_is_written(store: Store) -> None:
    small = _limited(store, attachments=AttachmentLimits(max_bytes=16))
    try:
        with changes_nothing(store), pytest.raises(AttachmentTooLarge) as caught:
            start_with(small, ("deal.pdf", PDF))
        assert caught.value.rule == "attachment-too-large" and caught.value.exit_code == 2
        assert stored(store) == []
    finally:
        small.close()


@pytest.mark.parametrize(("name", "data"), [
    ("deal.pdf", b"<!DOCTYPE html><html><script>alert(1)</script></html>"),  # the name does not make it a PDF
    ("logo.png", b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>"),
    ("tool.txt", b"\x7fELF\x02\x01\x01\x00" + bytes(range(256))),
])
def test_a_document_whose_content_is_not_an_allowed_type_is_refused_whatever_its_name(
        store: Store, name: str, data: bytes) -> None:
    with changes_nothing(store), pytest.raises(AttachmentType) as caught:
        start_with(store, (name, data))
    assert caught.value.rule == "attachment-type"
    assert stored(store) == []


def test_the_scanning_hook_refuses_a_document_before_it_is_stored(store: Store) -> None:
    hook = f"{sys.executable} -c \"import sys; d = sys.stdin.buffer.read(); " \
           f"sys.exit('infected: EICAR' if b'EICAR' in d else 0)\""
    scanned = _limited(store, attachment_scan=hook)
    try:
        with changes_nothing(store), pytest.raises(AttachmentRefused) as caught:
            start_with(scanned, ("clean.txt", b"fine\n"), ("bad.txt", b"X5O EICAR test\n"))
        assert "infected: EICAR" in caught.value.message
        assert stored(store) == []  # the clean one too: all are checked before any is stored
        start_with(scanned, ("clean.txt", b"fine\n"))
        assert len(stored(store)) == 1
    finally:
        scanned.close()


def test_a_refused_command_leaves_its_documents_unreferenced(store: Store) -> None:
    run_id = start_with(store)
    prepare = only_open(store, run_id)
    files = documents.keep(store, [("sheet.txt", SHEET_V1)])
    with pytest.raises(Forbidden):  # only the assignee completes it
        service.task_command(store, "complete", prepare.id, caller("chen"), output=GOOD_OUTPUT, attachments=files)
    with store.read() as tx:
        assert tx.referenced([files[0].sha256]) == set()
    assert run_state(store, run_id).attachments == ()


def test_documents_go_with_a_completion_only(store: Store) -> None:
    run_id = start_with(store)
    files = documents.keep(store, [("sheet.txt", SHEET_V1)])
    with changes_nothing(store), pytest.raises(InvalidInput) as caught:
        service.task_command(store, "start", only_open(store, run_id).id, caller("alice"), attachments=files)
    assert caught.value.rule == "attachment-not-here"


def _decision_hash_after_rework(store: Store, first: bytes, second: bytes) -> tuple[str | None, str | None]:
    run_id = start_with(store)
    complete_prepare(store, run_id, ("sheet.txt", first))
    decision = only_open(store, run_id)
    decide(store, decision, "send_back", rationale="freight is missing")
    complete_prepare(store, run_id, ("sheet.txt", second))
    again = only_open(store, run_id)
    return decision.data_hash, again.data_hash


def test_a_replaced_deal_sheet_changes_the_data_under_decision(store: Store) -> None:
    before, after = _decision_hash_after_rework(store, SHEET_V1, SHEET_V2)
    assert before is not None and after is not None and before != after


def test_the_same_deal_sheet_again_leaves_the_data_under_decision_as_it_was(store: Store) -> None:
    before, after = _decision_hash_after_rework(store, SHEET_V1, SHEET_V1)
    assert before == after


def test_a_run_without_documents_hashes_its_data_as_before_documents_existed(store: Store) -> None:
    from ledgerflow.domain.canonical import digest

    run_id = start_with(store)
    complete_prepare(store, run_id)
    decision = only_open(store, run_id)
    assert decision.data_hash == digest({"input": INPUT, "outputs": {"prepare": GOOD_OUTPUT}})


def test_an_approval_records_the_hash_of_the_documents_it_saw(store: Store) -> None:
    run_id = start_with(store, ("deal.pdf", PDF))
    complete_prepare(store, run_id, ("sheet.txt", SHEET_V1))
    decision = only_open(store, run_id)
    decide(store, decision, "approve", rationale="margin holds")
    events = {e["type"]: e["data"] for e in tx_events(store, run_id)}
    assert events["task.decided"]["data_hash"] == decision.data_hash
    assert events["run.started"]["attachments"] == [{"name": "deal.pdf", "sha256": hashlib.sha256(PDF).hexdigest(),
                                               "size": len(PDF), "media_type": "application/pdf"}]


def tx_events(store: Store, run_id: str) -> list[dict[str, Any]]:
    with store.read() as tx:
        return tx.events(run=run_id)


def test_documents_are_files_beside_a_sqlite_database_and_rows_in_postgresql(store: Store) -> None:
    start_with(store, ("deal.pdf", PDF))
    sha = hashlib.sha256(PDF).hexdigest()
    if store.engine.dialect.name == "sqlite":
        database = Path(str(store.engine.url.database))
        assert (database.parent / f"{database.name}-attachments" / sha[:2] / sha).read_bytes() == PDF
    else:
        with store.engine.connect() as conn:
            assert conn.execute(select(schema.blobs.c.data).where(schema.blobs.c.sha256 == sha)).scalar() == PDF


def test_a_recommendation_names_the_documents_it_was_made_on(store: Store) -> None:
    run_id = start_with(store, ("deal.pdf", PDF))
    complete_prepare(store, run_id, ("sheet.txt", SHEET_V1))
    act(store, "recommend", only_open(store, run_id), "carol", outcome="approve", rationale="margin is fine")
    recorded = next(e for e in tx_events(store, run_id) if e["type"] == "recommendation.recorded")
    assert recorded["data"]["documents"] == [hashlib.sha256(PDF).hexdigest(), hashlib.sha256(SHEET_V1).hexdigest()]


def test_the_message_about_a_task_names_the_runs_documents_with_their_hashes(store: Store) -> None:
    mailing = _limited(store, smtp_url="smtp://127.0.0.1:2525")
    try:
        run_id = start_with(mailing, ("deal.pdf", PDF))
        with mailing.read() as tx:
            mails = [row for row in tx.outbox() if row.run == run_id and row.channel == "email"]
    finally:
        mailing.close()
    sha = hashlib.sha256(PDF).hexdigest()
    assert mails and all(f"Document: deal.pdf (SHA-256 {sha}) http://127.0.0.1:8000/attachments/{sha}" in m.body
                         for m in mails)
