"""Checkpoints: every chain's head at one moment, committed to by a Merkle root in a signed note.

A checkpoint file holds the signed note (C2SP signed-note text, its body a tlog-checkpoint: origin, number
of chains, root, then `events`, `last-seq` and `time`) and the heads it commits to. The note is what is
signed and cosigned; the heads are bound to it by the root, so anyone can recompute it. Files are kept
outside the database (`LEDGERFLOW_CHECKPOINT_DIR`, append-only) and cosigned by witnesses the database's
admin does not control; each is also recorded as an `audit.checkpointed` event.

Against a database, a trusted checkpoint says: every chain it names still holds, at the signed length,
the event with the signed hash. A database restored from an older copy (`rolled-back`), a chain cut and
its head rewritten (`truncated`), or history rewritten and re-hashed before it (`altered`) all show,
whatever was done to the stored heads. Events appended after the newest checkpoint are covered only by
the next one: the checkpoint interval bounds what no check can catch.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledgerflow import jsonfiles
from ledgerflow.domain import merkle, notes
from ledgerflow.domain.canonical import ZERO_HASH
from ledgerflow.domain.errors import Conflict, InvalidInput
from ledgerflow.domain.events import Event, authority
from ledgerflow.domain.times import format_time
from ledgerflow.storage.schema import SYSTEM_CHAIN
from ledgerflow.storage.store import Store
from ledgerflow.trust.audit import chain_problem, earliest

FORMAT = "ledgerflow-checkpoint/3"
ORIGIN_PREFIX = "ledgerflow/"

Heads = Mapping[str, tuple[int, str]]


@dataclass(frozen=True, slots=True)
class Statement:
    """What a checkpoint's note says."""

    origin: str
    size: int
    root: bytes
    events: int
    last_seq: int
    at: str

    def body(self) -> str:
        return (f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"
                f"events {self.events}\nlast-seq {self.last_seq}\ntime {self.at}\n")


def statement(note: notes.Note) -> Statement:
    """The statement in a checkpoint note's body.

    Raises:
        InvalidInput: the body is not a ledgerflow checkpoint.
    """
    lines = note.lines
    try:
        extra = dict(line.split(" ", 1) for line in lines[3:])
        root = base64.b64decode(lines[2], validate=True)
        found = Statement(origin=lines[0], size=int(lines[1]), root=root, events=int(extra["events"]),
                          last_seq=int(extra["last-seq"]), at=extra["time"])
    except (IndexError, KeyError, ValueError, binascii.Error):
        raise InvalidInput("not a ledgerflow checkpoint note", rule="not-a-checkpoint") from None
    if not found.origin.startswith(ORIGIN_PREFIX) or len(root) != 32 or found.body() != note.body:
        raise InvalidInput("not a ledgerflow checkpoint note", rule="not-a-checkpoint")
    return found


def leaves(heads: Heads) -> tuple[list[str], list[bytes]]:
    """The chains in leaf order (sorted ids) and their leaf hashes."""
    chains = sorted(heads)
    return chains, [merkle.leaf_hash(merkle.leaf_bytes(c, heads[c][0], heads[c][1])) for c in chains]


def origin_of(store: Store) -> str:
    """This ledger's origin line, `ledgerflow/<id>`; a database made before ledger ids gets one now."""
    with store.read() as tx:
        ledger = tx.ledger_id()
    if ledger is None:
        with store.write() as tx:
            ledger = tx.ledger_id()
            if ledger is None:
                ledger = uuid.uuid4().hex
                tx.set_ledger_id(ledger)
    return ORIGIN_PREFIX + ledger


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A checkpoint as kept in a file: the signed note and the heads its root commits to."""

    note: notes.Note
    statement: Statement
    heads: dict[str, tuple[int, str]]

    def document(self) -> dict[str, Any]:
        return {"format": FORMAT, "note": self.note.text(),
                "heads": {chain: [length, head] for chain, (length, head) in sorted(self.heads.items())}}

    def with_cosignatures(self, lines: Iterable[str]) -> Checkpoint:
        return Checkpoint(notes.parse(self.note.text(lines)), self.statement, self.heads)


def take(store: Store, key: Ed25519PrivateKey) -> Checkpoint:
    """Sign every chain's head, read in one snapshot with the log's last seq."""
    origin = origin_of(store)
    with store.read(snapshot=True) as tx:
        heads = tx.chain_heads()
        last_seq = tx.last_seq()
    _, hashed = leaves(heads)
    found = Statement(origin=origin, size=len(hashed), root=merkle.root(hashed),
                      events=sum(length for length, _ in heads.values()), last_seq=last_seq,
                      at=format_time(datetime.now(UTC)))
    body = found.body()
    return Checkpoint(notes.parse(body + "\n" + notes.sign_line(key, origin, body)), found, dict(heads))


def parse_document(doc: Any, where: str) -> Checkpoint:
    """A checkpoint from its file's JSON.

    Raises:
        InvalidInput: not a checkpoint file, or its heads do not hash to its signed root (`bad-signature`:
            the heads are not what was signed).
    """
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("note"), str):
        raise InvalidInput(f"{where} is not a {FORMAT} file", rule="not-a-checkpoint")
    note = notes.parse(doc["note"])
    found = statement(note)
    raw = doc.get("heads")
    try:
        heads = {str(c): (int(v[0]), str(v[1])) for c, v in raw.items()} if isinstance(raw, dict) else None
    except (TypeError, ValueError, IndexError):
        heads = None
    if heads is None:
        raise InvalidInput(f"{where}: no heads", rule="not-a-checkpoint")
    _, hashed = leaves(heads)
    if len(hashed) != found.size or merkle.root(hashed) != found.root:
        raise InvalidInput(f"{where}: its heads do not hash to the signed root", rule="bad-signature")
    return Checkpoint(note, found, heads)


def load(path: str) -> list[Checkpoint]:
    """The checkpoints in a file, or in every `*.json` file of a folder (oldest first)."""
    target = Path(path)
    files = sorted(target.glob("*.json")) if target.is_dir() else [target]
    found = [parse_document(jsonfiles.read_json(str(f)), str(f)) for f in files]
    if not found:
        raise InvalidInput(f"no checkpoint in {path}", rule="not-a-checkpoint")
    return sorted(found, key=lambda c: (c.statement.at, c.statement.events))


# ------------------------------------------------------------------------------------ publishing


def cosign(cp: Checkpoint, urls: Iterable[str], client: httpx.Client) -> tuple[Checkpoint, dict[str, str]]:
    """Ask each witness to cosign; returns the checkpoint with the cosignatures it got and, per witness,
    `cosigned` or why not (a witness refusing a rollback or fork says so)."""
    lines: list[str] = []
    outcome: dict[str, str] = {}
    payload = cp.document()
    for url in urls:
        try:
            answer = client.post(f"{url}/add-checkpoint", json=payload, timeout=30.0)
        except httpx.HTTPError as exc:
            outcome[url] = f"unreachable: {exc}"
            continue
        if answer.status_code == 200 and answer.text.startswith(notes.DASH):
            lines.append(answer.text if answer.text.endswith("\n") else answer.text + "\n")
            outcome[url] = "cosigned"
        else:
            try:
                reason = str(answer.json().get("rule") or answer.json().get("detail"))
            except ValueError:
                reason = answer.text[:200]
            outcome[url] = f"refused ({answer.status_code}): {reason}"
    return (cp.with_cosignatures(lines) if lines else cp), outcome


def write_new(folder: str, cp: Checkpoint) -> str:
    """Keep a checkpoint in `folder` as a new file, never replacing one (append-only), flushed to disk."""
    stamp = cp.statement.at.replace(":", "").replace("-", "")
    name = Path(folder) / f"{stamp}-{cp.statement.events:012d}-{cp.statement.root.hex()[:8]}.json"
    try:
        os.makedirs(folder, exist_ok=True)
        with open(name, "x", encoding="utf-8") as f:
            f.write(json.dumps(cp.document(), indent=1) + "\n")
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        raise InvalidInput(f"cannot write {name}: {exc.strerror}", rule="file-unwritable") from None
    return str(name)


def record(store: Store, cp: Checkpoint, *, actor: str, channel: str, files: list[str],
           witnesses: Mapping[str, str]) -> None:
    """The checkpoint as an event on the system chain (after the heads it signed)."""
    s = cp.statement
    signer = next(sig for sig in cp.note.signatures if sig.name == s.origin)
    with store.write() as tx:
        tx.append([Event(type="audit.checkpointed", at=format_time(tx.now()), actor=actor, channel=channel,
                         authority=authority("system" if channel == "worker" else "admin"),
                         data={"origin": s.origin, "chains": s.size, "events": s.events,
                               "root": base64.b64encode(s.root).decode(), "time": s.at,
                               "key": f"{signer.name}+{signer.hash.hex()}", "files": files,
                               "witnesses": dict(witnesses)})])


def publish(store: Store, key: Ed25519PrivateKey, *, actor: str, channel: str, client: httpx.Client | None = None,
            out: str | None = None) -> tuple[Checkpoint, dict[str, Any]]:
    """Take a checkpoint, have the configured witnesses cosign it, keep it (`out` and the checkpoint
    folder) and record it: what the worker does every `LEDGERFLOW_CHECKPOINT_EVERY`."""
    settings = store.settings
    cp = take(store, key)
    witnesses: dict[str, str] = {}
    if settings.witness_urls:
        own = client or httpx.Client()
        try:
            cp, witnesses = cosign(cp, settings.witness_urls, own)
        finally:
            if client is None:
                own.close()
    files = []
    if out is not None:
        jsonfiles.write_json(out, cp.document())
        files.append(out)
    if settings.checkpoint_dir:
        files.append(write_new(settings.checkpoint_dir, cp))
    record(store, cp, actor=actor, channel=channel, files=files, witnesses=witnesses)
    s = cp.statement
    return cp, {"origin": s.origin, "chains": s.size, "events": s.events, "root": base64.b64encode(s.root).decode(),
                "time": s.at, "files": files, "witnesses": witnesses,
                "cosignatures": len(cp.note.signatures) - 1}


# ------------------------------------------------------------------------------------ checking


@dataclass(frozen=True, slots=True)
class Trust:
    """What a verifier trusts: log keys, witness keys, and how many cosignatures it requires."""

    logs: notes.Anchors
    witnesses: notes.Anchors = field(default_factory=notes.Anchors)
    cosignatures: int = 0


def _problem(seq: int | None, run: str | None, reason: str, detail: str) -> dict[str, Any]:
    return {"seq": seq, "run": run, "reason": reason, "detail": detail}


def judged(cp: Checkpoint, trust: Trust) -> dict[str, Any] | None:
    """A problem when the checkpoint is not evidence under `trust` (signature, key, cosignatures)."""
    verdict = notes.judge(cp.note, cp.statement.origin, trust.logs, trust.witnesses, trust.cosignatures)
    return None if verdict.reason is None else _problem(None, None, verdict.reason, verdict.detail)


def _run(chain: str) -> str | None:
    return None if chain == SYSTEM_CHAIN else chain


def against(store: Store, checkpoints: list[Checkpoint]) -> dict[str, Any] | None:
    """The first place where the database disagrees with trusted checkpoints (oldest first), else None.

    Every chain a checkpoint names must still hold, at the signed length, the event with the signed hash.
    Several checkpoints narrow where history was rewritten: between the longest signed length that still
    holds and the shortest that does not.
    """
    newest = checkpoints[-1]
    broken: dict[str, tuple[int, str]] = {}  # per chain: the shortest signed length not in place, and why
    with store.read(snapshot=True) as tx:
        ledger = tx.ledger_id()
        strangers = sorted({cp.statement.origin for cp in checkpoints} - {ORIGIN_PREFIX + str(ledger)})
        if ledger is not None and strangers:
            return _problem(None, None, "other-ledger", f"checkpoint of {strangers[0]}, this database is "
                                                        f"{ORIGIN_PREFIX}{ledger}")
        astray = [tx.heads_astray(cp.heads) for cp in checkpoints]
        for found in astray:
            for (chain, length), instead in found.items():
                if chain not in broken or length < broken[chain][0]:
                    broken[chain] = (length, "altered" if instead is not None else "truncated")
        if not broken:
            return None
        held = {chain: max((cp.heads[chain][0] for cp, found in zip(checkpoints, astray, strict=True)
                            if chain in cp.heads and (chain, cp.heads[chain][0]) not in found), default=0)
                for chain in broken}  # per broken chain: the longest signed length still in place
        stored = {chain: tx.chain_head(chain) for chain, (_, why) in broken.items() if why == "truncated"}
        last_seq = tx.last_seq()
        firsts = tx.chain_links([(chain, held[chain] + 1) for chain, (_, why) in broken.items() if why == "altered"])
    cut = sorted(stored)
    behind = last_seq < newest.statement.last_seq or SYSTEM_CHAIN in cut or len(cut) > 1
    problems = []
    for chain, (length, why) in sorted(broken.items()):
        if why == "truncated":
            detail = (f"chain {chain} holds {stored[chain][0]} events; a checkpoint signed {length}"
                      + (" (the database is older than the checkpoint)" if behind else ""))
            problems.append(_problem(None, _run(chain), "rolled-back" if behind else "truncated", detail))
        else:
            good = held[chain]
            problems.append(_problem(firsts[(chain, good + 1)][0], _run(chain), "altered",
                                     f"chain {chain}: an event at position {good + 1}..{length} was rewritten "
                                     f"(a checkpoint signed another hash at {length})"))
    located = [p for p in problems if p["seq"] is not None]
    return earliest(located) if located else problems[0]


def verify_since(store: Store, cp: Checkpoint) -> dict[str, Any]:
    """Check only what was appended after a checkpoint, and that every head it signed is still in place.

    The appended events of each chain that grew are checked link by link from the signed head; a chain
    that did not grow costs two index probes inside the database (its signed head in place, its stored head
    unmoved), and only differences come back, so the Python work follows the new events.
    """
    problem = against(store, [cp])
    if problem is not None:
        return {"ok": False, "events": 0, "first_bad": problem}
    count = 0
    problems: list[dict[str, Any]] = []
    with store.read(snapshot=True) as tx:
        for chain, head in sorted(tx.heads_moved(cp.heads).items()):
            signed = cp.heads.get(chain, (0, ZERO_HASH))
            rows, hashes = tx.chain_tail(chain, signed[0])
            count += len(rows)
            found = chain_problem(chain, rows, head, start=signed, hashes=hashes)
            if found is not None:
                problems.append(found)
    first = earliest(problems)
    return {"ok": first is None, "events": count, "first_bad": first}


def refuse_without(trust: Trust) -> None:
    """`--checkpoint` and `check-pack` take no key from the evidence itself: no anchor, no verdict."""
    if not trust.logs:
        raise InvalidInput("name the keys you trust: --trust KEY|FILE (or LEDGERFLOW_TRUSTED_KEYS)",
                           rule="trust-anchor-missing")


def no_checkpoint(run_id: str) -> Conflict:
    return Conflict(f"no stored checkpoint covers run {run_id}'s head; set LEDGERFLOW_SIGNING_KEY to sign one",
                    rule="no-checkpoint")
