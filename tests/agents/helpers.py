"""Drivers for the MCP tests: the SDK's own client over stdio (a `ledgerflow mcp` subprocess) and over HTTP."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult

from ledgerflow.engine import service, tokens
from ledgerflow.storage.store import Store
from tests.conftest import ADMIN, EXAMPLES

SRC = str(Path(__file__).resolve().parents[2] / "src")
APPROVAL = EXAMPLES / "agent-action-approval.yaml"
REVIEW = EXAMPLES / "deal-sheet-review.yaml"
DEAL = {"customer": "Acme", "deal_value": 12000, "discount_pct": 18}
SHEET = {"deal_sheet_url": "https://docs.example.com/d/1", "justification": "Competitor offered 20% on renewal"}


def publish_examples(store: Store) -> None:
    service.publish(store, str(APPROVAL), ADMIN)
    service.publish(store, str(REVIEW), ADMIN)


def token(store: Store, actor: str) -> str:
    return str(tokens.create(store, actor, ADMIN)["token"])


def stdio(url: str, secret: str) -> StdioServerParameters:
    """`ledgerflow mcp --db URL` with LEDGERFLOW_TOKEN, run from this checkout's source."""
    return StdioServerParameters(command=sys.executable,
                                 args=["-c", "from ledgerflow.cli.main import entry; entry()", "mcp", "--db", url],
                                 env={"LEDGERFLOW_TOKEN": secret, "PYTHONPATH": SRC})


@asynccontextmanager
async def over_http(base_url: str, secret: str) -> AsyncIterator[Client]:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {secret}"}) as http:
        async with Client(streamable_http_client(f"{base_url}/mcp", http_client=http)) as client:
            yield client


async def call(client: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """A tool call that must succeed; its structured content."""
    result = await client.call_tool(tool, arguments)
    assert isinstance(result, CallToolResult) and not result.is_error, result
    assert result.structured_content is not None
    return dict(result.structured_content)


async def refused(client: Client, tool: str, arguments: dict[str, Any]) -> str:
    """A tool call that must come back as a tool error; its text (which starts with the rule)."""
    result = await client.call_tool(tool, arguments)
    assert isinstance(result, CallToolResult) and result.is_error, result
    text = result.content[0]
    return str(getattr(text, "text", ""))


def events_of(store: Store, run: str, type_: str) -> list[dict[str, Any]]:
    with store.read() as tx:
        return [e for e in tx.events(run=run) if e["type"] == type_]


def as_json(text: str) -> Any:
    return json.loads(text)
