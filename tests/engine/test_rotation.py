"""Round-robin routing rotates per playbook step, also across tasks routed at the same instant (SPEC §3.2)."""

from __future__ import annotations

from pathlib import Path

from ledgerflow.storage.store import Store
from tests.conftest import PRICING
from tests.engine.helpers import only_open, publish_text, start


def test_six_runs_started_at_the_same_instant_alternate_between_two_members(store: Store, tmp_path: Path) -> None:
    owner = "    owner: account-exec\n"
    text = PRICING.read_text().replace(owner, owner + "    routing: round-robin\n", 1)
    publish_text(store, tmp_path, text)
    assignees = [only_open(store, start(store, by="carol").id).assignee for _ in range(6)]
    assert assignees == ["alice", "bob", "alice", "bob", "alice", "bob"]
