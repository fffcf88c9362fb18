"""CLI fixtures: a database made by the CLI itself, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledgerflow.cli.main import main
from tests.conftest import BACKENDS, DIRECTORY, PRICING, drop_schema, fresh_url


@pytest.fixture(params=BACKENDS)
def cli_db(request: pytest.FixtureRequest, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[str]:
    """The URL of a database that `init`, `directory load` and `playbook publish` made (pricing-exception)."""
    url = fresh_url(request.param, tmp_path)
    for args in (("init", "--simulated-clock", "2026-03-02T08:00:00Z"), ("directory", "load", str(DIRECTORY)),
                 ("playbook", "publish", str(PRICING))):
        assert main([*args, "--db", url]) == 0
    capsys.readouterr()
    yield url
    drop_schema(url)
