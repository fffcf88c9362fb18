"""Upgrades with data: a ledger made by the engine as it was at every earlier schema revision (the fixtures
of tools/upgrade_fixtures.py) restores onto SQLite and PostgreSQL, migrates to the newest schema, verifies,
and takes new work."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledgerflow.engine import service
from ledgerflow.ops.backup import restore
from ledgerflow.storage.database import SCHEMA_REVISION, make_engine
from ledgerflow.storage.store import Store
from ledgerflow.trust import audit
from tests.conftest import BACKENDS, drop_schema, fresh_url
from tests.engine.helpers import GOOD_OUTPUT, act, caller, only_open

FIXTURES = sorted((Path(__file__).parents[1] / "fixtures" / "upgrades").glob("*.lfb"))


def test_there_is_a_fixture_for_every_earlier_revision() -> None:
    made = {path.stem for path in FIXTURES}
    assert made and max(made) < SCHEMA_REVISION
    # every revision below the head that was ever the newest in main's history (0003 never was: it came after 0004);
    # read from the migration files, since a branch may write its revision beside another branch's
    versions = Path(__file__).resolve().parents[2] / "src" / "ledgerflow" / "storage" / "migrations" / "versions"
    earlier = {p.name[:4] for p in versions.glob("[0-9][0-9][0-9][0-9]_*.py")} - {SCHEMA_REVISION}
    assert earlier - made <= {"0003"}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda path: path.stem)
def test_a_ledger_of_an_earlier_revision_upgrades_with_its_data(fixture: Path, backend: str, tmp_path: Path) -> None:
    url = fresh_url(backend, tmp_path)
    engine = make_engine(url)
    try:
        restored = restore(engine, url, str(fixture))
    finally:
        engine.dispose()
    store = Store(url)
    try:
        assert (restored["schema"], restored["to"]) == (fixture.stem, SCHEMA_REVISION)
        report = audit.verify(store)
        # a migration may add its own event (0008 records the move to one chain per run), never drop one
        assert report["ok"] and report["events"] >= restored["events"] > 0, report
        run, _opened = service.start_run(store, "pricing-exception",
                                         {"customer": "After the upgrade", "deal_value": 1000, "discount_pct": 15},
                                         caller("alice"))
        prepare = only_open(store, run.id)
        act(store, "complete", prepare, output=GOOD_OUTPUT)
        assert audit.verify(store)["ok"]
    finally:
        store.close()
        drop_schema(url)
