"""A witness: another party's small server that cosigns a ledger's checkpoints only while they extend.

Run by someone the database's admin does not control, with its own key and its own state. For each log key
it trusts, it remembers the heads of the last checkpoint it cosigned; a new checkpoint is cosigned only if
every chain it had seen is still there, no shorter, and with the same head where the length is the same.
A database rolled back to an older copy, or a history forked into two versions shown to two parties, is
refused and the refusal is kept. The witness sees heads and hashes, never the events themselves, so a chain
rewritten *and* grown between two checkpoints is caught by `audit verify --checkpoint` against the earlier,
cosigned one (its signed head must still be in place), not by the witness.

Protocol: `POST /add-checkpoint` with a checkpoint file's JSON; 200 with the cosignature line as text, or
a problem+json answer (400 malformed, 403 not signed by a trusted log key, 409 rollback or fork).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ledgerflow import jsonfiles
from ledgerflow.domain import limits, notes
from ledgerflow.domain.errors import InvalidInput
from ledgerflow.domain.times import format_time
from ledgerflow.trust import checkpoints


class Witness:
    """The witness's decisions and state, apart from HTTP (so tests and the server share them)."""

    def __init__(self, key: Ed25519PrivateKey, name: str, logs: notes.Anchors, state: str):
        self.key, self.name, self.logs = key, notes.check_name(name), logs
        self.state = Path(state)
        self.state.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    @property
    def public_key(self) -> bytes:
        return notes.public_bytes(self.key)

    def add(self, doc: Any) -> tuple[int, str, str]:
        """(HTTP status, rule or `cosigned`, the cosignature line or why not)."""
        try:
            cp = checkpoints.parse_document(doc, "the checkpoint")
        except InvalidInput as exc:
            return (403 if exc.rule == "bad-signature" else 400), exc.rule, exc.message
        verdict = notes.judge(cp.note, cp.statement.origin, self.logs)
        if verdict.reason is not None:
            return 403, verdict.reason, verdict.detail
        signer = next(s for s in cp.note.signatures if s.name == cp.statement.origin)
        log_key = next(k for k in self.logs.trusted if notes.key_hash(signer.name, k) == signer.hash)
        with self._lock:
            path = self.state / f"{hashlib.sha256(log_key).hexdigest()[:32]}.json"
            last = json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
            if last is not None:
                refusal = _refusal(last, cp)
                if refusal is not None:
                    self._keep_refusal(cp, *refusal)
                    return 409, refusal[0], refusal[1]
            _write_atomically(path, {"origin": cp.statement.origin, "size": cp.statement.size,
                                     "events": cp.statement.events, "time": cp.statement.at,
                                     "heads": {c: [n, h] for c, (n, h) in sorted(cp.heads.items())}})
        return 200, "cosigned", notes.sign_line(self.key, self.name, cp.note.body)

    def _keep_refusal(self, cp: checkpoints.Checkpoint, rule: str, detail: str) -> None:
        line = json.dumps({"at": format_time(datetime.now(UTC)), "origin": cp.statement.origin,
                           "checkpoint_time": cp.statement.at, "rule": rule, "detail": detail})
        with open(self.state / "refused.jsonl", "a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())


def _refusal(last: dict[str, Any], cp: checkpoints.Checkpoint) -> tuple[str, str] | None:
    """Why `cp` does not extend the last cosigned checkpoint of the same log key, or None."""
    if last["origin"] != cp.statement.origin:
        return "fork", f"this key signed ledger {last['origin']} before, now {cp.statement.origin}"
    for chain, (length, head) in last["heads"].items():
        now = cp.heads.get(chain)
        if now is None:
            return "rolled-back", f"chain {chain} ({length} events when last cosigned) is gone"
        if now[0] < length:
            return "rolled-back", f"chain {chain} holds {now[0]} events; {length} when last cosigned"
        if now[0] == length and now[1] != head:
            return "fork", f"chain {chain} at {length} events has another head than when last cosigned"
    return None


def _write_atomically(path: Path, value: Any) -> None:
    temporary = path.with_suffix(".tmp")
    with open(temporary, "w", encoding="utf-8") as f:
        f.write(json.dumps(value))
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def app(witness: Witness) -> Starlette:
    async def add_checkpoint(request: Request) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > jsonfiles.EVIDENCE.max_bytes:
            return _problem(413, "input-too-large", "the checkpoint is larger than this witness takes")
        try:
            doc = limits.parse_json(await request.body(), "the checkpoint", jsonfiles.EVIDENCE)
        except InvalidInput as exc:  # the input gate: not JSON, too large or deep, NaN, lone surrogates
            return _problem(413 if exc.rule == "input-too-large" else 400, exc.rule, exc.message)
        status, rule, text = witness.add(doc)
        if status == 200:
            return PlainTextResponse(text)
        return _problem(status, rule, text)

    async def describe(request: Request) -> Response:
        return JSONResponse({"name": witness.name, "public_key": base64.b64encode(witness.public_key).decode()})

    return Starlette(routes=[Route("/add-checkpoint", add_checkpoint, methods=["POST"]),
                             Route("/", describe, methods=["GET"])])


def _problem(status: int, rule: str, detail: str) -> JSONResponse:
    return JSONResponse({"type": "about:blank", "title": rule, "status": status, "rule": rule, "detail": detail},
                        status_code=status, media_type="application/problem+json")
