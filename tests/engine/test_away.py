"""An away period is a timer like any other: its tasks move at its start, before later timers fire (SPEC §2)."""

from __future__ import annotations

from pathlib import Path

from ledgerflow.engine import service
from ledgerflow.storage.store import Store
from tests.conftest import DIRECTORY
from tests.engine.helpers import GOOD_OUTPUT, act, only_open, start

DAVE = "  - {id: dave, name: Dave Okafor, email: dave@example.com, roles: [finance]}\n"


def load(store: Store, tmp_path: Path, text: str) -> None:
    path = tmp_path / "directory.yaml"
    path.write_text(text)
    service.load_directory_file(store, str(path), service.Caller())


def dave_away_from_the_3rd(store: Store, tmp_path: Path) -> None:
    away = DAVE.replace("roles: [finance]}", "roles: [finance], away: {from: 2026-03-03, until: 2026-03-05, "
                                            "delegate: erin}}")
    load(store, tmp_path, DIRECTORY.read_text().replace(DAVE, away))


def test_a_clock_advance_across_an_away_start_moves_the_task_before_the_sla_fires(store: Store,
                                                                                    tmp_path: Path) -> None:
    run = start(store)
    decision = act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)["opened"][0]
    assert decision.assignee == "dave"
    dave_away_from_the_3rd(store, tmp_path)
    service.advance_clock(store, "2d", service.Caller())  # the SLA (24h) falls at 2026-03-03T08:00Z
    with store.read() as tx:
        changes = [e for e in tx.events(run=run.id) if e["type"] == "assignment.changed"]
    handed = [(c["at"], c["data"]["kind"], c["data"]["from"], c["data"]["to"]) for c in changes]
    assert handed[0] == ("2026-03-03T00:00:00.000000Z", "delegation", "dave", "erin")
    assert handed[1][1:] == ("escalation", "erin", "maria")


def test_an_away_start_set_by_a_replaced_directory_does_nothing(store: Store, tmp_path: Path) -> None:
    run = start(store)
    act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)
    dave_away_from_the_3rd(store, tmp_path)
    load(store, tmp_path, DIRECTORY.read_text())  # dave's holiday is called off
    service.advance_clock(store, "20h", service.Caller())
    assert only_open(store, run.id).assignee == "dave"


def both(store: Store, tmp_path: Path, dave: str, erin: str) -> None:
    """dave and erin back each other up; each with the given away period (a YAML flow mapping, or "")."""
    text = DIRECTORY.read_text()
    for who, away in (("dave", dave), ("erin", erin)):
        other = "erin" if who == "dave" else "dave"
        extra = f", delegate: {other}" + (f", away: {away}" if away else "")
        text = text.replace(f"{who}@example.com, roles: [finance]}}", f"{who}@example.com, roles: [finance]{extra}}}")
    load(store, tmp_path, text)


def test_two_people_backing_each_other_up_is_a_directory_that_loads(store: Store, tmp_path: Path) -> None:
    run = start(store)
    act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)
    both(store, tmp_path, dave="{from: 2026-03-02, until: 2026-03-05}", erin="")
    moved = only_open(store, run.id)
    assert (moved.assignee, moved.on_behalf_of) == ("erin", "dave")


def test_a_loop_with_everyone_on_it_away_leaves_the_decision_to_the_escalation_path(store: Store,
                                                                                     tmp_path: Path) -> None:
    away = "{from: 2026-03-02, until: 2026-03-05}"
    both(store, tmp_path, dave=away, erin=away)
    run = start(store)
    decision = act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)["opened"][0]
    assert (decision.assignee, decision.on_behalf_of) == ("maria", None)  # SPEC §3.4: escalates at once
