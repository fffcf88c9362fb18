"""The MCP server through the SDK's own client: stdio (`ledgerflow mcp`) and streamable HTTP (`serve` at /mcp)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
from mcp.client import Client

from ledgerflow.engine import service
from ledgerflow.server import create_server_app
from ledgerflow.storage.store import Store
from tests.agents.helpers import (
    DEAL,
    SHEET,
    as_json,
    call,
    events_of,
    over_http,
    publish_examples,
    refused,
    stdio,
    token,
)
from tests.aio import run_async
from tests.engine.helpers import caller, only_open, snapshot
from tests.servers import serving


@pytest.fixture
def review_run(store: Store) -> dict[str, Any]:
    """A deal-sheet-review run whose `prepare` is done: its `validate` task waits on the agent."""
    publish_examples(store)
    run, opened = service.start_run(store, "deal-sheet-review", DEAL, caller("bob"))
    service.task_command(store, "complete", opened[0].id, caller(opened[0].assignee), output=SHEET)
    validate = only_open(store, run.id)
    assert (validate.step, validate.assignee) == ("validate", "intake-bot")
    return {"run": run.id, "validate": validate.id}


@pytest.fixture
def base_url(store: Store) -> Iterator[str]:
    with serving(create_server_app(store, worker=False)) as url:
        yield url


def test_an_agent_over_stdio_finds_its_task_reads_its_context_and_completes_it(
        store: Store, review_run: dict[str, Any]) -> None:
    async def agent() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        async with Client(stdio(store.url, token(store, "intake-bot"))) as client:
            inbox = await call(client, "list_my_tasks", {})
            context = await call(client, "get_task", {"task": review_run["validate"]})
            done = await call(client, "complete_task", {"task": review_run["validate"],
                                                        "output": {"verdict": "pass", "findings": ["complete"]}})
            return inbox, context, done

    inbox, context, done = run_async(agent)
    assert [t["task"] for t in inbox["tasks"]] == [review_run["validate"]]
    assert context["clarity"]["what"] == "Validate the deal sheet against the pricing policy and record findings"
    assert context["input"] == DEAL and context["earlier_outputs"][0]["output"] == SHEET
    assert context["you_may"] == ["start", "complete"]
    assert done["task"]["status"] == "completed" and [t["step"] for t in done["opened"]] == ["approve"]
    (completed,) = [e for e in events_of(store, review_run["run"], "task.completed") if e["actor"] == "intake-bot"]
    assert completed["channel"] == "mcp" and completed["authority"]["kind"] == "assignee"


def test_a_refused_tool_call_names_its_rule_and_changes_nothing(store: Store, review_run: dict[str, Any]) -> None:
    secret = token(store, "intake-bot")
    before = snapshot(store)

    async def agent() -> list[str]:
        async with Client(stdio(store.url, secret)) as client:
            return [
                await refused(client, "complete_task", {"task": review_run["validate"], "output": {"verdict": "x"}}),
                await refused(client, "decide", {"task": review_run["validate"], "outcome": "approve",
                                                 "rationale": "looks fine"}),
                await refused(client, "get_task", {"task": "t_unknown"}),
                await refused(client, "start_run", {"playbook": "deal-sheet-review", "input": {"customer": "A"}}),
                await refused(client, "complete_task", {"task": review_run["validate"], "output": _nested(70)}),
            ]

    texts = run_async(agent)
    rules = [text.split(":")[0] for text in texts]
    assert rules == ["schema-violation", "wrong-task-type", "unknown-task", "schema-violation", "input-too-deep"]
    assert snapshot(store) == before


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def test_playbooks_and_the_directory_are_resources(store: Store) -> None:
    publish_examples(store)

    async def agent() -> tuple[Any, Any, Any]:
        async with Client(stdio(store.url, token(store, "intake-bot"))) as client:
            listed = await client.read_resource("ledgerflow://playbooks")
            one = await client.read_resource("ledgerflow://playbooks/deal-sheet-review")
            directory = await client.read_resource("ledgerflow://directory")
            return (as_json(listed.contents[0].text), as_json(one.contents[0].text),  # type: ignore[union-attr]
                    as_json(directory.contents[0].text))  # type: ignore[union-attr]

    listed, one, directory = run_async(agent)
    assert {"agent-action-approval", "deal-sheet-review", "pricing-exception"} <= {
        p["playbook"] for p in listed["playbooks"]}
    assert one["version"] == 1 and "id: deal-sheet-review" in one["source"]
    bot = next(a for a in directory["actors"] if a["id"] == "intake-bot")
    assert bot == {"id": "intake-bot", "kind": "agent", "name": "Intake assistant",
                   "roles": ["deal-desk-assistant"], "delegate": None}
    assert all("email" not in a for a in directory["actors"])


def test_over_http_the_bearer_token_names_the_actor_and_a_rights_refusal_changes_nothing(
        store: Store, review_run: dict[str, Any], base_url: str) -> None:
    secret = token(store, "intake-bot")

    async def agent() -> tuple[dict[str, Any], str]:
        async with over_http(base_url, secret) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            assert tools == {"list_my_tasks", "get_task", "start_run", "complete_task", "recommend", "decide",
                             "request_approval", "get_approval", "consume_approval", "attach_document"}
            done = await call(client, "complete_task", {"task": review_run["validate"],
                                                        "output": {"verdict": "pass", "findings": []}})
            decision = done["opened"][0]["task"]
            recommended = await call(client, "recommend", {"task": decision, "outcome": "approve",
                                                           "rationale": "Within policy: 18% on 12,000"})
            before = snapshot(store)
            text = await refused(client, "decide", {"task": decision, "outcome": "approve", "rationale": "ok"})
            assert snapshot(store) == before
            return recommended, text

    recommended, text = run_async(agent)
    assert recommended["task"]["step"] == "approve"
    assert text.startswith("not-assignee:")
    (rec,) = events_of(store, review_run["run"], "recommendation.recorded")
    assert (rec["actor"], rec["channel"]) == ("intake-bot", "mcp")


def test_over_http_a_missing_or_bad_token_is_401_and_a_guest_link_reaches_nothing(
        store: Store, review_run: dict[str, Any], base_url: str) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    for headers in ({}, {"Authorization": "Bearer lf_nothing"}):
        answer = httpx.post(f"{base_url}/mcp", json=body, headers=headers)
        assert answer.status_code == 401 and answer.headers["content-type"] == "application/problem+json"
    from ledgerflow.engine import tokens

    guest = tokens.invite_guest(store, only_open(store, review_run["run"]).id, "x@example.com", caller("sam"))
    link_token = guest["link"].rsplit("/", 1)[1]
    answer = httpx.post(f"{base_url}/mcp", json=body, headers={"Authorization": f"Bearer {link_token}"})
    assert answer.status_code == 404 and answer.json()["rule"] == "guest-scope"


def test_over_mcp_a_risky_action_is_approved_by_a_person_once_with_exactly_its_arguments(store: Store) -> None:
    publish_examples(store)
    secret = token(store, "intake-bot")
    refund = {"order": 42, "amount": 19.9}

    async def ask(client: Client) -> dict[str, Any]:
        return await call(client, "request_approval", {"playbook": "agent-action-approval", "action": "refund",
                                                       "arguments": refund, "reason": "charged twice"})

    async def agent() -> tuple[dict[str, Any], dict[str, Any], list[str]]:
        async with Client(stdio(store.url, secret)) as client:
            asked = await ask(client)
            pending = await call(client, "get_approval", {"approval": asked["approval"]})
            assert pending["status"] == "pending" and pending["grant"] is None
            decision = only_open(store, asked["run"])
            await anyio.to_thread.run_sync(lambda: service.task_command(
                store, "decide", decision.id, caller(decision.assignee), outcome="approve", rationale="confirmed",
                to=None))
            approved = await call(client, "get_approval", {"approval": asked["approval"]})
            texts = [await refused(client, "consume_approval", {"approval": asked["approval"],
                                                                "arguments": {**refund, "amount": 1990}})]
            await call(client, "consume_approval", {"approval": asked["approval"], "arguments": refund})
            texts.append(await refused(client, "consume_approval", {"approval": asked["approval"],
                                                                    "arguments": refund}))
            return asked, approved, texts

    asked, approved, texts = run_async(agent)
    assert approved["status"] == "approved" and approved["grant"]["agent"] == "intake-bot"
    assert [text.split(":")[0] for text in texts] == ["approval-mismatch", "approval-used"]
    assert [e["channel"] for e in events_of(store, asked["run"], "approval.consumed")] == ["mcp"]
    assert [e["data"]["rule"] for e in events_of(store, asked["run"], "approval.refused")] == [
        "approval-mismatch", "approval-used"]


def test_ledgerflow_mcp_needs_a_valid_actor_token_before_it_serves(store: Store, monkeypatch: Any) -> None:
    from ledgerflow.cli.main import main

    monkeypatch.delenv("LEDGERFLOW_TOKEN", raising=False)
    assert main(["mcp", "--db", store.url]) == 2
    monkeypatch.setenv("LEDGERFLOW_TOKEN", "lf_not_a_token")
    assert main(["mcp", "--db", store.url]) == 3


PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n%%EOF\n"


def test_an_agent_attaches_what_it_gathered_and_a_refused_document_stores_nothing(
        store: Store, review_run: dict[str, Any], base_url: str) -> None:
    import base64
    import hashlib

    from tests.engine.helpers import run_state

    secret = token(store, "intake-bot")

    async def agent() -> tuple[dict[str, Any], list[str]]:
        async with over_http(base_url, secret) as client:
            before = snapshot(store)
            texts = [await refused(client, "attach_document", {"name": "x.html", "content_base64": base64.b64encode(
                b"<!DOCTYPE html><script>1</script>").decode()}),
                     await refused(client, "attach_document", {"name": "x.pdf", "content_base64": "not base64!"}),
                     await refused(client, "complete_task", {"task": review_run["validate"], "output": {
                         "verdict": "pass", "findings": []}, "attachments": ["0" * 64]})]
            assert snapshot(store) == before
            stored = await call(client, "attach_document", {"name": "policy-check.pdf",
                                                            "content_base64": base64.b64encode(PDF).decode()})
            await call(client, "complete_task", {"task": review_run["validate"], "output": {
                "verdict": "pass", "findings": ["matches the policy"]}, "attachments": [stored["sha256"]]})
            return stored, texts

    stored, texts = run_async(agent)
    assert stored["sha256"] == hashlib.sha256(PDF).hexdigest() and stored["media_type"] == "application/pdf"
    assert texts[0].startswith("attachment-type") and texts[1].startswith("bad-base64")
    assert texts[2].startswith("unknown-attachment")
    attached = run_state(store, review_run["run"]).attachments
    assert [(a.name, a.sha256) for a in attached] == [("policy-check.pdf", stored["sha256"])]
