"""Documents in and out (SPEC §14): the checks a document passes before it is stored, and who reads it back.

Every channel ends here. A document is measured, its media type detected from its bytes (never from its name),
checked against the allowed list, shown to the operator's scanning hook, and only then stored under its
SHA-256; the command that refers to it runs afterwards, in its own transaction. Reading a document back asks
the same question as reading the run: who may see a run that refers to it (a guest: its own task's documents).
"""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import puremagic

from ledgerflow.domain import retention
from ledgerflow.domain.attachments import (
    Attachment,
    Document,
    check_sha256,
    check_size,
    check_type,
    safe_name,
)
from ledgerflow.domain.errors import AttachmentRefused, Conflict, EnvironmentProblem, InvalidInput, NotFound
from ledgerflow.domain.events import Event
from ledgerflow.domain.limits import check_value
from ledgerflow.domain.runs import RunState, evolve
from ledgerflow.domain.times import display_time, format_time
from ledgerflow.engine import access, service
from ledgerflow.engine.tokens import ADMIN, Principal
from ledgerflow.ops.config import Settings
from ledgerflow.storage.store import Store, Tx

SCAN_SECONDS = 60.0
"""How long the scanning hook may take over one document before it counts as a refusal."""
_TEXT_SAMPLE = 64 << 10


def detect(data: bytes) -> str:
    """The media type of `data`, from its content (puremagic's signatures); bytes no signature matches are
    `text/plain` when they read as UTF-8 text without control characters, else `application/octet-stream`."""
    if data:
        try:
            found = puremagic.magic_string(data)
        except (puremagic.PureError, ValueError):
            found = []
        typed = [m for m in found if m.mime_type]
        if typed:
            return str(max(typed, key=lambda m: m.confidence).mime_type)
    sample = data[:_TEXT_SAMPLE]
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 3:  # not merely a character cut by the sample's end
            return "application/octet-stream"
        text = sample[:exc.start].decode("utf-8")
    if any(ord(c) < 32 and c not in "\t\n\r\f" for c in text):
        return "application/octet-stream"
    return "text/plain"


def scan(settings: Settings, name: str, data: bytes, media_type: str) -> None:
    """Show a document to the operator's scanning hook, if one is configured; it fails closed.

    Raises:
        AttachmentRefused: the hook refused the document, or could not be asked.
    """
    hook = settings.attachment_scan
    if not hook:
        return
    if hook.startswith(("http://", "https://")):
        try:
            answer = httpx.post(hook, content=data, timeout=SCAN_SECONDS,
                                headers={"Content-Type": media_type, "X-Ledgerflow-Name": name.encode().hex()})
        except httpx.HTTPError as exc:
            raise AttachmentRefused(f"{name}: the scanning hook could not be asked ({type(exc).__name__}); "
                                    "nothing was stored", details={"name": name}) from None
        if answer.is_success:
            return
        reason = answer.text.strip().splitlines()[0][:200] if answer.text.strip() else f"HTTP {answer.status_code}"
    else:
        try:
            done = subprocess.run([*shlex.split(hook), name], input=data, capture_output=True,
                                  timeout=SCAN_SECONDS, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise AttachmentRefused(f"{name}: the scanning hook could not be run ({type(exc).__name__})",
                                    details={"name": name}) from None
        if done.returncode == 0:
            return
        said = (done.stdout or done.stderr).decode("utf-8", "replace").strip()
        reason = said.splitlines()[0][:200] if said else f"exit {done.returncode}"
    raise AttachmentRefused(f"{name} was refused by the scanning hook: {reason}",
                            details={"name": name, "reason": reason})


def prepare(settings: Settings, name: str, data: bytes) -> Document:
    """A document checked against the limits and the hook, not stored yet.

    Raises:
        AttachmentTooLarge, AttachmentType, AttachmentRefused: see `domain.errors`.
    """
    name = safe_name(name)
    check_size(len(data), name, settings.attachments)
    media_type = detect(data)
    check_type(media_type, name, settings.attachments)
    scan(settings, name, data, media_type)
    return Document(name=name, sha256=hashlib.sha256(data).hexdigest(), size=len(data), media_type=media_type)


def keep(store: Store, files: Iterable[tuple[str, bytes]]) -> tuple[Document, ...]:
    """Check every document first, then store them: one refused leaves none stored."""
    ready = [(prepare(store.settings, name, data), data) for name, data in files]
    for document, data in ready:
        store.blobs.put(document.sha256, data)
    return tuple(document for document, _ in ready)


def read_file(path: str, settings: Settings) -> tuple[str, bytes]:
    """A file named on the command line: its name and bytes, never more than the limit read.

    Raises:
        InvalidInput: unreadable (`file-unreadable`).
        AttachmentTooLarge: larger than the limit.
    """
    limit = settings.attachments.max_bytes
    try:
        with Path(path).open("rb") as file:
            data = file.read(limit + 1)
            size = max(os.fstat(file.fileno()).st_size, len(data))
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}", rule="file-unreadable") from None
    check_size(size, safe_name(path), settings.attachments)
    return Path(path).name, data


def attach_files(store: Store, paths: Sequence[str]) -> tuple[Document, ...]:
    """`--attach FILE...`: read, check and store them before the command runs."""
    return keep(store, [read_file(path, store.settings) for path in paths])


def upload(store: Store, principal: Principal, name: str, data: bytes) -> Document:
    """An API upload: checked and stored, and remembered as the caller's, so that a later command of the
    caller's may refer to it by hash."""
    (document,) = keep(store, [(name, data)])
    with store.write() as tx:
        tx.record_upload(document.sha256, _uploader(principal), document.name, format_time(datetime.now(UTC)))
    return document


def _uploader(principal: Principal) -> str:
    """Whose upload it is: the actor, or for a guest its own token (not the actor who invited it)."""
    return f"guest:{principal.token_id}" if principal.is_guest else principal.actor


def referenced(store: Store, principal: Principal, hashes: Sequence[str]) -> tuple[Document, ...]:
    """Documents a command refers to by hash: each uploaded by the caller (knowing a hash is not having the
    document), and still stored.

    Raises:
        NotFound: a hash the caller did not upload (`unknown-attachment`).
    """
    found = []
    for sha256 in dict.fromkeys(check_sha256(h) for h in hashes):
        with store.read() as tx:
            name = tx.uploaded(sha256, _uploader(principal))
        data = store.blobs.get(sha256) if name is not None else None
        if name is None or data is None:
            raise NotFound(f"no upload {sha256} of yours; upload the document first (POST /api/v1/attachments)",
                           rule="unknown-attachment")
        found.append(Document(name=name, sha256=sha256, size=len(data), media_type=detect(data)))
    return tuple(found)


def readable(tx: Tx, principal: Principal, run: RunState) -> list[Attachment]:
    """The run's attachments the principal may read: all of them for whoever may see the run; for a guest,
    only those of its own task."""
    if principal.is_guest:
        return [a for a in run.attachments if a.task is not None and a.task == principal.task]
    if principal.kind == ADMIN or access.sees_run(tx, run, principal.actor):
        return list(run.attachments)
    return []


def fetch(store: Store, principal: Principal, sha256: str) -> tuple[Attachment, bytes]:
    """A document's record and bytes, for a principal who may read a run it is attached to.

    Raises:
        NotFound: not attached to any run the principal may read (`unknown-attachment`).
        Conflict: retention removed its bytes (`attachment-removed`); the record and its hash remain.
        EnvironmentProblem: its bytes are missing or no longer hash to its name (`attachment-damaged`).
    """
    check_sha256(sha256)
    found: Attachment | None = None
    with store.read() as tx:
        for run_id in tx.runs_referencing(sha256):
            mine = [a for a in readable(tx, principal, tx.load_run(run_id)) if a.sha256 == sha256]
            if mine:
                found = next((a for a in mine if a.removed_at is None), mine[0])
                break
    if found is None:
        raise NotFound(f"no attachment {sha256} that you may read", rule="unknown-attachment")
    data = store.blobs.get(sha256)
    if data is None and found.removed_at is not None:
        raise Conflict(f"the bytes of {found.name} were removed at {display_time(found.removed_at)} by retention; "
                       f"its hash {sha256} remains in the history", rule="attachment-removed")
    if data is None or hashlib.sha256(data).hexdigest() != sha256:
        raise EnvironmentProblem(f"the stored bytes of {found.name} ({sha256}) are missing or altered; run "
                                 "`ledgerflow audit verify`", rule="attachment-damaged")
    return found, data


def set_hold(store: Store, run_id: str, caller: service.Caller, *, held: bool, reason: str) -> RunState:
    """Place or lift a legal hold on a run (ended or not): while it stands, retention removes none of its
    documents. One event on the run's chain says who, when and why."""
    check_value({"reason": reason}, "the command", store.settings.limits)
    with store.write() as tx:
        before = tx.load_run(run_id)
        playbook, _ = tx.playbook(before.playbook, before.version)
        event = retention.hold(before, playbook, actor=caller.actor, is_admin=caller.actor == "admin" and
                               caller.channel == "cli", held=held, reason=reason, at=format_time(tx.now()),
                               channel=caller.channel)
        after = _apply(tx, before, [event])
    return after


def _apply(tx: Tx, before: RunState, events: list[Event]) -> RunState:
    after = before
    for event in events:
        after = evolve(after, event) or after
    tx.save_run(before, after)
    tx.append(events)
    return after


def sweep(store: Store, *, grace: timedelta | None = None) -> dict[str, Any]:
    """Remove what is no longer kept: the documents of ended, unheld runs past their playbook's retention
    (recorded as `attachment.removed`, the hash stays), then bytes no run keeps any more, and documents no run
    refers to stored longer than `grace` ago (default LEDGERFLOW_ORPHAN_GRACE: uploads never used, commands
    that failed after storing theirs).

    Returns `{"removed": [{run, sha256, name}], "deleted": N, "orphans": N}`.
    """
    removed: list[dict[str, Any]] = []
    with store.write() as tx:
        now = tx.now()
        for run_id in tx.runs_with_documents(ended=True):
            before = tx.load_run(run_id)
            playbook, _ = tx.playbook(before.playbook, before.version)
            events = retention.expired(before, playbook.retention, now)
            if events:
                _apply(tx, before, events)
                removed.extend({"run": run_id, "sha256": e.data["sha256"], "name": e.data["name"]} for e in events)
    deleted = sum(_delete_unkept(store, sha256) for sha256 in dict.fromkeys(r["sha256"] for r in removed))
    cutoff = format_time(datetime.now(UTC) - (store.settings.orphan_grace if grace is None else grace))
    old = [sha256 for sha256, stored_at in store.blobs.stored() if stored_at <= cutoff]
    with store.read() as tx:
        used = tx.referenced(old)
    orphans = 0
    for sha256 in old:
        if sha256 not in used and _delete_unkept(store, sha256):
            orphans += 1
    return {"removed": removed, "deleted": deleted, "orphans": orphans}


def _delete_unkept(store: Store, sha256: str) -> bool:
    """Delete a document's bytes unless a run still keeps it (refers to it, and retention has not removed it
    there); asked again just before deleting, so that a run that took the same bytes meanwhile keeps them."""
    with store.write() as tx:
        for run_id in tx.runs_referencing(sha256):
            if any(a.sha256 == sha256 and a.removed_at is None for a in tx.load_run(run_id).attachments):
                return False
        tx.forget_uploads(sha256)
    return store.blobs.delete(sha256)
