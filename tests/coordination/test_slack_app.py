"""Slack approvals (SPEC §13): Block Kit messages out to a recorder of Web API calls, signed interactions in."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from slack_sdk.signature import SignatureVerifier

from ledgerflow.engine import service
from ledgerflow.engine.worker import Worker
from ledgerflow.server import create_server_app
from ledgerflow.storage.store import Store
from tests.conftest import DIRECTORY
from tests.coordination.conftest import SlackApi
from tests.engine.helpers import GOOD_OUTPUT, act, changes_nothing, only_open, run_state, start

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_IDS = {"dave": "UDAVE0001", "erin": "UERIN0002", "maria": "UMARIA003"}


def sign(body: str, *, secret: str = SECRET, at: int | None = None) -> dict[str, str]:
    """Headers exactly as Slack sends them: v0 HMAC-SHA256 over `v0:<timestamp>:<body>`."""
    timestamp = str(int(time.time()) if at is None else at)
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    assert signature is not None  # None only without a timestamp or a body
    return {"x-slack-request-timestamp": timestamp, "x-slack-signature": signature,
            "content-type": "application/x-www-form-urlencoded"}


@dataclass
class Slack:
    db: Store
    api: SlackApi
    http: TestClient
    run: str
    task: str
    approver: str

    def interact(self, payload: dict[str, Any], **signing: Any) -> Any:
        body = urlencode({"payload": json.dumps(payload)})
        return self.http.post("/slack/interactions", content=body, headers=sign(body, **signing))

    def button(self, outcome: str, user: str | None = None) -> dict[str, Any]:
        (message,) = [m for m in self.api.called("chat.postMessage") if m.get("blocks")]
        (actions,) = [b for b in message["blocks"] if b["type"] == "actions"]
        (button,) = [e for e in actions["elements"] if e["action_id"].endswith(f":{outcome}")]
        return {"type": "block_actions", "user": {"id": user or SLACK_IDS[self.approver]},
                "trigger_id": "13345224609.738474920.8088930838d88f008e0", "actions": [button],
                "container": {"type": "message", "channel_id": "D0LEDGER", "message_ts": "1767000000.000100"}}

    def submission(self, rationale: str, user: str | None = None) -> dict[str, Any]:
        (opened,) = self.api.called("views.open")
        view = opened["view"]
        return {"type": "view_submission", "user": {"id": user or SLACK_IDS[self.approver]},
                "view": {"callback_id": view["callback_id"], "private_metadata": view["private_metadata"],
                         "state": {"values": {"rationale": {"text": {"type": "plain_text_input",
                                                                     "value": rationale}}}}}}


@pytest.fixture
def slack(configured: Callable[..., Store], slack_api: SlackApi, tmp_path: Path) -> Iterator[Slack]:
    """A decision sent to its approver in Slack, and the server whose interaction endpoint Slack calls."""
    db = configured(slack_bot_token="xoxb-test", slack_signing_secret=SECRET, slack_api_url=slack_api.url,
                    base_url="https://lf.example.com")
    text = DIRECTORY.read_text(encoding="utf-8")
    for person, user in SLACK_IDS.items():
        text = text.replace(f"{{id: {person}, ", f"{{id: {person}, slack: {user}, ")
    (tmp_path / "directory.yaml").write_text(text, encoding="utf-8")
    service.load_directory_file(db, str(tmp_path / "directory.yaml"), service.Caller())
    run = start(db)
    act(db, "complete", only_open(db, run.id), output=GOOD_OUTPUT)
    Worker(db).tick()
    decision = only_open(db, run.id)
    assert decision.assignee in ("dave", "erin")
    with TestClient(create_server_app(db, worker=False)) as http:
        yield Slack(db=db, api=slack_api, http=http, run=run.id, task=decision.id, approver=decision.assignee)


def test_a_decision_reaches_its_assignee_as_a_block_kit_message_with_summary_fields_due_and_buttons(
        slack: Slack) -> None:
    (message,) = [m for m in slack.api.called("chat.postMessage") if m.get("blocks")]
    assert message["channel"] == SLACK_IDS[slack.approver]
    kinds = [b["type"] for b in message["blocks"]]
    assert kinds[0] == "header" and "actions" in kinds
    fields = " ".join(f["text"] for b in message["blocks"] if b["type"] == "section" for f in b.get("fields", []))
    assert "*customer*\nAcme" in fields and "*Due*" in fields
    (actions,) = [b for b in message["blocks"] if b["type"] == "actions"]
    assert [e["text"]["text"] for e in actions["elements"]] == ["Approve", "Reject", "Send back"]
    assert all(json.loads(e["value"])["task"] == slack.task for e in actions["elements"])


def test_a_button_opens_the_modal_and_its_submission_decides_with_channel_slack_and_updates_the_message(
        slack: Slack) -> None:
    with changes_nothing(slack.db):  # the button only asks for the rationale
        assert slack.interact(slack.button("approve")).status_code == 200
    (opened,) = slack.api.called("views.open")
    assert opened["trigger_id"].startswith("13345224609") and opened["view"]["type"] == "modal"
    answer = slack.interact(slack.submission("Margin stays above the floor"))
    assert answer.status_code == 200 and not answer.content
    task = run_state(slack.db, slack.run).task(slack.task)
    assert task is not None and (task.status, task.outcome) == ("decided", "approve")
    with slack.db.read() as tx:
        (decided,) = [e for e in tx.events(run=slack.run) if e["type"] == "task.decided"]
    assert (decided["actor"], decided["channel"]) == (slack.approver, "slack")
    (update,) = slack.api.called("chat.update")
    assert (update["channel"], update["ts"]) == ("D0LEDGER", "1767000000.000100")
    assert update["text"].startswith("*Approve* by ") and "Margin stays above the floor" in update["text"]


def test_a_forged_signature_is_refused_and_changes_nothing(slack: Slack) -> None:
    with changes_nothing(slack.db):
        answer = slack.interact(slack.button("approve"), secret="not-the-signing-secret")
    assert answer.status_code == 401 and not slack.api.called("views.open")


def test_a_replayed_request_with_an_old_timestamp_is_refused_and_changes_nothing(slack: Slack) -> None:
    slack.interact(slack.button("approve"))
    submission = slack.submission("ok")
    with changes_nothing(slack.db):
        answer = slack.interact(submission, at=int(time.time()) - 10 * 60)  # signed rightly, ten minutes ago
    assert answer.status_code == 401


def test_a_slack_user_not_in_the_directory_is_refused_and_changes_nothing(slack: Slack) -> None:
    with changes_nothing(slack.db):
        assert slack.interact(slack.button("approve", user="UNOBODY01")).status_code == 403
    assert not slack.api.called("views.open")
    slack.interact(slack.button("approve"))
    with changes_nothing(slack.db):
        assert slack.interact(slack.submission("mine now", user="UNOBODY01")).status_code == 403


def test_another_directory_person_cannot_decide_from_the_assignees_message(slack: Slack) -> None:
    slack.interact(slack.button("approve"))
    other = "erin" if slack.approver == "dave" else "dave"
    with changes_nothing(slack.db):
        answer = slack.interact(slack.submission("I approve instead", user=SLACK_IDS[other]))
    assert answer.status_code == 200 and "link-superseded" in answer.json()["errors"]["rationale"]
    assert not slack.api.called("chat.update")


def test_the_rationale_rule_refuses_in_the_modal_and_changes_nothing(slack: Slack) -> None:
    slack.interact(slack.button("reject"))
    with changes_nothing(slack.db):
        answer = slack.interact(slack.submission("   "))
    assert answer.json() == {"response_action": "errors", "errors": {"rationale": answer.json()["errors"]["rationale"]}}
    assert "rationale-required" in answer.json()["errors"]["rationale"]


def test_a_payload_slack_did_not_get_from_ledgerflow_is_refused_and_changes_nothing(slack: Slack) -> None:
    forged = slack.button("approve")
    forged["actions"][0]["value"] = "not json"
    with changes_nothing(slack.db):
        assert slack.interact(forged).status_code == 403
        assert slack.http.post("/slack/interactions", content="payload=%7B", headers=sign("payload=%7B")
                               ).status_code == 400


def test_nudges_and_escalations_reach_people_in_slack(slack: Slack) -> None:
    service.advance_clock(slack.db, "25h", service.Caller())  # two nudges, the SLA breach, the escalation
    Worker(slack.db).tick()
    to_approver = [m["text"] for m in slack.api.called("chat.postMessage") if m["channel"] == SLACK_IDS[slack.approver]]
    assert sum(text.startswith("*Reminder") for text in to_approver) == 2
    assert any(text.startswith("*SLA breached") for text in to_approver)
    (to_maria,) = [m for m in slack.api.called("chat.postMessage") if m["channel"] == SLACK_IDS["maria"]]
    assert to_maria["text"].startswith("Task handed to you (escalation)")
    assert any(b["type"] == "actions" for b in to_maria["blocks"])  # the decision is hers now: with buttons
