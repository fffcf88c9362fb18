"""Retention of documents and the legal hold (SPEC §14), on both databases: bytes go when the playbook says,
the history keeps every hash, a hold stops removal, and documents no run refers to are swept."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest

from ledgerflow.domain.errors import Conflict, Forbidden, InvalidTransition, LoadError
from ledgerflow.domain.playbook import load_playbook
from ledgerflow.domain.source import parse_yaml
from ledgerflow.engine import documents, service
from ledgerflow.engine.tokens import ACTOR, Principal
from ledgerflow.storage.store import Store
from ledgerflow.trust import audit
from tests.conftest import PRICING
from tests.engine.helpers import caller, changes_nothing, run_state

INPUT = {"customer": "Acme", "deal_value": 12000, "discount_pct": 18}
PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n%%EOF\n"
SHA = hashlib.sha256(PDF).hexdigest()
OWNER = "sam"  # the pricing-exception's workflow owner


@pytest.fixture
def kept_30_days(store: Store, tmp_path: Path) -> Store:
    """pricing-exception republished keeping documents 30 days after a run ends."""
    path = tmp_path / "pricing-exception.yaml"
    path.write_text(PRICING.read_text() + "retention:\n  attachments: 30d\n")
    service.publish(store, str(path), caller("admin"))
    return store


def ended_run(store: Store, *files: tuple[str, bytes]) -> str:
    run, _ = service.start_run(store, "pricing-exception", INPUT, caller("bob"),
                               attachments=documents.keep(store, files or [("deal.pdf", PDF)]))
    service.cancel_run(store, run.id, caller("bob"), "the customer walked away")
    return run.id


def later(store: Store, duration: str) -> None:
    service.advance_clock(store, duration, caller("admin"))


def test_documents_are_kept_until_their_retention_has_passed(kept_30_days: Store) -> None:
    store = kept_30_days
    run_id = ended_run(store)
    later(store, "29d")
    assert documents.sweep(store)["removed"] == []
    assert store.blobs.get(SHA) == PDF
    later(store, "2d")
    result = documents.sweep(store)
    assert result["removed"] == [{"run": run_id, "sha256": SHA, "name": "deal.pdf"}] and result["deleted"] == 1
    assert store.blobs.get(SHA) is None


def test_a_removal_is_recorded_and_the_history_still_names_the_hash(kept_30_days: Store) -> None:
    store = kept_30_days
    run_id = ended_run(store)
    later(store, "31d")
    documents.sweep(store)
    with store.read() as tx:
        events = tx.events(run=run_id)
    assert events[-1]["type"] == "attachment.removed" and events[-1]["data"]["sha256"] == SHA
    assert events[0]["data"]["attachments"][0]["sha256"] == SHA
    assert run_state(store, run_id).attachments[0].removed_at is not None
    assert audit.verify(store)["ok"] is True  # removed by retention is not missing
    with pytest.raises(Conflict) as caught:
        documents.fetch(store, Principal(token_id="t", actor="bob", kind=ACTOR), SHA)
    assert caught.value.rule == "attachment-removed"


def test_a_legal_hold_stops_removal_until_it_is_released(kept_30_days: Store) -> None:
    store = kept_30_days
    run_id = ended_run(store)
    held = documents.set_hold(store, run_id, caller(OWNER), held=True, reason="matter 2026-114")
    assert held.held
    later(store, "400d")
    assert documents.sweep(store)["removed"] == []
    assert store.blobs.get(SHA) == PDF
    documents.set_hold(store, run_id, caller(OWNER), held=False, reason="matter closed")
    assert [r["run"] for r in documents.sweep(store)["removed"]] == [run_id]
    assert audit.verify(store)["ok"] is True


def test_a_hold_by_someone_who_does_not_own_the_playbook_is_refused_and_changes_nothing(kept_30_days: Store) -> None:
    run_id = ended_run(kept_30_days)
    with changes_nothing(kept_30_days), pytest.raises(Forbidden) as caught:
        documents.set_hold(kept_30_days, run_id, caller("bob"), held=True, reason="mine")
    assert caught.value.rule == "hold-not-allowed"
    with changes_nothing(kept_30_days), pytest.raises(InvalidTransition):
        documents.set_hold(kept_30_days, run_id, caller(OWNER), held=False, reason="was never held")


def test_bytes_another_run_still_keeps_stay_when_one_runs_retention_passes(kept_30_days: Store) -> None:
    store = kept_30_days
    first = ended_run(store)
    later(store, "20d")
    service.start_run(store, "pricing-exception", INPUT, caller("bob"),
                      attachments=documents.keep(store, [("same.pdf", PDF)]))  # running: kept
    later(store, "11d")
    result = documents.sweep(store)
    assert [r["run"] for r in result["removed"]] == [first] and result["deleted"] == 0
    assert store.blobs.get(SHA) == PDF
    assert audit.verify(store)["ok"] is True


def test_a_playbook_without_retention_keeps_documents_for_ever(store: Store) -> None:
    ended_run(store)
    later(store, "3650d")
    assert documents.sweep(store)["removed"] == []
    assert store.blobs.get(SHA) == PDF


def test_documents_no_run_refers_to_are_swept_after_the_grace_period(store: Store) -> None:
    (orphan,) = documents.keep(store, [("never-used.txt", b"uploaded, then the command failed\n")])
    ended_run(store)
    assert documents.sweep(store)["orphans"] == 0  # within the default grace of a day
    assert documents.sweep(store, grace=timedelta(0))["orphans"] == 1
    assert store.blobs.get(orphan.sha256) is None and store.blobs.get(SHA) == PDF


def test_a_retention_that_is_not_a_mapping_does_not_load() -> None:
    with pytest.raises(LoadError):
        load_playbook(parse_yaml(PRICING.read_text() + "retention: 30d\n", "p.yaml"))


def test_a_retention_that_is_not_a_duration_is_a_load_finding() -> None:
    playbook = load_playbook(parse_yaml(PRICING.read_text() + "retention: {attachments: forever}\n", "p.yaml"))
    assert [(f.rule, f.path) for f in playbook.issues] == [("load-error", "retention.attachments")]


def test_an_unknown_retention_key_is_a_lint_finding() -> None:
    playbook = load_playbook(parse_yaml(PRICING.read_text() + "retention: {documents: 30d}\n", "p.yaml"))
    assert [(f.rule, f.path) for f in playbook.issues] == [("unknown-key", "retention.documents")]


def test_the_worker_sweeps_once_an_hour(kept_30_days: Store) -> None:
    from datetime import UTC, datetime

    from ledgerflow.engine.worker import Worker

    store = kept_30_days
    ended_run(store)
    moments = iter([datetime(2027, 1, 1, 9, 0, tzinfo=UTC), datetime(2027, 1, 1, 9, 30, tzinfo=UTC)])
    now = next(moments)
    worker = Worker(store, clock=lambda: now)
    later(store, "31d")
    assert worker.tick()["documents_removed"] == 1
    (orphan,) = documents.keep(store, [("stray.txt", b"no run refers to me\n")])
    now = next(moments)
    assert worker.tick()["documents_removed"] == 0  # not due again within the hour
    assert store.blobs.get(orphan.sha256) is not None
