"""The task page tells the time left only while the task is open."""

from __future__ import annotations

from fastapi.testclient import TestClient

from ledgerflow.storage.store import Store
from tests.engine.helpers import GOOD_OUTPUT, act, decide, only_open, start
from tests.web.conftest import sign_in


def test_a_decided_task_shows_no_time_left(store: Store, web: TestClient) -> None:
    run = start(store)
    decision = act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)["opened"][0]
    sign_in(web, "dave")
    assert " h left" in web.get(f"/tasks/{decision.id}").text
    decide(store, decision, "approve", rationale="Margin holds")
    assert " h left" not in web.get(f"/tasks/{decision.id}").text
