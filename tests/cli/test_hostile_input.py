"""Hostile input on the command line (SPEC §10): exit 2 with the limit's rule, and nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledgerflow.cli.main import main
from tests.conftest import PRICING
from tests.engine.helpers import tables

INPUT = '{"customer": "Acme", "deal_value": 12000, "discount_pct": 18}'
BOMB = ("a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
        "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n")


def files(tmp_path: Path) -> dict[str, Path]:
    made = {
        "deep.json": ("[" * 100_000 + "]" * 100_000).encode(),
        "huge.json": b'{"customer": "' + b"a" * (2 << 20) + b'"}',
        "binary.yaml": bytes(range(256)) * 8,
        "bomb.yaml": BOMB.encode(),
        "nan.yaml": PRICING.read_bytes().replace(b"title:", b"nan: .nan\ntitle:", 1),
    }
    for name, data in made.items():
        (tmp_path / name).write_bytes(data)
    return {name: tmp_path / name for name in made}


def test_every_hostile_command_exits_2_with_its_rule_and_writes_nothing(
        cli_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    made = files(tmp_path)
    start = ["run", "start", "pricing-exception", "--as", "bob", "--input"]
    catalogue: list[tuple[list[str], str]] = [
        ([*start, INPUT.replace("12000", "NaN")], "not-canonical"),
        ([*start, INPUT.replace("12000", "Infinity")], "not-canonical"),
        ([*start, INPUT.replace("12000", "1e400")], "not-canonical"),
        ([*start, INPUT.replace("12000", "9007199254740993")], "not-canonical"),
        ([*start, INPUT.replace("Acme", "\\ud800")], "not-canonical"),
        ([*start, INPUT, "--why", "\udcff"], "not-canonical"),  # a byte that is not UTF-8, as Python reads argv
        ([*start, f"@{made['deep.json']}"], "input-too-deep"),
        ([*start, f"@{made['huge.json']}"], "input-too-large"),
        (["playbook", "publish", str(made["binary.yaml"])], "bad-encoding"),
        (["playbook", "lint", str(made["binary.yaml"])], "bad-encoding"),
        (["playbook", "publish", str(made["bomb.yaml"])], "yaml-aliases"),
        (["playbook", "lint", str(made["bomb.yaml"])], "yaml-aliases"),
        (["playbook", "publish", str(made["nan.yaml"])], "not-canonical"),
        (["directory", "load", str(made["bomb.yaml"])], "yaml-aliases"),
        (["clock", "advance", "99999999999w"], "duration-too-large"),
        (["clock", "advance", "522w"], "duration-too-large"),
    ]
    before = tables(cli_db)
    for args, rule in catalogue:
        code = main([*args, "--json", "--db", cli_db])
        captured = capsys.readouterr()
        assert (code, json.loads(captured.out)["error"]["rule"]) == (2, rule), args[:4]
    assert tables(cli_db) == before


def test_input_limits_follow_the_environment(cli_db: str, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGERFLOW_MAX_INPUT_DEPTH", "1")
    code = main(["run", "start", "pricing-exception", "--as", "bob", "--input", '{"customer": {"name": "Acme"}}',
                 "--db", cli_db])
    assert code == 2 and "input-too-deep" in capsys.readouterr().err
    monkeypatch.setenv("LEDGERFLOW_MAX_INPUT_BYTES", "10")
    assert main(["run", "start", "pricing-exception", "--as", "bob", "--input", INPUT, "--db", cli_db]) == 2
    assert "input-too-large" in capsys.readouterr().err
