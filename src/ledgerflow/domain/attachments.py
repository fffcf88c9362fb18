"""Documents attached to runs and tasks (SPEC §14): their records, names, limits and place in a decision.

A document is known by the SHA-256 of its bytes. The event that attaches it records `{name, sha256, size,
media_type}`; the run's state keeps each attachment with the task and step it came with, who attached it and
when, and when retention removed its bytes (the hash stays: the history still proves what was decided on).
Nothing here reads bytes from anywhere: the limits judge sizes and media types detected elsewhere.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ledgerflow.domain.errors import AttachmentTooLarge, AttachmentType, InvalidInput
from ledgerflow.domain.times import display_time

MAX_ATTACHMENT_BYTES = 25 << 20
"""A document's size limit (LEDGERFLOW_MAX_ATTACHMENT_BYTES)."""

ALLOWED_TYPES = frozenset({
    "application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp", "text/plain",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
})
"""Media types accepted by default (LEDGERFLOW_ATTACHMENT_TYPES): documents people decide on. HTML and SVG are
not among them: a browser runs their scripts."""

INLINE_TYPES = frozenset({"application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp"})
"""Media types the web shows inline (the browser renders them without running anything of the document's)."""

MAX_NAME = 200
_SHA256 = re.compile(r"[0-9a-f]{64}")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")


@dataclass(frozen=True, slots=True, kw_only=True)
class AttachmentLimits:
    """What a document may be: at most `max_bytes`, of one of `types`."""

    max_bytes: int = MAX_ATTACHMENT_BYTES
    types: frozenset[str] = ALLOWED_TYPES


ATTACHMENTS = AttachmentLimits()


@dataclass(frozen=True, slots=True, kw_only=True)
class Document:
    """A stored document as an event records it."""

    name: str
    sha256: str
    size: int
    media_type: str

    def record(self) -> dict[str, Any]:
        return {"name": self.name, "sha256": self.sha256, "size": self.size, "media_type": self.media_type}


@dataclass(frozen=True, slots=True, kw_only=True)
class Attachment:
    """A document attached to a run: at its start (`task` None) or with a task's completion."""

    name: str
    sha256: str
    size: int
    media_type: str
    actor: str
    at: str
    task: str | None = None
    step: str | None = None
    removed_at: str | None = None
    """When retention removed the bytes (an `attachment.removed` event); the record and its hash stay."""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "sha256": self.sha256, "size": self.size, "media_type": self.media_type,
                "actor": self.actor, "at": self.at, "task": self.task, "step": self.step,
                "removed_at": self.removed_at}

    @classmethod
    def of(cls, record: Mapping[str, Any], *, actor: str, at: str, task: str | None = None,
           step: str | None = None) -> Attachment:
        """An attachment from an event's record of a document."""
        return cls(name=record["name"], sha256=record["sha256"], size=record["size"], media_type=record["media_type"],
                   actor=actor, at=at, task=task, step=step)

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> Attachment:
        return cls(name=row["name"], sha256=row["sha256"], size=row["size"], media_type=row["media_type"],
                   actor=row["actor"], at=row["at"], task=row.get("task"), step=row.get("step"),
                   removed_at=row.get("removed_at"))


def records(attachments: Iterable[Attachment]) -> list[dict[str, Any]] | None:
    """Attachments as stored on the run's row (null for none)."""
    rows = [a.to_dict() for a in attachments]
    return rows or None


def is_sha256(text: str) -> bool:
    """Whether `text` is a SHA-256 as documents are named: 64 lower-case hex digits."""
    return _SHA256.fullmatch(text) is not None


def check_sha256(text: str) -> str:
    """Raises InvalidInput (`bad-sha256`) unless `text` names a document."""
    if not is_sha256(text):
        raise InvalidInput(f"{text[:80]!r} is not a SHA-256 (64 lower-case hex digits)", rule="bad-sha256")
    return text


def safe_name(name: str) -> str:
    """A file name as shown and offered for download: the last path part, without control characters,
    separators or characters file systems refuse, NFC-normalized, at most 200 characters; `attachment`
    when nothing is left."""
    base = re.split(r"[/\\]", unicodedata.normalize("NFC", name))[-1]
    cleaned = _UNSAFE.sub("_", base).strip(" ._")
    if len(cleaned) > MAX_NAME:
        _, dot, suffix = cleaned.rpartition(".")
        keep = suffix if dot and len(suffix) <= 10 else ""
        cleaned = cleaned[:MAX_NAME - len(keep) - 1].rstrip() + ("." + keep if keep else "")
    return cleaned or "attachment"


def check_size(size: int, name: str, limits: AttachmentLimits) -> None:
    """Raises AttachmentTooLarge when a document of `size` bytes passes the limit."""
    if size > limits.max_bytes:
        raise AttachmentTooLarge(f"{name} is {size} bytes; the attachment limit is {limits.max_bytes}",
                                 details={"name": name, "bytes": size, "limit": limits.max_bytes})


def check_type(media_type: str, name: str, limits: AttachmentLimits) -> None:
    """Raises AttachmentType when the detected media type is not allowed."""
    if media_type not in limits.types:
        raise AttachmentType(f"{name} is {media_type}, which is not an allowed attachment type; allowed: "
                             f"{', '.join(sorted(limits.types))}",
                             details={"name": name, "media_type": media_type, "allowed": sorted(limits.types)})


def bound(attachments: Iterable[Attachment], outputs: Mapping[str, str]) -> dict[str, Any]:
    """The documents a decision reads, for its data hash: `input`, those attached at the run's start, and
    `steps`, those of each earlier step's latest completed task (`outputs` maps that task's id to its step).
    Each named and hashed, in the order attached; an empty dict when there are none."""
    at_start: list[dict[str, str]] = []
    steps: dict[str, list[dict[str, str]]] = {}
    for a in attachments:
        entry = {"name": a.name, "sha256": a.sha256}
        if a.task is None:
            at_start.append(entry)
        elif a.task in outputs:
            steps.setdefault(outputs[a.task], []).append(entry)
    found: dict[str, Any] = {}
    if at_start:
        found["input"] = at_start
    if steps:
        found["steps"] = steps
    return found


def inline(media_type: str) -> bool:
    """Whether the web may show a document of this type inline."""
    return media_type in INLINE_TYPES


def shown(attachments: Iterable[Attachment]) -> list[dict[str, Any]]:
    """Attachments as the task and run views list them: name, size, type, who attached them at which step."""
    return [{"name": a.name, "sha256": a.sha256, "size": a.size, "media_type": a.media_type, "actor": a.actor,
             "at": display_time(a.at), "task": a.task, "step": a.step, "inline": inline(a.media_type),
             "removed_at": display_time(a.removed_at) if a.removed_at else None} for a in attachments]
