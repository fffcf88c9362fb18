"""One notion of a channel (SPEC §13): the timeline says where each decision came from, and the scorecard
breaks decision latency down by channel without moving its other figures."""

from __future__ import annotations

import json

import pytest

from ledgerflow.cli.main import main
from ledgerflow.domain.figures import parse_period
from ledgerflow.engine import service
from ledgerflow.reporting.scorecard import scorecard
from ledgerflow.storage.store import Store
from tests.engine.helpers import GOOD_OUTPUT, act, only_open, start


def decide_via(store: Store, channel: str, after: str) -> str:
    """A run whose decision is taken through `channel`, `after` its task became ready; the run's id."""
    run = start(store)
    decision = act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)["opened"][0]
    service.advance_clock(store, after, service.Caller())
    service.task_command(store, "decide", decision.id, service.Caller(actor=decision.assignee, channel=channel),
                         outcome="approve", rationale="Margin holds", to=None)
    return str(run.id)


def test_the_scorecard_breaks_decision_latency_down_by_channel_and_keeps_its_figures(store: Store) -> None:
    decide_via(store, "email", "2h")
    decide_via(store, "slack", "1h")
    decide_via(store, "email", "6h")
    week = parse_period("2026-W10")
    plain = scorecard(store, "pricing-exception", week)
    broken_down = scorecard(store, "pricing-exception", week, by_channel=True)
    assert "latency_by_channel" not in plain
    assert {k: v for k, v in broken_down.items() if k != "latency_by_channel"} == plain
    assert broken_down["latency_by_channel"] == {
        "email": {"decided": 2, "median_hours": 4.0, "p90_hours": pytest.approx(5.6)},
        "slack": {"decided": 1, "median_hours": 1.0, "p90_hours": 1.0}}
    assert plain["decision_latency"]["median_hours"] == 2.0


def test_cli_scorecard_by_channel_and_run_show_name_the_channel(capsys: pytest.CaptureFixture[str],
                                                                store: Store) -> None:
    run = decide_via(store, "slack", "3h")
    assert main(["scorecard", "pricing-exception", "--period", "2026-W10", "--by-channel", "--db", store.url,
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["latency_by_channel"] == {"slack": {"decided": 1, "median_hours": 3.0, "p90_hours": 3.0}}
    assert main(["scorecard", "pricing-exception", "--period", "2026-W10", "--by-channel", "--db", store.url]) == 0
    assert "decision_latency via slack" in capsys.readouterr().out
    assert main(["run", "show", run, "--db", store.url, "--json"]) == 0
    (decided,) = [e for e in json.loads(capsys.readouterr().out)["timeline"] if e["type"] == "task.decided"]
    assert decided["channel"] == "slack" and " via slack " in decided["text"]
    assert main(["run", "show", run, "--db", store.url]) == 0
    assert "decided approve on approve via slack" in capsys.readouterr().out


def test_a_caller_names_a_known_channel() -> None:
    with pytest.raises(ValueError, match="unknown channel"):
        service.Caller(actor="dave", channel="fax")
