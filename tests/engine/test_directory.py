"""`directory load` refuses clashes, unknown delegates and loops, and changes nothing then (SPEC §2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledgerflow.domain.errors import InvalidInput, LoadError
from ledgerflow.engine import service
from ledgerflow.storage.store import Store
from tests.conftest import DIRECTORY
from tests.engine.helpers import changes_nothing, snapshot

TEXT = DIRECTORY.read_text()


@pytest.mark.parametrize(("change", "rule"), [
    (("{id: bob,", "{id: alice,"), "id-clash"),
    (("roles: [account-exec]}\n  - {id: bob", "roles: [account-exec], delegate: zed}\n  - {id: bob"),
     "unknown-delegate"),
    (("roles: [finance]}\n  - {id: erin", "roles: [finance], delegate: dave}\n  - {id: erin"), "delegation-loop"),
    (("{id: sam,", "{id: finance,"), "id-clash"),
    (("{id: dave,", "{id: dave, slack: not-a-slack-id,"), "load-error"),
])
def test_a_bad_directory_is_refused_and_changes_nothing(store: Store, tmp_path: Path,
                                                         change: tuple[str, str], rule: str) -> None:
    text = TEXT.replace(*change)
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


def test_one_slack_user_given_to_two_people_is_refused_and_changes_nothing(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "directory.yaml"
    path.write_text(TEXT.replace("{id: dave,", "{id: dave, slack: U0SAME1,").replace("{id: erin,",
                                                                                    "{id: erin, slack: U0SAME1,"))
    with changes_nothing(store), pytest.raises(InvalidInput) as info:
        service.load_directory_file(store, str(path), service.Caller())
    assert info.value.rule == "slack-clash" and "dave and erin" in info.value.message


def test_a_duplicate_key_is_a_load_error_with_its_line(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "directory.yaml"
    path.write_text("people:\n  - id: a\n    id: b\n")
    with changes_nothing(store), pytest.raises(LoadError) as info:
        service.load_directory_file(store, str(path), service.Caller())
    assert info.value.line == 3


def test_loading_a_directory_makes_a_new_version_with_an_event(store: Store) -> None:
    result = service.load_directory_file(store, str(DIRECTORY), service.Caller())
    assert result["version"] == 2 and result["people"] == 11 and result["agents"] == 1
    with store.read() as tx:
        assert [e["type"] for e in tx.events()].count("directory.loaded") == 2


def _decision_for(store: Store) -> object:
    from tests.engine.helpers import GOOD_OUTPUT, act, only_open, start
    run = start(store)
    return act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)["opened"][0]


def test_an_approver_who_left_has_their_decision_rerouted_in_the_same_load(store: Store, tmp_path: Path) -> None:
    from tests.engine.helpers import only_open
    decision = _decision_for(store)
    assert decision.assignee == "dave"  # type: ignore[attr-defined]
    path = tmp_path / "directory.yaml"
    path.write_text(TEXT.replace("  - {id: dave, name: Dave Okafor, email: dave@example.com, roles: [finance]}\n", ""))
    service.load_directory_file(store, str(path), service.Caller())
    moved = only_open(store, decision.run)  # type: ignore[attr-defined]
    assert moved.id == decision.id and moved.assignee == "erin"  # type: ignore[attr-defined]
    with store.read() as tx:
        change = [e for e in tx.events() if e["type"] == "assignment.changed"][-1]
    assert change["data"]["kind"] == "directory" and change["data"]["from"] == "dave"


def test_when_an_away_period_starts_open_tasks_move_to_the_delegate(store: Store, tmp_path: Path) -> None:
    from tests.engine.helpers import only_open
    decision = _decision_for(store)
    path = tmp_path / "directory.yaml"
    path.write_text(TEXT.replace("roles: [finance]}\n  - {id: erin",
                                 "roles: [finance], away: {from: 2026-03-03, until: 2026-03-05, delegate: erin}}\n"
                                 "  - {id: erin"))
    service.load_directory_file(store, str(path), service.Caller())
    assert only_open(store, decision.run).assignee == "dave"  # type: ignore[attr-defined]
    service.advance_clock(store, "20h", service.Caller())  # 2026-03-03T04:00Z: dave is away
    moved = only_open(store, decision.run)  # type: ignore[attr-defined]
    assert (moved.assignee, moved.on_behalf_of) == ("erin", "dave")
    from tests.engine.helpers import decide
    result = decide(store, moved, "approve", rationale="for dave")
    with store.read() as tx:
        decided = [e for e in tx.events() if e["type"] == "task.decided"][-1]
    assert result["task"].outcome == "approve"
    assert decided["authority"] == {"kind": "delegation", "detail": "dave"}
