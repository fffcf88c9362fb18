"""`ledgerflow backup` / `restore`: a consistent copy taken while the ledger serves, put back onto an empty
database of either kind; a file cut short, altered or foreign is refused before anything is written."""

from __future__ import annotations

import gzip
import threading
from pathlib import Path

import pytest
from sqlalchemy import inspect

from ledgerflow.domain.errors import Conflict, InvalidInput
from ledgerflow.ops.backup import backup, restore
from ledgerflow.storage.database import make_engine
from ledgerflow.storage.store import Store
from ledgerflow.trust import audit, checkpoints, evidence
from tests.conftest import BACKENDS, drop_schema, fresh_url
from tests.engine.helpers import finished_run, snapshot, start


def _restored(file: Path, backend: str, tmp_path: Path) -> Store:
    (tmp_path / f"to-{backend}").mkdir(exist_ok=True)
    url = fresh_url(backend, tmp_path / f"to-{backend}")
    engine = make_engine(url)
    try:
        restore(engine, url, str(file))
    finally:
        engine.dispose()
    return Store(url)


def _backup(store: Store, file: Path) -> dict[str, object]:
    return backup(store.engine, store.url, str(file))


@pytest.mark.parametrize("onto", BACKENDS)
def test_a_backup_restores_every_row_onto_either_database_and_verifies(store: Store, tmp_path: Path,
                                                                         onto: str) -> None:
    finished_run(store)
    start(store)
    taken = _backup(store, tmp_path / "ledger.lfb")
    copy = _restored(tmp_path / "ledger.lfb", onto, tmp_path)
    try:
        assert snapshot(copy) == snapshot(store)
        assert audit.verify(copy)["ok"] and taken["events"] == audit.verify(copy)["events"]
        start(copy)  # the copy takes new work: its ids and sequences carry on past the restored rows
        finished_run(copy)
        assert audit.verify(copy)["ok"]
    finally:
        copy.close()
        drop_schema(copy.url)


def test_a_backup_taken_under_writes_is_one_consistent_moment(store: Store, tmp_path: Path) -> None:
    stop, failures = threading.Event(), []

    def write() -> None:
        try:
            while not stop.is_set():
                finished_run(store)
        except Exception as exc:  # pragma: no cover - reported below
            failures.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        finished_run(store)
        _backup(store, tmp_path / "busy.lfb")
    finally:
        stop.set()
        writer.join()
    assert not failures
    copy = _restored(tmp_path / "busy.lfb", store.engine.dialect.name, tmp_path)
    try:
        report = audit.verify(copy)
        assert report["ok"], report
        with store.read() as tx:
            source = {e["seq"]: e["hash"] for e in tx.events()}
        with copy.read() as tx:
            copied = {e["seq"]: e["hash"] for e in tx.events()}
        assert copied and all(source[seq] == digest for seq, digest in copied.items())  # nothing half-written
    finally:
        copy.close()
        drop_schema(copy.url)


def test_a_restored_older_copy_is_found_behind_the_last_checkpoint(store: Store, tmp_path: Path) -> None:
    private, _public = evidence.new_key()
    finished_run(store)
    _backup(store, tmp_path / "monday.lfb")
    finished_run(store)
    tuesday = checkpoints.take(store, evidence.load_key(private))
    copy = _restored(tmp_path / "monday.lfb", store.engine.dialect.name, tmp_path)
    try:
        assert audit.verify(copy)["ok"]  # a whole, older history: only the checkpoint shows what is missing
        lost = checkpoints.against(copy, [tuesday])
        assert lost is not None and lost["reason"] == "rolled-back", lost
        assert checkpoints.against(store, [tuesday]) is None
    finally:
        copy.close()
        drop_schema(copy.url)


def test_a_backup_never_replaces_a_file(store: Store, tmp_path: Path) -> None:
    kept = tmp_path / "kept.lfb"
    kept.write_bytes(b"yesterday's backup")
    with pytest.raises(InvalidInput) as refused:
        _backup(store, kept)
    assert refused.value.rule == "file-exists" and kept.read_bytes() == b"yesterday's backup"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


def test_restore_goes_onto_an_empty_database_only(store: Store, tmp_path: Path) -> None:
    _backup(store, tmp_path / "a.lfb")
    before = snapshot(store)
    with pytest.raises(Conflict) as refused:
        restore(store.engine, store.url, str(tmp_path / "a.lfb"))
    assert refused.value.rule == "not-empty" and snapshot(store) == before


def _rewrite(source: Path, target: Path, change: str) -> None:
    lines = gzip.decompress(source.read_bytes()).splitlines(keepends=True)
    if change == "cut":
        lines = lines[:-3]
    elif change == "altered":
        row = next(i for i, line in enumerate(lines) if b'"approve"' in line and line.startswith(b"["))
        lines[row] = lines[row].replace(b'"approve"', b'"reject"', 1)
    elif change == "appended":
        lines.append(lines[-2])
    target.write_bytes(gzip.compress(b"".join(lines)))


@pytest.mark.parametrize("change", ["cut", "altered", "appended", "not-gzip", "not-a-backup", "missing"])
def test_a_damaged_or_foreign_file_is_refused_before_anything_is_written(store: Store, tmp_path: Path,
                                                                        change: str) -> None:
    finished_run(store)
    good, bad = tmp_path / "good.lfb", tmp_path / "bad.lfb"
    _backup(store, good)
    if change == "not-gzip":
        bad.write_bytes(b"id,seq\n1,2\n")
    elif change == "not-a-backup":
        bad.write_bytes(gzip.compress(b'{"format": "something-else"}\n'))
    elif change != "missing":
        _rewrite(good, bad, change)
    (tmp_path / "empty").mkdir()
    url = fresh_url(store.engine.dialect.name, tmp_path / "empty")
    engine = make_engine(url)
    try:
        with pytest.raises(InvalidInput) as refused:
            restore(engine, url, str(bad))
        assert refused.value.rule == ("file-not-found" if change == "missing" else "bad-backup")
        with engine.connect() as conn:
            assert inspect(conn).get_table_names() == []
    finally:
        engine.dispose()
        drop_schema(url)


@pytest.mark.parametrize("onto", BACKENDS)
def test_a_backup_carries_the_documents_to_either_database(store: Store, tmp_path: Path, onto: str) -> None:
    import hashlib

    from ledgerflow.engine import documents, service
    from tests.engine.helpers import caller

    pdf = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n%%EOF\n"
    service.start_run(store, "pricing-exception", {"customer": "Acme", "deal_value": 12000, "discount_pct": 18},
                      caller("bob"), attachments=documents.keep(store, [("deal.pdf", pdf)]))
    taken = _backup(store, tmp_path / "ledger.lfb")
    assert taken["rows"]["blobs"] == 1  # type: ignore[index]
    copy = _restored(tmp_path / "ledger.lfb", onto, tmp_path)
    try:
        assert copy.blobs.get(hashlib.sha256(pdf).hexdigest()) == pdf
        assert audit.verify(copy)["ok"]
    finally:
        copy.close()
        drop_schema(copy.url)
