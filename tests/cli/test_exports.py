"""`export ocel|xes --playbook ID --period P`: the chosen runs, each whole (both databases)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ledgerflow.cli.main import main
from tests.conftest import PRICING
from tests.engine.helpers import tables

INPUT = '{"customer": "Acme", "deal_value": 12000, "discount_pct": 18}'
OTHER = "pricing-exception-emea"


def start(capsys: pytest.CaptureFixture[str], db: str, playbook: str = "pricing-exception") -> str:
    capsys.readouterr()
    assert main(["run", "start", playbook, "--as", "bob", "--input", INPUT, "--db", db, "--json"]) == 0
    started: str = json.loads(capsys.readouterr().out)["run"]
    return started


@pytest.fixture
def three_runs(cli_db: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> dict[str, str]:
    """A run of pricing-exception started in 2026-W10 and worked on in W11, one started in W11, and one of
    another playbook in W10."""
    other = tmp_path / "other.yaml"
    other.write_text(PRICING.read_text().replace("id: pricing-exception", f"id: {OTHER}", 1))
    assert main(["playbook", "publish", str(other), "--db", cli_db]) == 0
    capsys.readouterr()
    runs = {"w10": start(capsys, cli_db), "other": start(capsys, cli_db, OTHER)}
    assert main(["clock", "advance", "1w", "--db", cli_db]) == 0
    capsys.readouterr()
    assert main(["task", "list", "--run", runs["w10"], "--status", "open", "--db", cli_db, "--json"]) == 0
    task = json.loads(capsys.readouterr().out)[0]
    assert main(["task", "complete", task["task"], "--as", task["assignee"], "--db", cli_db, "--output",
                 '{"deal_sheet_url": "https://docs/1", "justification": "Competitor offered 20% on renewal"}']) == 0
    runs["w11"] = start(capsys, cli_db)
    capsys.readouterr()
    return runs


def test_ocel_export_of_a_playbook_and_a_week_holds_only_those_runs_whole(
        capsys: pytest.CaptureFixture[str], cli_db: str, three_runs: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "w10.json"
    assert main(["export", "ocel", "--out", str(out), "--playbook", "pricing-exception", "--period", "2026-W10",
                 "--db", cli_db]) == 0
    document = json.loads(out.read_text())
    runs = {o["id"] for o in document["objects"] if o["type"] == "run"}
    assert runs == {three_runs["w10"]}
    assert {e["type"] for e in document["events"]} >= {"run.started", "task.completed"}  # whole: completed in W11
    assert main(["export", "ocel", "--out", str(out), "--db", cli_db]) == 0  # no filter: everything
    everything = json.loads(out.read_text())
    assert {o["id"] for o in everything["objects"] if o["type"] == "run"} == set(three_runs.values())
    assert "playbook.published" in {e["type"] for e in everything["events"]}


def test_xes_export_of_a_playbook_holds_a_trace_per_run_of_it(
        capsys: pytest.CaptureFixture[str], cli_db: str, three_runs: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "other.xes"
    assert main(["export", "xes", "--out", str(out), "--playbook", OTHER, "--db", cli_db]) == 0
    ns = {"x": "http://www.xes-standard.org/"}
    traces = ET.parse(out).getroot().findall("x:trace", ns)
    assert [t.find("x:string[@key='concept:name']", ns).get("value") for t in traces] == [  # type: ignore[union-attr]
        three_runs["other"]]


def test_an_export_of_an_unknown_playbook_is_exit_2_and_writes_nothing(
        capsys: pytest.CaptureFixture[str], cli_db: str, tmp_path: Path) -> None:
    before, out = tables(cli_db), tmp_path / "none.json"
    assert main(["export", "ocel", "--out", str(out), "--playbook", "pricing-exceptoin", "--db", cli_db]) == 2
    assert not out.exists() and tables(cli_db) == before
    assert main(["export", "xes", "--out", str(out), "--period", "2026-W99", "--db", cli_db]) == 2
    assert not out.exists() and tables(cli_db) == before
