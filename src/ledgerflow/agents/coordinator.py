"""An example coordination agent: validates deal sheets against the pricing policy over MCP, with no model.

It holds the `validate` step of `examples/deal-sheet-review.yaml` (owned by the `deal-desk-assistant` role)
and the `recommend` right on its decision. Each pass reads its inbox through the MCP tools, reads each task's
context as a person would (`get_task`), and either completes a validation with findings (`pass` moves the run
on to finance; `send_back` returns it to the account executive with the reason) or recommends an outcome on a
decision it may recommend on. The rules are deterministic, so the loop runs in tests and demos; a model-based
agent would use the same tools with its own judgment in `review` and `advise` (docs/agents.md).

    LEDGERFLOW_TOKEN=lf_... python -m ledgerflow.agents.coordinator --url http://127.0.0.1:8000/mcp
    LEDGERFLOW_TOKEN=lf_... python -m ledgerflow.agents.coordinator --db sqlite:///lf.db   # stdio
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import httpx2
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult

MAX_DISCOUNT_PCT = 40
"""The pricing policy's ceiling: beyond it, rework cannot help."""
RECOMMEND_UP_TO_PCT = 20
"""Discounts the agent recommends approving; above it, it recommends a person take a closer look."""
MIN_JUSTIFICATION = 20


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """The outcome of validating one deal sheet: `pass` or `send_back`, with every finding behind it."""

    passed: bool
    findings: tuple[str, ...]
    problems: tuple[str, ...]

    def output(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"verdict": "pass" if self.passed else "send_back",
                                  "findings": list(self.findings)}
        if self.problems:
            answer["reason"] = "; ".join(self.problems)
        return answer


def review(deal: dict[str, Any], sheet: dict[str, Any]) -> Verdict:
    """Check a deal and its sheet against the policy; every rule is reported, passed or not."""
    findings: list[str] = []
    problems: list[str] = []

    def rule(ok: bool, good: str, bad: str) -> None:
        findings.append(good if ok else bad)
        if not ok:
            problems.append(bad)

    url = str(sheet.get("deal_sheet_url", ""))
    rule(url.startswith("https://"), "the deal sheet is linked over https",
         f"the deal sheet link {url!r} is not an https address")
    justification = str(sheet.get("justification", "")).strip()
    rule(len(justification) >= MIN_JUSTIFICATION, "the justification is specific enough to decide on",
         f"the justification has {len(justification)} characters; write at least {MIN_JUSTIFICATION}: who "
         "offered what, and what the customer commits to")
    discount = float(deal.get("discount_pct", 0))
    rule(discount <= MAX_DISCOUNT_PCT, f"the discount of {discount:g}% is within the {MAX_DISCOUNT_PCT}% policy",
         f"the discount of {discount:g}% is above the {MAX_DISCOUNT_PCT}% policy ceiling")
    rule(float(deal.get("deal_value", 0)) > 0, "the deal has a value", "the deal value is zero")
    return Verdict(passed=not problems, findings=tuple(findings), problems=tuple(problems))


def advise(deal: dict[str, Any]) -> tuple[str, str]:
    """A recommendation on the decision: (outcome, rationale)."""
    discount = float(deal.get("discount_pct", 0))
    if discount <= RECOMMEND_UP_TO_PCT:
        return "approve", f"{discount:g}% is within the {RECOMMEND_UP_TO_PCT}% the policy treats as routine"
    return "reject", f"{discount:g}% is above the routine {RECOMMEND_UP_TO_PCT}%; approve only with margin evidence"


async def _tool(client: Client, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(name, arguments)
    if not isinstance(result, CallToolResult) or result.is_error or result.structured_content is None:
        text = getattr(result.content[0], "text", "") if isinstance(result, CallToolResult) else ""
        raise RuntimeError(f"{name} failed: {text}")
    return dict(result.structured_content)


async def work_once(client: Client, *, step: str = "validate") -> list[dict[str, Any]]:
    """One pass over the inbox: validate what waits on `step`; recommend where the agent may. Returns what it
    did, one entry per task."""
    done: list[dict[str, Any]] = []
    inbox = await _tool(client, "list_my_tasks", {})
    for task in inbox["tasks"]:
        if task["step"] != step:
            continue
        context = await _tool(client, "get_task", {"task": task["task"]})
        sheet: dict[str, Any] = next((o["output"] for o in context["earlier_outputs"] if o["step"] == "prepare"), {})
        verdict = review(context["input"] or {}, sheet)
        result = await _tool(client, "complete_task", {"task": task["task"], "output": verdict.output()})
        done.append({"task": task["task"], "did": "validated", **verdict.output()})
        for opened in result["opened"]:
            if opened["type"] == "decision":
                done.extend(await _recommend(client, opened["task"]))
    return done


async def _recommend(client: Client, task: str) -> list[dict[str, Any]]:
    context = await _tool(client, "get_task", {"task": task})
    if "recommend" not in context["you_may"]:
        return []
    outcome, rationale = advise(context["input"] or {})
    await _tool(client, "recommend", {"task": task, "outcome": outcome, "rationale": rationale})
    return [{"task": task, "did": "recommended", "outcome": outcome, "rationale": rationale}]


@asynccontextmanager
async def connect(*, url: str | None, db: str | None, token: str) -> AsyncIterator[Client]:
    """An MCP client: streamable HTTP to `url` with the bearer token, else `ledgerflow mcp` on stdio."""
    if url is not None:
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
            async with Client(streamable_http_client(url, http_client=http)) as client:
                yield client
        return
    args = ["-c", "from ledgerflow.cli.main import entry; entry()", "mcp", *(["--db", db] if db else [])]
    env = {"LEDGERFLOW_TOKEN": token, **{k: v for k, v in os.environ.items() if k.startswith(("LEDGERFLOW_",
                                                                                              "PYTHON"))}}
    async with Client(StdioServerParameters(command=sys.executable, args=args, env=env)) as client:
        yield client


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Validate deal sheets over MCP, once (LEDGERFLOW_TOKEN).")
    parser.add_argument("--url", help="The MCP endpoint of `ledgerflow serve`, e.g. http://127.0.0.1:8000/mcp.")
    parser.add_argument("--db", help="Run `ledgerflow mcp` on stdio against this database instead.")
    options = parser.parse_args(argv)
    token = os.environ.get("LEDGERFLOW_TOKEN")
    if not token:
        parser.error("set LEDGERFLOW_TOKEN to the agent's token")

    async def once() -> list[dict[str, Any]]:
        async with connect(url=options.url, db=options.db, token=str(token)) as client:
            return await work_once(client)

    for entry in anyio.run(once):
        sys.stdout.write(f"{entry}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
