"""`ledgerflow backup --out FILE` and `ledgerflow restore FILE` on the command line (SPEC §6 exit codes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_cli import run
from tests.conftest import drop_schema, fresh_url
from tests.engine.helpers import tables


def test_backup_then_restore_from_the_command_line(capsys: pytest.CaptureFixture[str], cli_db: str,
                                                   tmp_path: Path) -> None:
    file = str(tmp_path / "ledger.lfb")
    code, taken, _ = run(capsys, "backup", "--out", file, "--db", cli_db, "--json")
    assert code == 0 and isinstance(taken, dict) and taken["schema"] and len(taken["sha256"]) == 64
    code, _, err = run(capsys, "backup", "--out", file, "--db", cli_db)
    assert code == 2 and "file-exists" in err
    before = tables(cli_db)
    code, _, err = run(capsys, "restore", file, "--db", cli_db)
    assert code == 3 and "not-empty" in err and tables(cli_db) == before
    (tmp_path / "copy").mkdir()
    copy = fresh_url("postgresql" if cli_db.startswith("postgresql") else "sqlite", tmp_path / "copy")
    try:
        code, restored, _ = run(capsys, "restore", file, "--db", copy, "--json")
        assert code == 0 and isinstance(restored, dict) and restored["rows"] == taken["rows"]
        assert tables(copy) == before
        code, verified, _ = run(capsys, "audit", "verify", "--db", copy, "--json")
        assert code == 0 and isinstance(verified, dict) and verified["ok"]
    finally:
        drop_schema(copy)


def test_restoring_what_is_not_a_backup_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    junk = tmp_path / "junk.lfb"
    junk.write_text("not a backup\n")
    code, _, err = run(capsys, "restore", str(junk), "--db", str(tmp_path / "new.db"))
    assert code == 2 and "bad-backup" in err and not (tmp_path / "new.db").exists()
