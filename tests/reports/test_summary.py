"""Summary templates (SPEC §12): validated at load, shown in task lists, the API, notifications and reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledgerflow.api.app import create_app
from ledgerflow.cli.main import main
from ledgerflow.domain.errors import LoadError
from ledgerflow.domain.lint import lint_source
from ledgerflow.domain.notifications import messages_for
from ledgerflow.domain.playbook import load_playbook
from ledgerflow.domain.source import parse_yaml
from ledgerflow.domain.summary import render_summary, template_fields
from ledgerflow.engine import service, tokens
from ledgerflow.reporting import reports
from ledgerflow.storage.store import Store
from tests.api.conftest import CONFIG
from tests.api.helpers import bearer
from tests.conftest import ADMIN, PRICING
from tests.domain.test_lint import directory
from tests.engine.helpers import GOOD_OUTPUT, act, only_open, publish_text, snapshot, start

TEMPLATE = "{customer}: {deal_value} at {discount_pct}%"
WITH_SUMMARY = PRICING.read_text(encoding="utf-8").replace(
    "title: Pricing exception approval\n", f'title: Pricing exception approval\nsummary: "{TEMPLATE}"\n')


def _with_summary(store: Store, tmp_path: Path) -> None:
    assert publish_text(store, tmp_path, WITH_SUMMARY)["created"]


# ------------------------------------------------------------------------------------------- pure


def test_a_summary_fills_input_fields_and_marks_missing_ones() -> None:
    assert render_summary(TEMPLATE, {"customer": "Acme", "deal_value": 12000.0, "discount_pct": 18.5}) \
        == "Acme: 12000 at 18.5%"
    assert render_summary("{customer} / {region}", {"customer": "Acme\nLtd"}) == "Acme Ltd / ?"
    assert render_summary("{{literal}} {tags}", {"tags": ["a", "b"]}) == '{literal} ["a","b"]'
    assert render_summary(None, {"customer": "Acme"}) is None


def test_a_long_summary_is_cut_to_one_short_line() -> None:
    shown = render_summary("{note}", {"note": "x" * 500})
    assert shown is not None and len(shown) == 200 and shown.endswith("…")


@pytest.mark.parametrize("template", ["{customer.__class__}", "{0}", "{}", "{customer!r}", "{deal_value:,}",
                                      "{customer", "customer}"])
def test_a_placeholder_other_than_a_plain_field_is_refused(template: str) -> None:
    with pytest.raises(ValueError):
        template_fields(template)


def test_a_playbook_with_a_malformed_summary_does_not_load() -> None:
    text = WITH_SUMMARY.replace(TEMPLATE, "{customer.__class__}")
    with pytest.raises(LoadError) as caught:
        load_playbook(parse_yaml(text, "pb.yaml"))
    assert caught.value.path == "summary"


def test_lint_warns_of_a_summary_field_the_input_does_not_declare() -> None:
    findings = lint_source(WITH_SUMMARY.replace("{customer}", "{custmer}"), "pb.yaml", directory())
    assert [(f.rule, f.severity, f.path) for f in findings] == [("summary-unknown-field", "warning", "summary")]
    assert "customer" in findings[0].message
    assert lint_source(WITH_SUMMARY, "pb.yaml", directory()) == []


def test_a_notification_carries_the_summary_in_its_subject_and_body() -> None:
    playbook = load_playbook(parse_yaml(WITH_SUMMARY, "pb.yaml"))
    event = {"type": "task.ready", "seq": 1, "at": "2026-03-02T08:00:00Z", "run": "r1", "task": "t1",
             "step": "prepare", "data": {"assignee": "alice"}}
    (message,) = messages_for([event], playbook=playbook, directory=None, channels=["webhook"], base_url="",
                              summary="Acme: 12000 at 18%")
    assert message.subject.endswith("Acme: 12000 at 18%") and "About: Acme: 12000 at 18%" in message.body
    assert message.payload["summary"] == "Acme: 12000 at 18%"


# ------------------------------------------------------------------------------------ on a database


def test_publishing_a_malformed_summary_is_refused_and_changes_nothing(store: Store, tmp_path: Path) -> None:
    before = snapshot(store)
    path = tmp_path / "bad.yaml"
    path.write_text(WITH_SUMMARY.replace(TEMPLATE, "{customer!r}"))
    code = main(["playbook", "publish", str(path), "--db", store.url])
    assert code == 3 and snapshot(store) == before


def test_task_list_shows_each_run_summary_and_null_without_a_template(
        capsys: pytest.CaptureFixture[str], store: Store, tmp_path: Path) -> None:
    plain = start(store)
    _with_summary(store, tmp_path)
    summed = start(store, customer="Globex", deal_value=80000, discount_pct=25)
    assert main(["task", "list", "--status", "open", "--db", store.url, "--json"]) == 0
    listed = {t["run"]: t["summary"] for t in json.loads(capsys.readouterr().out)}
    assert listed == {plain.id: None, summed.id: "Globex: 80000 at 25%"}


def test_the_api_inbox_and_task_view_carry_the_summary_but_a_guest_never_does(
        store: Store, tmp_path: Path) -> None:
    _with_summary(store, tmp_path)
    run = start(store)
    task = only_open(store, run.id)
    headers = bearer(tokens.create(store, str(task.assignee), ADMIN)["token"])
    with TestClient(create_app(store, CONFIG)) as client:
        inbox: list[dict[str, Any]] = client.get("/api/v1/tasks", headers=headers).json()
        shown = client.get(f"/api/v1/tasks/{task.id}", headers=headers).json()
        link = tokens.invite_guest(store, task.id, "ext@example.com", service.Caller(actor=str(task.assignee)))
        guest = client.get(f"/api/v1/tasks/{task.id}", headers=bearer(link["link"].rsplit("/", 1)[1])).json()
    assert [t["summary"] for t in inbox] == ["Acme: 12000 at 18%"]
    assert shown["task"]["summary"] == "Acme: 12000 at 18%"
    assert guest["task"]["summary"] is None


def test_report_stalled_names_the_summary_of_each_late_task(store: Store, tmp_path: Path) -> None:
    _with_summary(store, tmp_path)
    run = start(store)
    act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)
    service.advance_clock(store, "2d", service.Caller())
    (late,) = reports.stalled(store)
    assert (late["run"], late["summary"]) == (run.id, "Acme: 12000 at 18%")
