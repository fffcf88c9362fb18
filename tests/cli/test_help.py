"""`--help` of every command says what each option is for and that --db and --json work everywhere."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import typer.main

from ledgerflow.cli.main import app, main


def commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    subcommands = getattr(command, "commands", None)
    if subcommands is None:
        yield path, command
        return
    for name, sub in subcommands.items():
        yield from commands(sub, (*path, name))


ALL = sorted(commands(typer.main.get_command(app)), key=lambda found: found[0])


def test_every_command_is_walked() -> None:
    names = {" ".join(path) for path, _ in ALL}
    assert {"task decide", "directory show", "token list", "governance history", "demo"} <= names


@pytest.mark.parametrize(("path", "command"), ALL, ids=[" ".join(path) for path, _ in ALL])
def test_help_describes_every_option_and_names_db_and_json(capsys: pytest.CaptureFixture[str],
                                                             path: tuple[str, ...], command: Any) -> None:
    assert [p.opts[0] for p in command.params if p.param_type_name == "option" and not p.help] == []
    assert main([*path, "--help"]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "--db URL" in shown and "--json" in shown
