"""Server-sent events: a run's events, in seq order, resumable by Last-Event-ID, ending in bounded time."""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi.testclient import TestClient

from tests.api.conftest import CONFIG
from tests.api.helpers import Login, to_decision


def _read(client: TestClient, path: str, headers: dict[str, str]) -> tuple[int, str, list[dict[str, Any]]]:
    with client.stream("GET", path, headers=headers) as answer:
        text = answer.read().decode()
        status, kind = answer.status_code, answer.headers["content-type"]
    events = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "id" in fields:
            events.append({"id": int(fields["id"]), "event": fields["event"], "data": json.loads(fields["data"])})
    assert status == 200, text
    return status, kind, events


def test_an_ended_run_streams_all_its_events_and_the_stream_ends(client: TestClient, login: Login) -> None:
    run_id, _, decision = to_decision(client, login)
    client.post(f"/api/v1/tasks/{decision['task']}/decide", headers=login(decision["assignee"]),
                json={"outcome": "reject", "rationale": "Outside the margin floor"})
    timeline = client.get(f"/api/v1/runs/{run_id}", headers=login("bob")).json()["timeline"]
    _, kind, events = _read(client, f"/api/v1/runs/{run_id}/events/stream", login("bob"))
    assert kind.startswith("text/event-stream")
    assert [e["id"] for e in events] == [t["seq"] for t in timeline]
    assert events[-1]["event"] == "run.rejected" and events[0]["data"]["type"] == "run.started"
    resumed = _read(client, f"/api/v1/runs/{run_id}/events/stream",
                    {**login("bob"), "Last-Event-ID": str(events[-3]["id"])})[2]
    assert [e["id"] for e in resumed] == [e["id"] for e in events[-2:]]


def test_a_running_runs_stream_sends_what_exists_and_closes_after_its_time(client: TestClient,
                                                                          login: Login) -> None:
    run_id, _, _ = to_decision(client, login)
    with client.stream("GET", f"/api/v1/runs/{run_id}/events/stream?seconds=0.3", headers=login("bob")) as answer:
        polls = answer.read().decode().count(": waiting")
    # it polls every stream_poll_seconds until its 0.3 s are up, then closes (a stream that never closed would
    # hit the test's timeout): at most one poll per interval, one more for the last partial interval
    assert polls <= math.ceil(0.3 / CONFIG.stream_poll_seconds) + 1
    _, _, events = _read(client, f"/api/v1/runs/{run_id}/events/stream?seconds=0.3", login("bob"))
    assert events and events[-1]["event"] in ("task.ready", "notification.queued", "decision.informed")
    after = _read(client, f"/api/v1/runs/{run_id}/events/stream?seconds=0.2&after={events[-1]['id']}",
                  login("bob"))[2]
    assert after == []
