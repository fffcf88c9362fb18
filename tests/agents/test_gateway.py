"""`ledgerflow mcp-gateway` in front of a real upstream MCP server, driven through the SDK's client over stdio."""

from __future__ import annotations

import json
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters

from ledgerflow.agents.gateway import Gateway, build, upstream_command
from ledgerflow.domain.errors import InvalidInput
from ledgerflow.domain.gateway_policy import ASK, Policy, Rule, load_policy
from ledgerflow.engine import service
from ledgerflow.engine.tokens import Principal
from ledgerflow.storage.store import Store
from tests.agents.helpers import SRC, call, publish_examples, refused, token
from tests.aio import run_async
from tests.engine.helpers import caller, snapshot

UPSTREAM = Path(__file__).with_name("upstream.py")
POLICY = """\
timeout: 5m
tools:
  echo: allow
  wipe: deny
  pay: {ask: agent-action-approval}
"""


def _ran(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def _gateway(store: Store, tmp_path: Path) -> tuple[StdioServerParameters, Path]:
    policy, log = tmp_path / "policy.yaml", tmp_path / "upstream.log"
    policy.write_text(POLICY)
    params = StdioServerParameters(command=sys.executable, args=[
        "-c", "from ledgerflow.cli.main import entry; entry()", "mcp-gateway", "--db", store.url,
        "--upstream", f"{sys.executable} {UPSTREAM} {log}", "--policy", str(policy)],
        env={"LEDGERFLOW_TOKEN": token(store, "intake-bot"), "PYTHONPATH": SRC})
    return params, log


def _decide_when_it_arrives(store: Store, outcome: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with store.read() as tx:
            waiting = [t for t in tx.tasks(status="open") if t.step == "approve"]
        if waiting:
            service.task_command(store, "decide", waiting[0].id, caller(waiting[0].assignee), outcome=outcome,
                                 rationale="checked against the order", to=None)
            return
        time.sleep(0.05)
    raise AssertionError("the gateway's approval request never reached an approver")


def _gateway_events(store: Store) -> list[dict[str, Any]]:
    with store.read() as tx:
        return [e for e in tx.events() if e["type"] == "gateway.called"]


def test_the_gateway_forwards_allowed_calls_refuses_denied_ones_and_holds_asked_ones_for_a_person(
        store: Store, tmp_path: Path) -> None:
    publish_examples(store)
    params, log = _gateway(store, tmp_path)

    async def agent() -> tuple[set[str], dict[str, Any], str, dict[str, Any], str]:
        async with Client(params) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            echoed = await call(client, "echo", {"text": "hello"})
            denied = await refused(client, "wipe", {"target": "/"})
            async with anyio.create_task_group() as group:
                group.start_soon(anyio.to_thread.run_sync, _decide_when_it_arrives, store, "approve")
                paid = await call(client, "pay", {"order": 42, "amount": 19.9})
            async with anyio.create_task_group() as group:
                group.start_soon(anyio.to_thread.run_sync, _decide_when_it_arrives, store, "reject")
                rejected = await refused(client, "pay", {"order": 43, "amount": 5000})
            return tools, echoed, denied, paid, rejected

    tools, echoed, denied, paid, rejected = run_async(agent)
    assert tools == {"echo", "pay"} and echoed == {"result": "hello"}
    assert denied.startswith("gateway-denied:") and rejected.startswith("approval-rejected:")
    assert paid == {"refund": "RF-42", "amount": 19.9}
    assert _ran(log) == [{"tool": "echo", "arguments": {"text": "hello"}},
                         {"tool": "pay", "arguments": {"order": 42, "amount": 19.9}}]
    events = _gateway_events(store)
    assert [(e["data"]["tool"], e["data"]["rule"], e["data"]["result"]) for e in events] == [
        ("echo", "allow", "forwarded"), ("wipe", "deny", "denied"), ("pay", "ask", "forwarded"),
        ("pay", "ask", "rejected")]
    assert {(e["actor"], e["channel"]) for e in events} == {("intake-bot", "mcp")}
    with store.read() as tx:
        consumed = [e for e in tx.events() if e["type"] == "approval.consumed"]
    assert len(consumed) == 1 and consumed[0]["run"] == events[2]["run"]


def test_an_ask_nobody_decides_in_time_is_refused_cancelled_and_never_forwarded(store: Store, tmp_path: Path) -> None:
    publish_examples(store)
    log = tmp_path / "upstream.log"
    policy = Policy(tools={"pay": Rule(kind=ASK, playbook="agent-action-approval")}, timeout=timedelta(seconds=0.3))
    gateway = Gateway(store, Principal(token_id="t", actor="intake-bot"), policy, poll_seconds=0.05)
    server = build(gateway, upstream_command(f"{sys.executable} {UPSTREAM} {log}"))

    async def agent() -> str:
        async with Client(server) as client:
            return await refused(client, "pay", {"order": 1, "amount": 1})

    assert run_async(agent).startswith("approval-timeout:")
    assert _ran(log) == []
    (event,) = _gateway_events(store)
    assert event["data"]["result"] == "timeout"
    with store.read() as tx:
        assert str(tx.load_run(event["run"]).status) == "cancelled"


def test_a_policy_names_allow_deny_or_ask_and_nothing_else() -> None:
    policy = load_policy({"tools": {"a": "allow", "b": {"ask": "p"}}, "timeout": "2m"})
    assert (policy.rule("a").kind, policy.rule("b").playbook, policy.rule("zzz").kind) == ("allow", "p", "deny")
    assert policy.timeout == timedelta(minutes=2)
    bad: object  # policies as any JSON document may hold them
    for bad in ({"tools": {"a": "maybe"}}, {"tools": {"a": {"ask": ""}}}, {"tool": {}}, [], {"timeout": "soon"}):
        with pytest.raises(InvalidInput) as refusal:
            load_policy(bad)
        assert refusal.value.rule == "bad-policy"


def test_a_bad_policy_file_is_exit_2_and_writes_nothing(store: Store, tmp_path: Path, monkeypatch: Any) -> None:
    from ledgerflow.cli.main import main

    bad = tmp_path / "policy.yaml"
    bad.write_text("tools: {wipe: perhaps}\n")
    monkeypatch.setenv("LEDGERFLOW_TOKEN", token(store, "intake-bot"))
    before = snapshot(store)
    assert main(["mcp-gateway", "--upstream", "true", "--policy", str(bad), "--db", store.url]) == 2
    assert snapshot(store) == before
