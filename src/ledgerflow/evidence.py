"""Evidence that stands outside the database: signed checkpoints and per-run evidence packs.

A checkpoint is the head (length, hash) of every chain, read at one moment and signed with Ed25519
(`LEDGERFLOW_SIGNING_KEY`), kept wherever the operator keeps it: an attacker who rewrites history *and*
the stored heads is caught by any older checkpoint. An evidence pack holds one run's chain in full, its
head, the playbook version and the directory, and the head signed when a key is configured: `verify_pack`
checks it all without a database.
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

from ledgerflow.audit import chain_problem, earliest, replay_run
from ledgerflow.domain.canonical import canonical_json, digest
from ledgerflow.domain.errors import InvalidInput
from ledgerflow.domain.source import parse_yaml
from ledgerflow.domain.times import format_time
from ledgerflow.storage.schema import SYSTEM_CHAIN
from ledgerflow.storage.store import Store

FORMAT = "ledgerflow-evidence/2"
CHECKPOINT_FORMAT = "ledgerflow-checkpoint/2"


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


def sign(key: Ed25519PrivateKey, body: dict[str, Any]) -> dict[str, Any]:
    """The body with the public key and an Ed25519 signature over its canonical JSON."""
    signature = base64.b64encode(key.sign(canonical_json(body))).decode()
    return {**body, "public_key": _public(key), "signature": signature}


def check_signature(signed: dict[str, Any]) -> bool:
    body = {k: v for k, v in signed.items() if k not in ("public_key", "signature")}
    try:
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(signed["public_key"]))
        public.verify(base64.b64decode(signed["signature"]), canonical_json(body))
    except (InvalidSignature, ValueError, KeyError, TypeError):
        return False
    return True


def checkpoint(store: Store, key_text: str | None) -> dict[str, Any]:
    """Sign the head of every chain, read at one moment: the whole log as it stands."""
    if not key_text:
        raise InvalidInput("set LEDGERFLOW_SIGNING_KEY (see `ledgerflow audit keygen`)", rule="no-signing-key")
    key = load_key(key_text)
    with store.read(snapshot=True) as tx:
        heads = tx.chain_heads()
    events = sum(length for length, _ in heads.values())
    return sign(key, {"format": CHECKPOINT_FORMAT, "at": format_time(datetime.now(UTC)), "events": events,
                      "heads": {chain: [length, hash_] for chain, (length, hash_) in sorted(heads.items())}})


def check_against(store: Store, saved: dict[str, Any]) -> dict[str, Any] | None:
    """A first_bad object when the database disagrees with a signed checkpoint, else None.

    Every chain the checkpoint names must still hold, at the signed length, the event with the signed hash:
    history rewritten or cut before the checkpoint shows, whatever was done to the stored heads.
    """
    if saved.get("format") != CHECKPOINT_FORMAT or not check_signature(saved):
        return {"seq": None, "run": None, "reason": "checkpoint-signature"}
    signed: dict[str, list[Any]] = saved["heads"]
    names = sorted(signed)
    problems: list[dict[str, Any]] = []
    with store.read(snapshot=True) as tx:
        for start in range(0, len(names), 500):
            batch = names[start:start + 500]
            found = tx.chain_links([(chain, int(signed[chain][0])) for chain in batch])
            for chain in batch:
                length, hash_ = signed[chain]
                row = found.get((chain, int(length)))
                run = None if chain == SYSTEM_CHAIN else chain
                if row is None:
                    problems.append({"seq": None, "run": run, "reason": "truncated"})
                elif row[1] != hash_:
                    problems.append({"seq": row[0], "run": run, "reason": "altered"})
    return earliest(problems)


def export_run(store: Store, run_id: str, key_text: str | None) -> dict[str, Any]:
    """The evidence pack of one run: its whole chain, its head, and that head signed when a key is set."""
    with store.read(snapshot=True) as tx:
        run = tx.load_run(run_id)
        events = tx.events(run=run_id)
        length, head_hash = tx.chain_head(run_id)
        version = next(v for v in tx.playbook_versions(run.playbook) if v.version == run.version)
        directory = tx.directory_row()
        simulated = tx.simulated
    head = {"chain": run_id, "length": length, "hash": head_hash}
    pack: dict[str, Any] = {
        "format": FORMAT, "exported_at": format_time(datetime.now(UTC)), "simulated_clock": simulated,
        "run": {"run": run.id, "playbook": run.playbook, "version": run.version, "status": str(run.status),
                "started_by": run.started_by, "started_at": run.started_at, "ended_at": run.ended_at,
                "input": run.input},
        "playbook": {"id": run.playbook, "version": run.version, "content_hash": version.content_hash,
                     "source": version.source},
        "directory": {"version": directory.version, "digest": directory.digest, "data": directory.data}
        if directory is not None else None,
        "events": events, "head": head,
        "checkpoint": sign(load_key(key_text), {**head, "at": format_time(datetime.now(UTC))}) if key_text else None,
    }
    return pack


def verify_pack(pack: dict[str, Any]) -> dict[str, Any]:
    """Check an evidence pack offline: `{ok, events, first_bad}` like `audit verify`."""
    events = pack.get("events", [])

    def bad(seq: Any, reason: str) -> dict[str, Any]:
        return {"ok": False, "events": len(events), "first_bad": {
            "seq": seq, "run": pack.get("run", {}).get("run"), "reason": reason}}

    if pack.get("format") != FORMAT:
        return bad(None, "not-an-evidence-pack")
    run_id = pack["run"]["run"]
    head = pack["head"]
    if head.get("chain") != run_id:
        return bad(None, "altered")
    problem = chain_problem(run_id, events, (int(head["length"]), str(head["hash"])))
    if problem is not None:
        return bad(problem["seq"], problem["reason"])
    saved = pack.get("checkpoint")
    if saved is not None and (not check_signature(saved) or
                              [saved.get(k) for k in ("chain", "length", "hash")] != [run_id, head["length"],
                                                                                      head["hash"]]):
        return bad(None, "checkpoint-signature")
    state = replay_run(events)
    if state is None or str(state.status) != pack["run"]["status"]:
        return bad(events[-1]["seq"] if events else None, "state-mismatch")
    playbook = pack["playbook"]
    if digest(parse_yaml(playbook["source"]).data) != playbook["content_hash"]:
        return bad(None, "playbook-mismatch")
    return {"ok": True, "events": len(events), "first_bad": None}


def write_json(path: str, value: Any) -> None:
    try:
        Path(path).write_text(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot write {path}: {exc.strerror}", rule="file-unwritable") from None
