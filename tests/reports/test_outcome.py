"""The outcome measure (SPEC §12): `outcome.metric`, `outcome record`, the scorecard's `outcome` block and
`metric: outcome` triggers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledgerflow.api.app import create_app
from ledgerflow.cli.main import main
from ledgerflow.domain.errors import Forbidden, InvalidInput, LoadError, NotFound
from ledgerflow.domain.figures import parse_period, span
from ledgerflow.domain.playbook import OutcomeMetric, load_playbook
from ledgerflow.domain.source import parse_yaml
from ledgerflow.engine import outcomes, tokens
from ledgerflow.reporting.scorecard import scorecard
from ledgerflow.storage.store import Store
from ledgerflow.trust import audit
from tests.api.conftest import CONFIG
from tests.api.helpers import bearer
from tests.conftest import ADMIN, PRICING
from tests.domain.test_lint import edit
from tests.engine.helpers import publish_text, snapshot

WEEK = parse_period("2026-W10")  # the simulated clock starts on Monday 2026-03-02 08:00Z
MEASURED = edit(PRICING.read_text(encoding="utf-8"),
                ("  measure: median decision latency <= 24h and exception rate <= 10%\n",
                 "  measure: median decision latency <= 24h and exception rate <= 10%\n"
                 "  metric: {name: gross margin, unit: '%', target: 22, direction: up}\n"),
                ("    - metric: decision_latency_p90_hours\n      above: 48\n",
                 "    - metric: decision_latency_p90_hours\n      above: 48\n    - metric: outcome\n      below: 20\n"))
BLOCK = {"name": "gross margin", "unit": "%", "target": 22.0, "direction": "up"}


def _measured(store: Store, tmp_path: Path) -> None:
    assert publish_text(store, tmp_path, MEASURED)["created"]


def _record(store: Store, value: float, actor: str = "maria", period: str = "2026-W10") -> dict[str, Any]:
    return outcomes.record(store, "pricing-exception", parse_period(period), value, actor=actor, channel="cli")


def _reviews(store: Store) -> list[str]:
    with store.read() as tx:
        return sorted(tx.standalone(playbook="pricing-exception", step="governance-review").keys())


def test_the_metric_loads_with_its_direction_and_target() -> None:
    playbook = load_playbook(parse_yaml(MEASURED, "pb.yaml"))
    assert playbook.outcome.metric == OutcomeMetric(name="gross margin", unit="%", target=22.0, direction="up")
    assert playbook.outcome.metric.on_target(22) and not playbook.outcome.metric.on_target(21.9)


@pytest.mark.parametrize("change", [("direction: up", "direction: sideways"), ("target: 22", "target: high"),
                                    ("name: gross margin, ", "")])
def test_a_malformed_metric_does_not_load(change: tuple[str, str]) -> None:
    with pytest.raises(LoadError) as caught:
        load_playbook(parse_yaml(edit(MEASURED, change), "pb.yaml"))
    assert caught.value.path == "outcome.metric"


def test_a_trigger_on_the_outcome_needs_a_metric() -> None:
    text = edit(MEASURED, ("  metric: {name: gross margin, unit: '%', target: 22, direction: up}\n", ""))
    with pytest.raises(LoadError) as caught:
        load_playbook(parse_yaml(text, "pb.yaml"))
    assert caught.value.path == "governance.triggers[2].metric"


def test_the_scorecard_shows_the_recorded_value_beside_the_target(store: Store, tmp_path: Path) -> None:
    assert scorecard(store, "pricing-exception", WEEK)["outcome"] is None  # no metric declared
    _measured(store, tmp_path)
    assert scorecard(store, "pricing-exception", WEEK)["outcome"] == {**BLOCK, "value": None, "on_target": None}
    recorded = _record(store, 23.5)
    assert recorded["authority"] == {"kind": "owner", "detail": "outcome owner"}
    assert scorecard(store, "pricing-exception", WEEK)["outcome"] == {**BLOCK, "value": 23.5, "on_target": True}
    _record(store, 21, actor="sam")  # a correction replaces the value
    assert scorecard(store, "pricing-exception", WEEK)["outcome"] == {**BLOCK, "value": 21.0, "on_target": False}
    with store.read() as tx:
        assert [e["data"]["value"] for e in tx.events() if e["type"] == "outcome.recorded"] == [23.5, 21.0]
    assert audit.verify(store)["ok"]


def test_anyone_else_is_refused_and_nothing_changes(store: Store, tmp_path: Path) -> None:
    _measured(store, tmp_path)
    before = snapshot(store)
    for stranger in ("bob", "intake-bot"):  # an agent takes no part in governance either
        with pytest.raises(Forbidden):
            _record(store, 24, actor=stranger)
    with pytest.raises(NotFound):
        _record(store, 24, actor="nobody")
    for value, period in ((24.0, "2026-W11"), (float("nan"), "2026-W10"), (float("inf"), "2026-W10"),
                          (1e16, "2026-W10")):
        with pytest.raises(InvalidInput):
            _record(store, value, period=period)
    with pytest.raises(InvalidInput):
        outcomes.record(store, "pricing-exception", span("2026-03-02", "2026-03-04"), 1, actor="maria",
                        channel="cli")
    assert snapshot(store) == before
    assert scorecard(store, "pricing-exception", WEEK)["outcome"] == {**BLOCK, "value": None, "on_target": None}


def test_a_playbook_without_a_metric_records_nothing(store: Store) -> None:
    with pytest.raises(InvalidInput) as caught:
        _record(store, 24)
    assert caught.value.rule == "no-outcome-metric"


def test_a_value_crossing_an_outcome_trigger_opens_one_review_a_week(store: Store, tmp_path: Path) -> None:
    _measured(store, tmp_path)
    assert _record(store, 21)["reviews"] == [] and _reviews(store) == []
    opened = _record(store, 18)["reviews"]
    assert len(opened) == 1 and _reviews(store) == opened
    assert _record(store, 17)["reviews"] == [] and _reviews(store) == opened


def test_the_cli_records_and_exits_by_the_rules(capsys: pytest.CaptureFixture[str], store: Store,
                                                tmp_path: Path) -> None:
    _measured(store, tmp_path)
    args = ["outcome", "record", "pricing-exception", "--period", "2026-W10", "--db", store.url]
    assert main([*args, "--value", "23", "--as", "maria", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["outcome"] == {**BLOCK, "value": 23.0, "on_target": True}
    assert main([*args, "--value", "23", "--as", "maria", "--note", "from the ERP"]) == 0
    assert "gross margin = 23 % (on target" in capsys.readouterr().out
    assert main([*args, "--value", "23", "--as", "bob"]) == 3
    assert main([*args, "--value", "nan", "--as", "maria"]) == 2
    assert main([*args, "--value", "many", "--as", "maria"]) == 2


def test_the_api_records_for_the_owners_and_their_integrations_only(store: Store, tmp_path: Path) -> None:
    _measured(store, tmp_path)
    def headers(actor: str) -> dict[str, str]:
        return bearer(tokens.create(store, actor, ADMIN)["token"])
    with TestClient(create_app(store, CONFIG)) as client:
        made = client.post("/api/v1/outcomes/pricing-exception", json={"period": "2026-W10", "value": 19.5},
                           headers=headers("maria"))  # an ERP export holding a token made for maria
        refused = client.post("/api/v1/outcomes/pricing-exception", json={"period": "2026-W10", "value": 30},
                              headers=headers("bob"))
        card = client.get("/api/v1/scorecards/pricing-exception?period=2026-W10", headers=headers("maria"))
    assert made.status_code == 201 and len(made.json()["reviews"]) == 1
    assert (made.json()["recorded_by"], made.json()["authority"]) == ("maria", {"kind": "owner",
                                                                               "detail": "outcome owner"})
    assert refused.status_code == 403
    assert card.json()["outcome"] == {**BLOCK, "value": 19.5, "on_target": False}


def test_the_scorecard_table_reads_the_outcome_as_a_sentence(capsys: pytest.CaptureFixture[str], store: Store,
                                                             tmp_path: Path) -> None:
    _measured(store, tmp_path)
    _record(store, 18)
    assert main(["scorecard", "pricing-exception", "--period", "2026-W10", "--db", store.url]) == 0
    printed = " ".join(capsys.readouterr().out.replace("│", " ").split())
    assert "gross margin: 18 %, OFF TARGET (target 22 %, higher is better)." in printed
