"""An auditor proves which bytes were approved (SPEC §14): evidence packs list and carry documents, check-pack and
tools/verify_pack.py verify them offline, and `audit verify` finds a document altered or lost where it is kept."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from ledgerflow.domain import notes
from ledgerflow.engine import documents, service
from ledgerflow.storage import schema
from ledgerflow.storage.store import Store
from ledgerflow.trust import audit, checkpoints, evidence
from tests.engine.helpers import GOOD_OUTPUT, act, caller, decide, only_open
from tests.engine.test_pack_tool import KEY, PUBLIC, _run

INPUT = {"customer": "Acme", "deal_value": 12000, "discount_pct": 18}
PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n%%EOF\n"
SHEET = b"deal sheet: 18% off list, margin 31%\n"
TRUST = checkpoints.Trust(notes.anchors([PUBLIC], "test"), notes.Anchors(), 0)


def approved_run(store: Store) -> str:
    """A run whose deal sheet was attached, then approved."""
    run, _ = service.start_run(store, "pricing-exception", INPUT, caller("bob"),
                               attachments=documents.keep(store, [("deal.pdf", PDF)]))
    act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT,
        attachments=documents.keep(store, [("sheet.txt", SHEET)]))
    decide(store, only_open(store, run.id), "approve", rationale="margin holds")
    return run.id


def pack_of(store: Store, run_id: str, *, with_attachments: bool) -> dict[str, Any]:
    signing = Store(store.url, settings=replace(store.settings, signing_key=KEY))
    try:
        exported = evidence.export_run(signing, run_id, with_attachments=with_attachments)
    finally:
        signing.close()
    return dict(json.loads(json.dumps(exported)))


def tool_verdict(pack: dict[str, Any], tmp_path: Path) -> dict[str, Any] | None:
    path = tmp_path / "pack.json"
    path.write_text(json.dumps(pack))
    return _run(str(path), "--trust", PUBLIC)[1]


def test_a_pack_lists_the_hashes_and_carries_the_bytes_that_verify_offline(store: Store, tmp_path: Path) -> None:
    pack = pack_of(store, approved_run(store), with_attachments=True)
    assert [(d["name"], d["sha256"]) for d in pack["attachments"]] == [
        ("deal.pdf", hashlib.sha256(PDF).hexdigest()), ("sheet.txt", hashlib.sha256(SHEET).hexdigest())]
    assert base64.b64decode(pack["files"][hashlib.sha256(SHEET).hexdigest()]) == SHEET
    verdict = evidence.verify_pack(pack, TRUST)
    assert verdict["ok"] is True and verdict["attachments"] == 2
    tool = tool_verdict(pack, tmp_path)
    assert tool is not None and tool["ok"] is True and tool["attachments"] == 2


def test_a_pack_without_files_still_lists_every_hash(store: Store) -> None:
    pack = pack_of(store, approved_run(store), with_attachments=False)
    assert len(pack["attachments"]) == 2 and "files" not in pack
    assert evidence.verify_pack(pack, TRUST)["ok"] is True


def _swap_bytes(pack: dict[str, Any]) -> None:
    pack["files"][hashlib.sha256(SHEET).hexdigest()] = base64.b64encode(SHEET.replace(b"31", b"13")).decode()


def _drop_listed(pack: dict[str, Any]) -> None:
    pack["attachments"].pop()


def _drop_file(pack: dict[str, Any]) -> None:
    del pack["files"][hashlib.sha256(PDF).hexdigest()]


@pytest.mark.parametrize(("tamper", "reason"), [
    (_swap_bytes, "attachment-altered"), (_drop_listed, "attachment-mismatch"), (_drop_file, "attachment-missing")])
def test_a_pack_whose_documents_were_tampered_with_is_refused_by_both_verifiers(
        store: Store, tmp_path: Path, tamper: Any, reason: str) -> None:
    pack = pack_of(store, approved_run(store), with_attachments=True)
    tamper(pack)
    verdict = evidence.verify_pack(pack, TRUST)
    assert verdict["ok"] is False and verdict["first_bad"]["reason"] == reason
    tool = tool_verdict(pack, tmp_path)
    assert tool is not None and tool["ok"] is False and tool["reason"] == reason


def _alter_kept(store: Store, sha256: str, data: bytes | None) -> None:
    """Change (or, with None, remove) a kept document behind ledgerflow's back."""
    if store.engine.dialect.name == "sqlite":
        database = Path(str(store.engine.url.database))
        path = database.parent / f"{database.name}-attachments" / sha256[:2] / sha256
        if data is None:
            path.unlink()
        else:
            path.write_bytes(data)
        return
    blobs = schema.blobs
    with store.engine.begin() as conn:
        if data is None:
            conn.execute(delete(blobs).where(blobs.c.sha256 == sha256))
        else:
            conn.execute(update(blobs).where(blobs.c.sha256 == sha256).values(data=data))


@pytest.mark.parametrize(("data", "reason"), [(SHEET.replace(b"31", b"13"), "attachment-altered"),
                                              (None, "attachment-missing")])
def test_audit_verify_finds_a_document_altered_or_lost_where_it_is_kept(store: Store, data: bytes | None,
                                                                         reason: str) -> None:
    run_id = approved_run(store)
    assert audit.verify(store)["ok"] is True
    sha256 = hashlib.sha256(SHEET).hexdigest()
    with store.read() as tx:  # the completion that attached the sheet
        attached = next(e["seq"] for e in tx.events(run=run_id) if e["type"] == "task.completed")
    _alter_kept(store, sha256, data)
    result = audit.verify(store)
    assert result["ok"] is False
    assert result["first_bad"] == {"seq": attached, "run": run_id, "reason": reason, "detail": sha256}


def test_a_documents_record_changed_on_the_runs_row_is_a_state_mismatch(store: Store) -> None:
    run_id = approved_run(store)
    runs = schema.runs
    with store.engine.begin() as conn:
        stored = conn.execute(select(runs.c.attachments).where(runs.c.id == run_id)).scalar_one()
        stored[1]["sha256"] = hashlib.sha256(PDF).hexdigest()  # the sheet's record now names the other document
        conn.execute(update(runs).where(runs.c.id == run_id).values(attachments=stored))
    fresh = Store(store.url)  # no run kept in memory
    try:
        result = audit.verify(fresh)
    finally:
        fresh.close()
    assert result["ok"] is False
    assert (result["first_bad"]["reason"], result["first_bad"]["run"]) == ("state-mismatch", run_id)
