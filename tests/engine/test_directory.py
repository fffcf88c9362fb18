"""`directory load` refuses clashes, unknown delegates and loops, and changes nothing then (SPEC §2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledgerflow import service
from ledgerflow.domain.errors import InvalidInput, LoadError
from ledgerflow.storage.store import Store
from tests.conftest import DIRECTORY
from tests.engine.helpers import snapshot

TEXT = DIRECTORY.read_text()


@pytest.mark.parametrize(("change", "rule"), [
    (("{id: bob,", "{id: alice,"), "id-clash"),
    (("roles: [account-exec]}\n  - {id: bob", "roles: [account-exec], delegate: zed}\n  - {id: bob"),
     "unknown-delegate"),
    (("roles: [finance]}\n  - {id: erin", "roles: [finance], delegate: erin}\n  - {id: erin"), None),
    (("{id: sam,", "{id: finance,"), "id-clash"),
])
def test_a_bad_directory_is_refused_and_changes_nothing(store: Store, tmp_path: Path,
                                                         change: tuple[str, str], rule: str | None) -> None:
    text = TEXT.replace(*change)
    if rule is None:  # dave -> erin -> dave
        text = text.replace("roles: [finance]}\n  - {id: maria", "roles: [finance], delegate: dave}\n  - {id: maria")
        rule = "delegation-loop"
    path = tmp_path / "directory.yaml"
    path.write_text(text)
    before = snapshot(store)
    with store.read() as tx:
        version = tx.directory_version()
    with pytest.raises(InvalidInput) as info:
        service.load_directory_file(store, str(path), service.Caller())
    assert info.value.rule == rule
    assert snapshot(store) == before
    with store.read() as tx:
        assert tx.directory_version() == version


def test_a_duplicate_key_is_a_load_error_with_its_line(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "directory.yaml"
    path.write_text("people:\n  - id: a\n    id: b\n")
    with pytest.raises(LoadError) as info:
        service.load_directory_file(store, str(path), service.Caller())
    assert info.value.line == 3


def test_loading_a_directory_makes_a_new_version_with_an_event(store: Store) -> None:
    result = service.load_directory_file(store, str(DIRECTORY), service.Caller())
    assert result["version"] == 2 and result["people"] == 11 and result["agents"] == 1
    with store.read() as tx:
        assert [e["type"] for e in tx.events()].count("directory.loaded") == 2
