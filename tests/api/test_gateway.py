"""The approval gateway end to end over a real socket: the agent waits, a person decides, the agent acts or not."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledgerflow.api.app import create_app
from ledgerflow.client import ApprovalDenied, Client
from ledgerflow.engine import service, tokens
from ledgerflow.storage.store import Store
from tests.api.conftest import CONFIG
from tests.conftest import ADMIN
from tests.servers import serving

PLAYBOOK = Path(__file__).resolve().parents[2] / "src" / "ledgerflow" / "examples" / "agent-action-approval.yaml"


@pytest.fixture
def base_url(store: Store) -> Iterator[str]:
    service.publish(store, str(PLAYBOOK), ADMIN)
    with serving(create_app(store, CONFIG), ready_path="/readyz") as url:
        yield url


def _client(store: Store, base_url: str, actor: str) -> Client:
    return Client(base_url, tokens.create(store, actor, ADMIN)["token"])


def _decide_when_it_arrives(approver: Client, outcome: str, rationale: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        waiting = [t for t in approver.inbox() if t["step"] == "approve"]
        if waiting:
            approver.decide(waiting[0]["task"], outcome, rationale)
            return
        time.sleep(0.05)
    raise AssertionError("the approval never reached the approver's inbox")


def _in_thread(work: Any) -> tuple[threading.Thread, dict[str, Any]]:
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = work()
        except Exception as exc:
            box["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, box


def test_the_agent_acts_only_after_a_person_approves_and_the_result_is_recorded(store: Store, base_url: str) -> None:
    agent, dave = _client(store, base_url, "intake-bot"), _client(store, base_url, "dave")
    refunds: list[dict[str, Any]] = []

    @agent.guard("agent-action-approval", reason="the customer was charged twice", timeout=20)
    def refund(order: int, amount: float) -> dict[str, Any]:
        refunds.append({"order": order, "amount": amount})
        return {"refund_id": f"RF-{order}"}

    thread, box = _in_thread(lambda: refund(42, amount=19.9))
    _decide_when_it_arrives(dave, "approve", "Duplicate charge confirmed in the ledger")
    thread.join(timeout=30)
    assert box.get("value") == {"refund_id": "RF-42"} and refunds == [{"order": 42, "amount": 19.9}]
    runs = dave.get("/runs")["items"]
    run = dave.run(runs[-1]["run"])
    assert run["status"] == "completed"
    execute = next(t for t in run["tasks"] if t["step"] == "execute")
    assert execute["assignee"] == "intake-bot"
    decided = next(e for e in run["timeline"] if e["type"] == "task.decided")
    assert (decided["actor"], decided["authority"]["kind"]) == ("dave", "role")
    (consumed,) = [e for e in run["timeline"] if e["type"] == "approval.consumed"]
    assert consumed["actor"] == "intake-bot" and consumed["seq"] < next(
        e["seq"] for e in run["timeline"] if e["type"] == "task.completed")  # the grant was used before acting
    agent.close()
    dave.close()


def test_a_rejected_action_never_runs(store: Store, base_url: str) -> None:
    agent, dave = _client(store, base_url, "intake-bot"), _client(store, base_url, "dave")
    calls: list[int] = []

    @agent.guard("agent-action-approval", reason="bulk discount", timeout=20)
    def discount_everyone(percent: int) -> None:
        calls.append(percent)

    thread, box = _in_thread(lambda: discount_everyone(90))
    _decide_when_it_arrives(dave, "reject", "Far outside policy")
    thread.join(timeout=30)
    assert isinstance(box.get("error"), ApprovalDenied) and calls == []
    agent.close()
    dave.close()


def test_an_approval_covers_only_the_exact_action_it_was_given_for(store: Store, base_url: str) -> None:
    agent, dave = _client(store, base_url, "intake-bot"), _client(store, base_url, "dave")
    thread, box = _in_thread(lambda: agent.request_approval(
        "agent-action-approval", action="refund", arguments={"order": 7, "amount": 10}, reason="double charge",
        timeout=20))
    _decide_when_it_arrives(dave, "approve", "ok")
    thread.join(timeout=30)
    approval = box["value"]
    assert approval.approved and approval.decider == "dave"
    assert approval.covers("refund", {"order": 7, "amount": 10})
    assert not approval.covers("refund", {"order": 7, "amount": 1000})
    assert not approval.covers("refund_all", {"order": 7, "amount": 10})
    agent.close()
    dave.close()


def test_the_server_grant_is_single_use_even_for_an_approval_the_agent_still_holds(
        store: Store, base_url: str) -> None:
    agent, dave = _client(store, base_url, "intake-bot"), _client(store, base_url, "dave")
    thread, box = _in_thread(lambda: agent.request_approval(
        "agent-action-approval", action="refund", arguments={"order": 9}, reason="double charge", timeout=20))
    _decide_when_it_arrives(dave, "approve", "ok")
    thread.join(timeout=30)
    approval = box["value"]
    with pytest.raises(ApprovalDenied, match="approval-mismatch"):
        agent.consume(approval, {"order": 10})
    assert agent.consume(approval, {"order": 9})["grant"]["consumed_at"] is not None
    with pytest.raises(ApprovalDenied, match="approval-used"):
        agent.consume(approval, {"order": 9})
    assert agent.approval(approval.approval)["status"] == "approved"
    agent.close()
    dave.close()
