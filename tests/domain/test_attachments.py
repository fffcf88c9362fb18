"""Document names, media types detected from content, and the documents a decision reads (SPEC §14)."""

from __future__ import annotations

import pytest

from ledgerflow.domain.attachments import Attachment, bound, safe_name
from ledgerflow.engine.documents import detect


@pytest.mark.parametrize(("given", "kept"), [
    ("deal.pdf", "deal.pdf"),
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\bob\\deal sheet.xlsx", "deal sheet.xlsx"),
    ("a\x00b\r\nc.txt", "a_b_c.txt"),
    ('quote"<script>.pdf', "quote_script_.pdf"),
    ("...", "attachment"),
    ("", "attachment"),
    ("e\u0301te\u0301.txt", "\u00e9t\u00e9.txt"),  # NFC
])
def test_a_name_keeps_its_last_part_without_characters_that_mean_something_elsewhere(given: str, kept: str) -> None:
    assert safe_name(given) == kept


def test_a_long_name_is_cut_keeping_its_extension() -> None:
    name = safe_name("x" * 500 + ".pdf")
    assert len(name) <= 200 and name.endswith(".pdf")


@pytest.mark.parametrize(("data", "media_type"), [
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n" + bytes(32), "image/png"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "image/jpeg"),
    (b"<!DOCTYPE html><html></html>", "text/html"),
    (b"plain words, a, csv\n1,2\n", "text/plain"),
    ("na\u00efve caf\u00e9\n".encode(), "text/plain"),
    (b"\x00\x01\x02\x03binary", "application/octet-stream"),
    (b"", "text/plain"),
])
def test_the_media_type_comes_from_the_content(data: bytes, media_type: str) -> None:
    assert detect(data) == media_type


def _attached(task: str | None, name: str, sha: str) -> Attachment:
    return Attachment(name=name, sha256=sha, size=1, media_type="text/plain", actor="bob", at="2026-03-02T08:00:00Z",
                      task=task, step=None)


def test_a_decision_reads_the_start_documents_and_those_of_the_latest_completed_tasks_only() -> None:
    attachments = [_attached(None, "deal.pdf", "a" * 64), _attached("t-old", "sheet.txt", "b" * 64),
                   _attached("t-new", "sheet.txt", "c" * 64)]
    assert bound(attachments, {"t-new": "prepare"}) == {
        "input": [{"name": "deal.pdf", "sha256": "a" * 64}],
        "steps": {"prepare": [{"name": "sheet.txt", "sha256": "c" * 64}]}}
    assert bound([], {"t-new": "prepare"}) == {}
