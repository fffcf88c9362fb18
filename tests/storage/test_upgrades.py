"""Upgrades with data: a ledger made by the engine as it was at every earlier schema revision (the fixtures
of tools/upgrade_fixtures.py) restores onto SQLite and PostgreSQL, migrates to the newest schema, verifies,
and takes new work."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledgerflow import audit, service
from ledgerflow.backup import restore
from ledgerflow.storage.database import SCHEMA_REVISION, make_engine
from ledgerflow.storage.store import Store
from tests.conftest import BACKENDS, drop_schema, fresh_url
from tests.engine.helpers import GOOD_OUTPUT, act, caller, only_open

FIXTURES = sorted((Path(__file__).parents[1] / "fixtures" / "upgrades").glob("*.lfb"))


def test_there_is_a_fixture_for_every_earlier_revision() -> None:
    made = {path.stem for path in FIXTURES}
    assert made and max(made) < SCHEMA_REVISION
    # every revision that was ever the newest on main (0003 never was: it landed beside 0004)
    assert {f"{n:04d}" for n in range(1, int(SCHEMA_REVISION))} - made <= {"0003"}


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
