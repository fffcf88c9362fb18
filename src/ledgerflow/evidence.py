"""Evidence that stands outside the database: signed checkpoints and per-run evidence packs.

A checkpoint is the chain head (seq, hash, time) signed with Ed25519 (`LEDGERFLOW_SIGNING_KEY`), kept
wherever the operator keeps it: an attacker who rewrites history *and* the stored head is caught by any
older checkpoint. An evidence pack holds one run's events in full, the hash links of every event from the
run's first to the head (other runs' content left out), the playbook version and the directory, and a
checkpoint when a key is configured: `verify_pack` checks it all without a database.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledgerflow.audit import replay
from ledgerflow.domain.canonical import canonical_json, digest
from ledgerflow.domain.errors import InvalidInput
from ledgerflow.domain.source import parse_yaml
from ledgerflow.domain.times import format_time
from ledgerflow.storage.store import Store, event_hash

FORMAT = "ledgerflow-evidence/1"


def new_key() -> tuple[str, str]:
    """A fresh Ed25519 key pair as base64: (private seed for LEDGERFLOW_SIGNING_KEY, public key)."""
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                 serialization.NoEncryption())
    return base64.b64encode(seed).decode(), _public(private)


def _public(private: Ed25519PrivateKey) -> str:
    raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def load_key(text: str) -> Ed25519PrivateKey:
    """LEDGERFLOW_SIGNING_KEY: base64 of the 32-byte seed, or a PEM private key.

    Raises:
        InvalidInput: neither.
    """
    try:
        if text.strip().startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(text.encode(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError("not Ed25519")
            return key
        return Ed25519PrivateKey.from_private_bytes(base64.b64decode(text.strip(), validate=True))
    except ValueError as exc:
        raise InvalidInput(f"LEDGERFLOW_SIGNING_KEY is not an Ed25519 key: {exc}", rule="bad-signing-key") from None


def sign_head(key: Ed25519PrivateKey, seq: int, hash_: str, at: str) -> dict[str, Any]:
    body = {"seq": seq, "hash": hash_, "at": at}
    signature = base64.b64encode(key.sign(canonical_json(body))).decode()
    return {**body, "public_key": _public(key), "signature": signature}


def check_signature(checkpoint: dict[str, Any]) -> bool:
    body = {k: checkpoint[k] for k in ("seq", "hash", "at")}
    try:
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(checkpoint["public_key"]))
        public.verify(base64.b64decode(checkpoint["signature"]), canonical_json(body))
    except (InvalidSignature, ValueError, KeyError):
        return False
    return True


def checkpoint(store: Store, key_text: str | None) -> dict[str, Any]:
    """Sign the current chain head."""
    if not key_text:
        raise InvalidInput("set LEDGERFLOW_SIGNING_KEY (see `ledgerflow audit keygen`)", rule="no-signing-key")
    with store.read() as tx:
        head = tx.chain_head()
    return sign_head(load_key(key_text), head.seq, head.hash, format_time(datetime.now(UTC)))


def check_against(store: Store, saved: dict[str, Any]) -> dict[str, Any] | None:
    """A first_bad object when the database's chain disagrees with a signed checkpoint, else None."""
    if not check_signature(saved):
        return {"seq": saved.get("seq"), "run": None, "reason": "checkpoint-signature"}
    with store.read() as tx:
        rows = tx.events(after_seq=int(saved["seq"]) - 1, limit=1)
        head = tx.chain_head()
    if head.seq < saved["seq"] or not rows or rows[0]["seq"] != saved["seq"]:
        return {"seq": saved["seq"], "run": None, "reason": "truncated"}
    if rows[0]["hash"] != saved["hash"]:
        return {"seq": saved["seq"], "run": rows[0]["run"], "reason": "altered"}
    return None


def export_run(store: Store, run_id: str, key_text: str | None) -> dict[str, Any]:
    """The evidence pack of one run."""
    with store.read() as tx:
        run = tx.load_run(run_id)
        events = tx.events(run=run_id)
        first = events[0]["seq"] if events else 0
        links = [[r["seq"], r["prev_hash"], r["hash"]] for r in tx.events(after_seq=first - 1)]
        head = tx.chain_head()
        version = next(v for v in tx.playbook_versions(run.playbook) if v.version == run.version)
        directory = tx.directory_row()
        simulated = tx.simulated
    pack: dict[str, Any] = {
        "format": FORMAT, "exported_at": format_time(datetime.now(UTC)), "simulated_clock": simulated,
        "run": {"run": run.id, "playbook": run.playbook, "version": run.version, "status": str(run.status),
                "started_by": run.started_by, "started_at": run.started_at, "ended_at": run.ended_at,
                "input": run.input},
        "playbook": {"id": run.playbook, "version": run.version, "content_hash": version.content_hash,
                     "source": version.source},
        "directory": {"version": directory.version, "digest": directory.digest, "data": directory.data}
        if directory is not None else None,
        "events": events, "chain": links, "head": {"seq": head.seq, "hash": head.hash},
        "checkpoint": sign_head(load_key(key_text), head.seq, head.hash, format_time(datetime.now(UTC)))
        if key_text else None,
    }
    return pack


def verify_pack(pack: dict[str, Any]) -> dict[str, Any]:
    """Check an evidence pack offline: `{ok, events, first_bad}` like `audit verify`."""
    def bad(seq: Any, reason: str) -> dict[str, Any]:
        return {"ok": False, "events": len(pack.get("events", [])), "first_bad": {
            "seq": seq, "run": pack.get("run", {}).get("run"), "reason": reason}}

    if pack.get("format") != FORMAT:
        return bad(None, "not-an-evidence-pack")
    links = {int(seq): (prev, hash_) for seq, prev, hash_ in pack["chain"]}
    for event in pack["events"]:
        body = {k: v for k, v in event.items() if k != "hash"}
        if event_hash(body) != event["hash"]:
            return bad(event["seq"], "altered")
        if links.get(event["seq"]) != (event["prev_hash"], event["hash"]):
            return bad(event["seq"], "inserted")
    previous: tuple[int, str] | None = None
    for seq in sorted(links):
        prev, hash_ = links[seq]
        if previous is not None and (seq != previous[0] + 1 or prev != previous[1]):
            return bad(seq, "removed" if seq != previous[0] + 1 else "reordered")
        previous = (seq, hash_)
    head = pack["head"]
    if previous is None or (previous[0], previous[1]) != (head["seq"], head["hash"]):
        return bad(head["seq"], "truncated")
    saved = pack.get("checkpoint")
    if saved is not None and (not check_signature(saved) or links.get(saved["seq"], ("", ""))[1] != saved["hash"]):
        return bad(saved.get("seq"), "checkpoint-signature")
    states, _ = replay(pack["events"])
    state = states.get(pack["run"]["run"])
    if state is None or str(state.status) != pack["run"]["status"]:
        return bad(pack["events"][-1]["seq"] if pack["events"] else None, "state-mismatch")
    playbook = pack["playbook"]
    if digest(parse_yaml(playbook["source"]).data) != playbook["content_hash"]:
        return bad(None, "playbook-mismatch")
    return {"ok": True, "events": len(pack["events"]), "first_bad": None}


def write_json(path: str, value: Any) -> None:
    try:
        Path(path).write_text(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot write {path}: {exc.strerror}", rule="file-unwritable") from None
