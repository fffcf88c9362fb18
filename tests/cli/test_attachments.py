"""`--attach`, `attachment get` and `attachment list` on the command line (SPEC §14), on both databases."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from ledgerflow.cli.main import main
from tests.engine.helpers import GOOD_OUTPUT, tables

INPUT = json.dumps({"customer": "Acme", "deal_value": 12000, "discount_pct": 18})
PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n%%EOF\n"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any, str]:
    code = main([*args, "--json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out.strip() else None, captured.err


def test_attach_on_start_and_complete_then_get_the_bytes_back(capsys: pytest.CaptureFixture[str], cli_db: str,
                                                              tmp_path: Path) -> None:
    deal = tmp_path / "deal.pdf"
    deal.write_bytes(PDF)
    sheet = tmp_path / "sheet.txt"
    sheet.write_text("margin 31% after freight\n")
    code, started, err = run(capsys, "run", "start", "pricing-exception", "--as", "bob", "--input", INPUT,
                             "--attach", str(deal), "--db", cli_db)
    assert code == 0, err
    prepare = started["tasks"][0]
    code, done, err = run(capsys, "task", "complete", prepare["task"], "--as", prepare["assignee"], "--output",
                          json.dumps(GOOD_OUTPUT), "--attach", str(sheet), "--attach", str(deal), "--db", cli_db)
    assert code == 0, err
    decision = done["opened"][0]
    code, shown, _ = run(capsys, "task", "show", decision["task"], "--as", decision["assignee"], "--db", cli_db)
    assert [(a["name"], a["step"]) for a in shown["attachments"]] == [
        ("deal.pdf", None), ("sheet.txt", "prepare"), ("deal.pdf", "prepare")]
    code, listed, _ = run(capsys, "attachment", "list", started["run"], "--db", cli_db)
    assert code == 0 and len(listed) == 3
    out = tmp_path / "got.pdf"
    sha = hashlib.sha256(PDF).hexdigest()
    code, got, err = run(capsys, "attachment", "get", sha, "--out", str(out), "--as", decision["assignee"],
                         "--db", cli_db)
    assert code == 0, err
    assert out.read_bytes() == PDF and got["media_type"] == "application/pdf"
    code, _, err = run(capsys, "attachment", "get", sha, "--out", str(out), "--as", "erin", "--db", cli_db)
    assert code == 2 and "unknown-attachment" in err


@pytest.mark.parametrize(("content", "env", "rule"), [
    (b"<html><script>alert(1)</script></html>", {}, "attachment-type"),
    (PDF, {"LEDGERFLOW_MAX_ATTACHMENT_BYTES": "10"}, "attachment-too-large"),
])
def test_a_refused_document_exits_2_and_writes_nothing(capsys: pytest.CaptureFixture[str], cli_db: str,
                                                       tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       content: bytes, env: dict[str, str], rule: str) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    bad = tmp_path / "deal.pdf"
    bad.write_bytes(content)
    before = tables(cli_db)
    code, out, err = run(capsys, "run", "start", "pricing-exception", "--as", "bob", "--input", INPUT,
                         "--attach", str(bad), "--db", cli_db)
    assert code == 2 and out["error"]["rule"] == rule, err
    assert tables(cli_db) == before
    assert not list(tmp_path.glob("*-attachments/??/*"))


def test_an_unreadable_attachment_exits_2(capsys: pytest.CaptureFixture[str], cli_db: str, tmp_path: Path) -> None:
    code, out, _ = run(capsys, "run", "start", "pricing-exception", "--as", "bob", "--input", INPUT,
                       "--attach", str(tmp_path / "missing.pdf"), "--db", cli_db)
    assert code == 2 and out["error"]["rule"] == "file-unreadable"


def test_an_exported_pack_carries_the_documents_and_check_pack_verifies_them(
        capsys: pytest.CaptureFixture[str], cli_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ledgerflow.trust import evidence

    key, public = evidence.new_key()
    monkeypatch.setenv("LEDGERFLOW_SIGNING_KEY", key)
    deal = tmp_path / "deal.pdf"
    deal.write_bytes(PDF)
    _, started, _ = run(capsys, "run", "start", "pricing-exception", "--as", "bob", "--input", INPUT,
                        "--attach", str(deal), "--db", cli_db)
    out = tmp_path / "pack.json"
    code, exported, err = run(capsys, "audit", "export", started["run"], "--out", str(out), "--with-attachments",
                              "--db", cli_db)
    assert code == 0, err
    assert (exported["attachments"], exported["carried"]) == (1, 1)
    code, verdict, err = run(capsys, "audit", "check-pack", str(out), "--trust", public)
    assert code == 0 and verdict["attachments"] == 1, err
    pack = json.loads(out.read_text())
    pack["files"] = {sha: "JVBERi0xLjQK" for sha in pack["files"]}  # another PDF's bytes under the same name
    out.write_text(json.dumps(pack))
    code, verdict, _ = run(capsys, "audit", "check-pack", str(out), "--trust", public)
    assert code == 1 and verdict["first_bad"]["reason"] == "attachment-altered"


def test_a_held_run_shows_its_hold_and_the_sweep_reports_in_json(capsys: pytest.CaptureFixture[str], cli_db: str,
                                                                 tmp_path: Path) -> None:
    deal = tmp_path / "deal.pdf"
    deal.write_bytes(PDF)
    _, started, _ = run(capsys, "run", "start", "pricing-exception", "--as", "bob", "--input", INPUT,
                        "--attach", str(deal), "--db", cli_db)
    code, held, err = run(capsys, "run", "hold", started["run"], "--reason", "matter 7", "--as", "sam", "--db", cli_db)
    assert code == 0 and held == {"run": started["run"], "held": True}, err
    code, shown, _ = run(capsys, "run", "show", started["run"], "--db", cli_db)
    assert shown["held"] is True and shown["attachments"][0]["name"] == "deal.pdf"
    code, _, err = run(capsys, "run", "hold", started["run"], "--reason", "again", "--as", "sam", "--db", cli_db)
    assert code == 3 and "hold-state" in err
    code, swept, _ = run(capsys, "attachment", "sweep", "--db", cli_db)
    assert code == 0 and swept == {"removed": [], "deleted": 0, "orphans": 0}
