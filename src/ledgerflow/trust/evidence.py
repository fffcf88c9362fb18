"""Evidence packs: one run's history that an auditor checks with nothing but the keys they trust.

A pack holds the run's chain of events, its playbook version and directory snapshot, a checkpoint's signed
note whose Merkle root covers the run's head, and the inclusion proof of that head (RFC 9162), so it
proves the run is in the signed log without revealing any other run. `verify_pack` trusts nothing the pack
says about keys: the signature must be by a key the verifier names.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledgerflow.domain import merkle, notes
from ledgerflow.domain.canonical import digest
from ledgerflow.domain.errors import EnvironmentProblem, InvalidInput
from ledgerflow.domain.source import parse_yaml
from ledgerflow.domain.times import format_time
from ledgerflow.storage.store import Store
from ledgerflow.trust import checkpoints
from ledgerflow.trust.audit import ATTACHING, chain_problem, replay_run
from ledgerflow.trust.checkpoints import Checkpoint, Trust

FORMAT = "ledgerflow-evidence/3"


def new_key() -> tuple[str, str]:
    """A fresh Ed25519 key pair as base64: (private seed for LEDGERFLOW_SIGNING_KEY, public key)."""
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                 serialization.NoEncryption())
    return base64.b64encode(seed).decode(), base64.b64encode(notes.public_bytes(private)).decode()


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
    except (ValueError, binascii.Error) as exc:
        raise InvalidInput(f"LEDGERFLOW_SIGNING_KEY is not an Ed25519 key: {exc}", rule="bad-signing-key") from None


def signing_key(text: str | None) -> Ed25519PrivateKey:
    if not text:
        raise InvalidInput("set LEDGERFLOW_SIGNING_KEY (see `ledgerflow audit keygen`)", rule="no-signing-key")
    return load_key(text)


def _covering(store: Store, run_id: str, head: tuple[int, str]) -> Checkpoint | None:
    """The newest stored checkpoint (in the checkpoint folder) that signed this run's head."""
    folder = store.settings.checkpoint_dir
    if not folder:
        return None
    try:
        kept = checkpoints.load(folder)
    except InvalidInput:
        return None
    for cp in reversed(kept):
        if cp.heads.get(run_id) == head:
            return cp
    return None


def listing(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The documents a run's events attach, once each in the order first attached, with whether retention
    removed their bytes: what a pack lists and what its verifier recomputes from the events."""
    found: dict[str, dict[str, Any]] = {}
    for event in events:
        data = event.get("data") or {}
        if event.get("type") == "attachment.removed" and data.get("sha256") in found:
            found[data["sha256"]]["removed"] = True
        elif event.get("type") in ATTACHING:
            for d in data.get("attachments") or ():
                found.setdefault(d["sha256"], {"sha256": d["sha256"], "name": d["name"], "size": d["size"],
                                               "media_type": d["media_type"], "removed": False})
    return list(found.values())


def _files(store: Store, documents: list[dict[str, Any]]) -> dict[str, str]:
    """The kept documents' bytes, base64, by hash; each checked against its hash on the way out."""
    files = {}
    for d in documents:
        if d["removed"]:
            continue
        data = store.blobs.get(d["sha256"])
        if data is None or hashlib.sha256(data).hexdigest() != d["sha256"]:
            raise EnvironmentProblem(f"the stored bytes of {d['name']} ({d['sha256']}) are missing or altered; run "
                                     "`ledgerflow audit verify`", rule="attachment-damaged")
        files[d["sha256"]] = base64.b64encode(data).decode()
    return files


def export_run(store: Store, run_id: str, *, actor: str = "admin", channel: str = "cli",
               with_attachments: bool = False) -> dict[str, Any]:
    """The evidence pack of one run: it lists the hashes of the run's documents and, `with_attachments`,
    carries their bytes.

    With a signing key, a fresh checkpoint is taken (and published like any other); without one, the
    newest kept checkpoint covering the run's head is used.

    Raises:
        NotFound: no such run.
        Conflict: no key, and no kept checkpoint covers the run's head (`no-checkpoint`).
    """
    with store.read(snapshot=True) as tx:
        tx.load_run(run_id)  # NotFound for an unknown run
        head = tx.chain_head(run_id)
    key_text = store.settings.signing_key
    if key_text:
        cp, _ = checkpoints.publish(store, load_key(key_text), actor=actor, channel=channel)
    else:
        found = _covering(store, run_id, head)
        if found is None:
            raise checkpoints.no_checkpoint(run_id)
        cp = found
    length, head_hash = cp.heads[run_id]
    with store.read(snapshot=True) as tx:
        run = tx.load_run(run_id)
        events = [row for row in tx.chain_tail(run_id, 0)[0] if row["chain_seq"] <= length]
        version = next(v for v in tx.playbook_versions(run.playbook) if v.version == run.version)
        directory = tx.directory_row()
        simulated = tx.simulated
    chains, hashed = checkpoints.leaves(cp.heads)
    index = chains.index(run_id)
    documents = listing(events)
    carried = {"with_attachments": True, "files": _files(store, documents)} if with_attachments else {}
    return {
        "format": FORMAT, "exported_at": format_time(datetime.now(UTC)), "simulated_clock": simulated,
        "run": {"run": run.id, "playbook": run.playbook, "version": run.version, "status": str(run.status),
                "started_by": run.started_by, "started_at": run.started_at, "ended_at": run.ended_at,
                "input": run.input},
        "playbook": {"id": run.playbook, "version": run.version, "content_hash": version.content_hash,
                     "source": version.source},
        "directory": {"version": directory.version, "digest": directory.digest, "data": directory.data}
        if directory is not None else None,
        "events": events,
        "head": {"chain": run_id, "length": length, "hash": head_hash},
        "checkpoint": cp.note.text(),
        "proof": {"index": index, "size": len(hashed),
                  "path": [base64.b64encode(node).decode() for node in merkle.inclusion_proof(index, hashed)]},
        "attachments": documents, **carried,
    }


def verify_pack(pack: Any, trust: Trust) -> dict[str, Any]:
    """Check an evidence pack offline: `{ok, events, first_bad}` like `audit verify`, plus who signed."""
    if not isinstance(pack, dict) or pack.get("format") != FORMAT:
        return _bad(pack, None, "not-an-evidence-pack", f"not a {FORMAT} file")
    try:
        run_id = str(pack["run"]["run"])
        events = list(pack["events"])
        head = pack["head"]
        head_at = (int(head["length"]), str(head["hash"]))
        note = notes.parse(pack["checkpoint"])
        proof = pack["proof"]
        path = [base64.b64decode(node, validate=True) for node in proof["path"]]
        index, size = int(proof["index"]), int(proof["size"])
        if not all(isinstance(e, dict) for e in events):
            raise TypeError("events")
    except (KeyError, TypeError, ValueError, binascii.Error, InvalidInput) as exc:
        return _bad(pack, None, "not-an-evidence-pack", f"missing or malformed part: {exc}")
    if head.get("chain") != run_id:
        return _bad(pack, None, "altered", "the pack's head is another run's")
    problem = chain_problem(run_id, events, head_at)
    if problem is not None:
        return _bad(pack, problem["seq"], problem["reason"], "the run's events do not recompute to its head")
    try:
        signed = checkpoints.statement(note)
    except InvalidInput as exc:
        return _bad(pack, None, "not-an-evidence-pack", str(exc))
    verdict = notes.judge(note, signed.origin, trust.logs, trust.witnesses, trust.cosignatures)
    if verdict.reason is not None:
        return _bad(pack, None, verdict.reason, verdict.detail)
    leaf = merkle.leaf_hash(merkle.leaf_bytes(run_id, *head_at))
    if size != signed.size or merkle.root_from_proof(index, size, leaf, path) != signed.root:
        return _bad(pack, None, "not-included", "the run's head is not proven in the signed checkpoint")
    state = replay_run(events)
    if state is None or str(state.status) != pack["run"].get("status"):
        return _bad(pack, events[-1]["seq"] if events else None, "state-mismatch", "replay gives another status")
    playbook = pack.get("playbook") or {}
    try:
        same = digest(parse_yaml(str(playbook["source"])).data) == playbook["content_hash"]
    except (KeyError, InvalidInput):
        same = False
    if not same:
        return _bad(pack, None, "playbook-mismatch", "the playbook source does not hash to its content hash")
    documents = documents_problem(pack, events)
    if documents is not None:
        return _bad(pack, None, *documents)
    return {"ok": True, "events": len(events), "first_bad": None, "attachments": len(pack.get("files") or {}),
            "checkpoint": {
        "origin": signed.origin, "time": signed.at, "signed": verdict.detail, "cosigners": list(verdict.cosigners)}}


def documents_problem(pack: dict[str, Any], events: list[dict[str, Any]]) -> tuple[str, str] | None:
    """(reason, detail) when the pack's documents disagree with its events: the list must be the one the events
    give, every file carried must hash to a listed document, and a pack made `with_attachments` must carry every
    document retention has not removed."""
    listed = listing(events)
    if (pack.get("attachments") or []) != listed:
        return "attachment-mismatch", "the pack's list of documents is not the one its events name"
    files = pack.get("files") or {}
    if not isinstance(files, dict):
        return "not-an-evidence-pack", "files is not an object"
    names = {d["sha256"] for d in listed}
    for sha256, encoded in files.items():
        try:
            data = base64.b64decode(str(encoded), validate=True)
        except binascii.Error:
            return "attachment-altered", f"{sha256} is not base64"
        if sha256 not in names:
            return "attachment-mismatch", f"{sha256} is carried but no event attaches it"
        if hashlib.sha256(data).hexdigest() != sha256:
            return "attachment-altered", f"the bytes carried as {sha256} hash otherwise"
    if pack.get("with_attachments"):
        missing = [d["sha256"] for d in listed if not d["removed"] and d["sha256"] not in files]
        if missing:
            return "attachment-missing", f"{missing[0]} is not carried"
    return None


def _bad(pack: Any, seq: Any, reason: str, detail: str) -> dict[str, Any]:
    run = pack.get("run") if isinstance(pack, dict) else None
    events = pack.get("events") if isinstance(pack, dict) else None
    return {"ok": False, "reason": reason, "events": len(events) if isinstance(events, list) else 0,
            "first_bad": {"seq": seq, "run": run.get("run") if isinstance(run, dict) else None, "reason": reason,
                          "detail": detail}}
