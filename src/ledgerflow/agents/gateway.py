"""`ledgerflow mcp-gateway`: an MCP proxy that holds an agent's risky tool calls until a person approves them.

The gateway speaks MCP on stdio to the agent and to an upstream MCP server it starts (`--upstream "CMD ARGS"`).
Per tool the policy (`domain/gateway_policy.py`) says `allow` (forwarded), `deny` (hidden from the tool list and
refused) or `ask: PLAYBOOK`: the call becomes an approval request with its exact arguments (`approvals`), the
gateway waits for the decision within the policy's timeout, consumes the single-use grant and only then
forwards the call. Every call, forwarded or refused, is a `gateway.called` event, recorded for the actor of
`LEDGERFLOW_TOKEN` with channel `mcp`; an `ask` call's event sits on its approval run's chain.
"""

from __future__ import annotations

import shlex
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.to_thread
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.server.lowlevel.server import Server
from mcp.server.stdio import stdio_server
from mcp_types import CallToolRequestParams, CallToolResult, ListToolsResult, PaginatedRequestParams, TextContent

from ledgerflow.domain import grants
from ledgerflow.domain.errors import LedgerflowError
from ledgerflow.domain.events import Event, authority
from ledgerflow.domain.gateway_policy import ALLOW, DENY, Policy, Rule
from ledgerflow.domain.limits import check_value
from ledgerflow.domain.times import format_time
from ledgerflow.engine import approvals, service
from ledgerflow.engine.tokens import Principal
from ledgerflow.storage.store import Store

CHANNEL = "mcp"
POLL_SECONDS = 0.5
"""How often an `ask` call looks for its decision."""


def _error(rule: str, message: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=f"{rule}: {message}")], is_error=True,
                          structured_content={"rule": rule, "detail": message})


class Gateway:
    """The policy applied to one agent's calls, with the store that records them."""

    def __init__(self, store: Store, principal: Principal, policy: Policy, *, poll_seconds: float = POLL_SECONDS):
        self.store = store
        self.principal = principal
        self.policy = policy
        self.poll_seconds = poll_seconds

    def record(self, tool: str, rule: Rule, result: str, arguments: Any, *, run: str | None = None,
               approval: str | None = None) -> None:
        """`gateway.called`: which tool, under which rule, with what result, for which arguments."""
        with self.store.write() as tx:
            tx.append([Event(type="gateway.called", at=format_time(tx.now()), actor=self.principal.actor,
                             channel=CHANNEL, run=run, authority=authority("policy", {"rule": rule.kind,
                                                                                      "playbook": rule.playbook}),
                             data={"tool": tool, "rule": rule.kind, "result": result, "approval": approval,
                                   "arguments_sha256": grants.arguments_hash(arguments)})])

    async def list_tools(self, upstream: Client) -> ListToolsResult:
        listed = await upstream.list_tools()
        return ListToolsResult(tools=[t for t in listed.tools if self.policy.rule(t.name).kind != DENY])

    async def call(self, upstream: Client, name: str, arguments: dict[str, Any]) -> CallToolResult:
        rule = self.policy.rule(name)
        try:
            check_value(arguments, "the tool's arguments", self.store.settings.limits)
        except LedgerflowError as exc:
            return _error(exc.rule, exc.message)
        if rule.kind == DENY:
            await anyio.to_thread.run_sync(lambda: self.record(name, rule, "denied", arguments))
            return _error("gateway-denied", f"the gateway's policy denies {name}")
        if rule.kind == ALLOW:
            await anyio.to_thread.run_sync(lambda: self.record(name, rule, "forwarded", arguments))
            return await self._forward(upstream, name, arguments)
        return await self._ask(upstream, name, rule, arguments)

    async def _ask(self, upstream: Client, name: str, rule: Rule, arguments: dict[str, Any]) -> CallToolResult:
        try:
            asked = await anyio.to_thread.run_sync(lambda: approvals.request(
                self.store, self.principal, str(rule.playbook), action=name, arguments=arguments,
                reason=f"{name} called through the MCP gateway", channel=CHANNEL))
        except LedgerflowError as exc:
            return _error(exc.rule, exc.message)
        approval, run = asked["approval"], asked["run"]
        status = await self._decision(approval)
        if status == grants.PENDING:
            await anyio.to_thread.run_sync(lambda: service.cancel_run(
                self.store, run, service.Caller(actor=self.principal.actor, channel=CHANNEL),
                f"the gateway stopped waiting for a decision on {name} after {self.policy.timeout}"))
            await anyio.to_thread.run_sync(lambda: self.record(name, rule, "timeout", arguments, run=run,
                                                               approval=approval))
            return _error("approval-timeout", f"no decision on {name} within {self.policy.timeout}")
        try:
            await anyio.to_thread.run_sync(lambda: approvals.consume(self.store, self.principal, approval,
                                                                     arguments, channel=CHANNEL))
        except LedgerflowError as exc:
            await anyio.to_thread.run_sync(lambda: self.record(name, rule, status, arguments, run=run,
                                                               approval=approval))
            return _error(exc.rule, exc.message)
        await anyio.to_thread.run_sync(lambda: self.record(name, rule, "forwarded", arguments, run=run,
                                                           approval=approval))
        return await self._forward(upstream, name, arguments)

    async def _decision(self, approval: str) -> str:
        """The request's status once it is no longer pending, or `pending` when the policy's timeout passed."""
        with anyio.move_on_after(self.policy.timeout.total_seconds()):
            while True:
                got = await anyio.to_thread.run_sync(lambda: approvals.get(self.store, self.principal, approval))
                if got["status"] != grants.PENDING:
                    return str(got["status"])
                await anyio.sleep(self.poll_seconds)
        return grants.PENDING

    @staticmethod
    async def _forward(upstream: Client, name: str, arguments: dict[str, Any]) -> CallToolResult:
        result = await upstream.call_tool(name, arguments)
        if not isinstance(result, CallToolResult):
            return _error("upstream-input-required", f"{name} asked for input the gateway cannot give")
        return result


def build(gateway: Gateway, upstream: StdioServerParameters) -> Server[dict[str, Client]]:
    """The gateway's low-level MCP server; the upstream session lives as long as it does."""

    @asynccontextmanager
    async def lifespan(_: Server[dict[str, Client]]) -> AsyncIterator[dict[str, Client]]:
        async with Client(upstream) as client:
            yield {"upstream": client}

    async def list_tools(ctx: Any, _: PaginatedRequestParams | None) -> ListToolsResult:
        return await gateway.list_tools(ctx.lifespan_context["upstream"])

    async def call_tool(ctx: Any, params: CallToolRequestParams) -> CallToolResult:
        return await gateway.call(ctx.lifespan_context["upstream"], params.name, dict(params.arguments or {}))

    return Server("ledgerflow-gateway", lifespan=lifespan, on_list_tools=list_tools, on_call_tool=call_tool,
                  instructions="Tools of another MCP server behind ledgerflow's policy: some calls wait for a "
                               "person's approval of their exact arguments; a refusal starts with its rule.")


def upstream_command(command: str) -> StdioServerParameters:
    """`--upstream "CMD ARGS"` as the SDK's stdio parameters (split like a shell would, never run by one)."""
    words = shlex.split(command)
    return StdioServerParameters(command=words[0], args=words[1:])


def serve(gateway: Gateway, upstream: StdioServerParameters) -> None:
    server = build(gateway, upstream)

    async def run() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(run)
