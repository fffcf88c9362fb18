"""`config show` and `worker --metrics-port` (issue #24): the effective settings with their sources and secrets
masked, misspelt variables warned about; a worker process answering a Prometheus scrape."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ledgerflow.domain.errors import InvalidInput
from ledgerflow.ops import config
from ledgerflow.storage.store import Store
from tests.engine.helpers import start

SECRET = "c2VjcmV0LXNpZ25pbmcta2V5LXNlZWQtMzItYnl0ZXM="
CLI = [sys.executable, "-c", "from ledgerflow.cli.main import entry; entry()"]


def _rows(shown: dict[str, object]) -> dict[str, dict[str, object]]:
    return {str(row["key"]): row for row in shown["settings"]}  # type: ignore[attr-defined]


def test_each_setting_says_where_it_came_from_and_secrets_are_masked(tmp_path: Path) -> None:
    toml = tmp_path / "ledgerflow.toml"
    toml.write_text('LEDGERFLOW_MAIL_FROM = "ops@example.com"\nLEDGERFLOW_RETRY_MAX = "60"\n'
                    'LEDGERFLOW_WEBHOOK_SECRET = "whsec_from_the_file"\nLEDGERFLOW_NOPE = "x"\n', encoding="utf-8")
    shown = config.show({"LEDGERFLOW_RETRY_MAX": "30", "LEDGERFLOW_SIGNING_KEY": SECRET,
                         "LEDGERFLOW_DB": "postgresql://app:hunter2@db.internal:5432/ledger",
                         "LEDGERFLOW_SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/xyz",
                         "LEDGERFLOW_TOKEN": "lf_cli_token", "LEDGERFLOW_SMPT_URL": "smtp://typo",
                         "LEDGERFLOW_TEST_BACKENDS": "sqlite", "PATH": "/bin"}, toml)
    rows = _rows(shown)
    assert rows["LEDGERFLOW_RETRY_MAX"] == {"key": "LEDGERFLOW_RETRY_MAX", "value": "30", "source": "env"}
    assert rows["LEDGERFLOW_MAIL_FROM"]["value"] == "ops@example.com"
    assert rows["LEDGERFLOW_MAIL_FROM"]["source"] == f"file {toml}"
    assert (rows["LEDGERFLOW_BASE_URL"]["value"], rows["LEDGERFLOW_BASE_URL"]["source"]) == (
        "http://127.0.0.1:8000", "default")
    assert rows["LEDGERFLOW_DB"]["value"] == "postgresql://app:********@db.internal:5432/ledger"
    for key in ("LEDGERFLOW_SIGNING_KEY", "LEDGERFLOW_SLACK_WEBHOOK_URL", "LEDGERFLOW_TOKEN",
                "LEDGERFLOW_WEBHOOK_SECRET"):
        assert rows[key]["value"] == "********", key
    assert rows["LEDGERFLOW_SESSION_SECRET"]["value"] is None  # unset stays unset
    assert shown["unknown"] == ["LEDGERFLOW_NOPE (in " + str(toml) + ")", "LEDGERFLOW_SMPT_URL"]
    printed = json.dumps(shown)
    for secret in (SECRET, "hunter2", "xyz", "lf_cli_token", "whsec_from_the_file"):
        assert secret not in printed


def test_a_malformed_setting_is_refused_as_the_server_would() -> None:
    with pytest.raises(InvalidInput):
        config.show({"LEDGERFLOW_LOG_FORMAT": "xml"}, Path("/nonexistent/ledgerflow.toml"))


def test_the_command_line_prints_masked_settings_and_warns_of_unknown_variables(tmp_path: Path) -> None:
    env = {**os.environ, "LEDGERFLOW_SIGNING_KEY": SECRET, "LEDGERFLOW_DBB": "sqlite:///typo.db"}
    done = subprocess.run([*CLI, "config", "show", "--json"], env=env, cwd=tmp_path, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0
    assert _rows(json.loads(done.stdout))["LEDGERFLOW_SIGNING_KEY"]["value"] == "********"
    assert "warning: LEDGERFLOW_DBB is not a ledgerflow setting" in done.stderr
    assert SECRET not in done.stdout + done.stderr
    with_db = subprocess.run([*CLI, "config", "show", "--db", "postgresql://a:pw@h/d"], env=env, cwd=tmp_path,
                             capture_output=True, text=True, check=False)
    assert with_db.returncode == 0 and "postgresql://a:********@h/d" in with_db.stdout and ":pw@" not in with_db.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_worker_process_answers_a_scrape_on_its_metrics_port(store: Store) -> None:
    start(store)
    port = _free_port()
    worker = subprocess.Popen([*CLI, "worker", "--metrics-port", str(port), "--max-seconds", "60", "--db", store.url],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        samples: dict[str, float] = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and samples.get("ledgerflow_worker_last_tick_timestamp_seconds", 0) <= 0:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
            except httpx.TransportError:
                time.sleep(0.05)
                continue
            samples = {f"{s.name}{sorted(s.labels.items())}": s.value
                       for family in text_string_to_metric_families(answer.text) for s in family.samples}
            samples["ledgerflow_worker_last_tick_timestamp_seconds"] = next(
                (v for k, v in samples.items() if k.startswith("ledgerflow_worker_last_tick")), 0.0)
    finally:
        worker.terminate()
        _, errors = worker.communicate(timeout=30)
    assert samples["ledgerflow_worker_last_tick_timestamp_seconds"] > 0
    assert samples["ledgerflow_open_tasks[('playbook', 'pricing-exception'), ('step', 'prepare')]"] == 1
    for line in (line for line in errors.splitlines() if line.startswith("{")):
        assert "event" in json.loads(line)  # the worker's log, one JSON object per line when not a terminal
