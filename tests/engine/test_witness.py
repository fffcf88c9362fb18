"""A witness, as its own process on loopback, cosigns checkpoints that extend and refuses rollbacks and forks."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledgerflow.domain import merkle, notes
from ledgerflow.engine.worker import Worker
from ledgerflow.storage.store import Store
from ledgerflow.trust import checkpoints, evidence
from ledgerflow.trust.checkpoints import Trust
from tests.engine.helpers import copy_tables, restore_tables, start

WITNESS_KEY, WITNESS_PUBLIC = evidence.new_key()
LOG_KEYS = [evidence.new_key() for _ in range(24)]
"""One log key per test: the witness keeps one history per log key."""
_unused = iter(LOG_KEYS)


@pytest.fixture(scope="module")
def witness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`ledgerflow witness serve` in a process of its own; yields its URL and its state folder."""
    state = tmp_path_factory.mktemp("witness")
    trusted = state.parent / "logs.txt"
    trusted.write_text("".join(public + "\n" for _, public in LOG_KEYS))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "LEDGERFLOW_WITNESS_SIGNING_KEY": WITNESS_KEY}
    log = open(state.parent / "witness.log", "wb")
    command = [str(Path(sys.executable).parent / "ledgerflow"), "witness", "serve", "--state", str(state),
               "--trust", str(trusted), "--name", "witness.example", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(url + "/", timeout=1.0)
            break
        except httpx.TransportError:
            assert process.poll() is None, (state.parent / "witness.log").read_text()
            assert time.monotonic() < deadline, "the witness did not start"
            time.sleep(0.05)
    try:
        yield url, state
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


@pytest.fixture
def log_key() -> tuple[str, str]:
    return next(_unused)


def _store(store: Store, key: str, url: str, folder: Path) -> Store:
    return Store(store.url, settings=replace(store.settings, signing_key=key, witness_urls=(url,),
                                             checkpoint_dir=str(folder)))


def _trust(public: str, cosignatures: int = 1) -> Trust:
    return Trust(notes.anchors([public], "log"), notes.anchors([WITNESS_PUBLIC], "witness"), cosignatures)


@pytest.fixture
def witnessed(store: Store, witness: tuple[str, Path], log_key: tuple[str, str], tmp_path: Path) -> Iterator[Store]:
    """The test's database as a service with a signing key of its own, a checkpoint folder and the witness."""
    db = _store(store, log_key[0], witness[0], tmp_path)
    yield db
    db.close()


def _publish(db: Store) -> tuple[checkpoints.Checkpoint, dict[str, Any]]:
    return checkpoints.publish(db, evidence.load_key(str(db.settings.signing_key)), actor="admin", channel="cli")


def test_the_witness_cosigns_checkpoints_that_extend(witnessed: Store, witness: tuple[str, Path],
                                                     log_key: tuple[str, str], tmp_path: Path) -> None:
    url, public = witness[0], log_key[1]
    start(witnessed)
    first, summary = _publish(witnessed)
    assert summary["witnesses"] == {url: "cosigned"} and summary["cosignatures"] == 1
    assert checkpoints.judged(first, _trust(public)) is None
    start(witnessed)
    second, summary = _publish(witnessed)
    assert summary["witnesses"] == {url: "cosigned"}
    assert checkpoints.judged(second, _trust(public, 2))["reason"] == "too-few-cosignatures"  # type: ignore[index]
    kept = checkpoints.load(str(tmp_path))
    assert [cp.statement.events for cp in kept] == [first.statement.events, second.statement.events]


def test_the_witness_refuses_a_rollback_and_keeps_the_refusal(witnessed: Store, witness: tuple[str, Path],
                                                              log_key: tuple[str, str]) -> None:
    (url, state), public = witness, log_key[1]
    start(witnessed)
    older = copy_tables(witnessed)
    start(witnessed)
    _publish(witnessed)
    restore_tables(witnessed, older)
    rolled, summary = _publish(witnessed)
    assert summary["witnesses"][url].startswith("refused (409): rolled-back")
    assert checkpoints.judged(rolled, _trust(public))["reason"] == "too-few-cosignatures"  # type: ignore[index]
    refusals = [json.loads(line) for line in (state / "refused.jsonl").read_text().splitlines()]
    assert any(r["origin"] == rolled.statement.origin and r["rule"] == "rolled-back" for r in refusals)


def test_the_witness_refuses_a_fork_at_the_same_length(witnessed: Store, witness: tuple[str, Path],
                                                       log_key: tuple[str, str]) -> None:
    run = start(witnessed)
    cp, _ = _publish(witnessed)
    forked = cp.document()
    length, _ = forked["heads"][run.id]
    forked["heads"][run.id] = [length, "f" * 64]
    answer = httpx.post(witness[0] + "/add-checkpoint", json=_resign(forked, log_key[0]), timeout=30)
    assert answer.status_code == 409 and answer.json()["rule"] == "fork"


def _resign(doc: dict[str, Any], key: str) -> dict[str, Any]:
    """The same statement over edited heads, with a root and signature made to match them."""
    heads = {c: (int(v[0]), str(v[1])) for c, v in doc["heads"].items()}
    old = checkpoints.statement(notes.parse(doc["note"]))
    _, hashed = checkpoints.leaves(heads)
    new = replace(old, root=merkle.root(hashed))
    body = new.body()
    return {**doc, "note": body + "\n" + notes.sign_line(evidence.load_key(key), new.origin, body)}


def test_the_witness_refuses_checkpoints_of_keys_it_does_not_trust(witness: tuple[str, Path], store: Store,
                                                                   tmp_path: Path) -> None:
    url, _ = witness
    stranger, _ = evidence.new_key()
    start(store)
    cp = checkpoints.take(store, evidence.load_key(stranger))
    answer = httpx.post(url + "/add-checkpoint", json=cp.document(), timeout=30)
    assert answer.status_code == 403 and answer.json()["rule"] == "untrusted-key"
    garbage = httpx.post(url + "/add-checkpoint", content=b"{not json", timeout=30)
    assert garbage.status_code == 400 and garbage.json()["rule"] == "malformed-json"  # the input gate's rule
    for hostile in (b'{"note": NaN}', b'{"note": "\\ud800"}', b"[" * 100_000 + b"]" * 100_000):
        answer = httpx.post(url + "/add-checkpoint", content=hostile, timeout=30)
        assert answer.status_code == 400 and answer.json()["rule"] in ("not-canonical", "input-too-deep")


def test_a_forged_cosignature_does_not_count(witnessed: Store, log_key: tuple[str, str]) -> None:
    trust = _trust(log_key[1])
    start(witnessed)
    cp, _ = _publish(witnessed)
    own = next(s for s in cp.note.signatures if s.name == cp.statement.origin)
    bare = notes.Note(cp.note.body, (own,))
    impostor, _ = evidence.new_key()
    forged = notes.parse(bare.text([notes.sign_line(evidence.load_key(impostor), "witness.example", bare.body)]))
    assert notes.judge(forged, cp.statement.origin, trust.logs, trust.witnesses, 1).reason == "too-few-cosignatures"
    real = next(s for s in cp.note.signatures if s.name != cp.statement.origin)
    tampered = notes.Note(cp.note.body, (own, notes.Signature(real.name, real.hash, bytes(64))))
    assert notes.judge(tampered, cp.statement.origin, trust.logs, trust.witnesses, 1).reason == "bad-signature"
    assert notes.judge(cp.note, cp.statement.origin, trust.logs, trust.witnesses, 1).reason is None


def test_the_worker_publishes_a_checkpoint_every_interval(store: Store, log_key: tuple[str, str],
                                                          tmp_path: Path) -> None:
    key, public = log_key
    db = Store(store.url, settings=replace(store.settings, signing_key=key, checkpoint_dir=str(tmp_path),
                                           checkpoint_every=timedelta(minutes=15)))
    try:
        start(db)
        worker = Worker(db)
        assert worker.tick()["checkpoints"] == 1
        assert worker.tick()["checkpoints"] == 0  # not due again for 15 minutes
        kept = checkpoints.load(str(tmp_path))
        assert len(kept) == 1 and checkpoints.judged(kept[0], Trust(notes.anchors([public], "log"))) is None
        with db.read() as tx:
            recorded = [e for e in tx.events() if e["type"] == "audit.checkpointed"]
        assert [(e["actor"], e["channel"]) for e in recorded] == [("system", "worker")]
        assert checkpoints.against(db, kept) is None
    finally:
        db.close()


def test_a_checkpoint_that_cannot_be_kept_is_tried_again_and_the_worker_goes_on(
        store: Store, log_key: tuple[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the checkpoint folder should be\n")
    now = [datetime(2026, 3, 2, 9, 0, tzinfo=UTC)]
    db = Store(store.url, settings=replace(store.settings, signing_key=log_key[0], checkpoint_dir=str(blocked),
                                           checkpoint_every=timedelta(minutes=15)))
    try:
        start(db)
        worker = Worker(db, clock=lambda: now[0])
        with caplog.at_level(logging.ERROR, logger="ledgerflow.engine.worker"):
            assert worker.tick()["checkpoint_failures"] == 1  # no exception out of the loop
        assert "checkpoint not published" in caplog.text and str(blocked) in caplog.text
        now[0] += timedelta(seconds=59)
        assert worker.tick()["checkpoint_failures"] == 0  # not before the retry minute
        with db.read() as tx:
            assert not [e for e in tx.events() if e["type"] == "audit.checkpointed"]
        blocked.unlink()
        now[0] += timedelta(seconds=1)
        counts = worker.tick()
        assert (counts["checkpoints"], counts["checkpoint_failures"]) == (1, 0)
        assert len(checkpoints.load(str(blocked))) == 1
    finally:
        db.close()
