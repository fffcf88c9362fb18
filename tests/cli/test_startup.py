"""`--help` and `--version` load none of the heavy libraries; a command loads only what it uses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import DIRECTORY, PRICING, START

HEAVY = ("sqlalchemy", "jsonschema", "rich.console", "ledgerflow.storage.store", "celpy")


def loaded_after(*args: str) -> set[str]:
    probe = ("import sys\nfrom ledgerflow.cli.main import main\n"
             f"sys.argv = ['ledgerflow', *{list(args)!r}]\ncode = main()\n"
             "loaded = [m for m in sys.modules if type(sys.modules[m]).__name__ != '_LazyModule']\n"
             "print('\\n'.join(loaded), file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(done.stderr.split())


def test_help_and_version_import_no_database_schema_or_rich_code() -> None:
    for args in (("--help",), ("--version",), ("run", "--help")):
        assert not loaded_after(*args) & set(HEAVY), args


def test_version_prints_the_package_version() -> None:
    done = subprocess.run([sys.executable, "-c", "from ledgerflow.cli.main import entry; entry()", "--version"],
                          capture_output=True, text=True, check=True)
    assert done.stdout.startswith("ledgerflow ")


def test_read_commands_compile_no_playbook_parse_no_yaml_and_load_no_other_database(tmp_path: Path) -> None:
    from ledgerflow.cli.main import main

    db = f"sqlite:///{tmp_path}/small.db"
    for args in (("init", "--simulated-clock", START), ("directory", "load", str(DIRECTORY)),
                 ("playbook", "publish", str(PRICING)),
                 ("run", "start", "pricing-exception", "--as", "bob", "--input",
                  '{"customer": "Acme", "deal_value": 12000, "discount_pct": 18}')):
        assert main([*args, "--db", db, "--json"]) == 0
    for listing in (("run", "list"), ("task", "list")):
        assert not loaded_after(*listing, "--db", db) & {"jsonschema", "celpy", "ruamel.yaml",
                                                         "sqlalchemy.dialects.postgresql"}, listing
