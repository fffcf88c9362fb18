"""What an AI agent waits for over MCP: `ledgerflow mcp` start-up, and a tool call over stdio and over HTTP.

Times the SDK's own client against a SQLite database with the example directory and playbooks: the stdio
server's start (process start to an initialized session), then `get_task` (a read) and `recommend` (a write:
one transaction with its event) repeated, over stdio and over `serve`'s `/mcp` on loopback.

    python bench/mcp_calls.py [--repeat 30]      # prints one JSON document
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import httpx2
from common import ADMIN, DIRECTORY, EXAMPLES, ROOT, START, machine, scratch_dir, spread, sqlite_url
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from ledgerflow.domain.times import parse_time
from ledgerflow.engine import service, tokens
from ledgerflow.server import create_server_app
from ledgerflow.storage.database import initialize, make_engine
from ledgerflow.storage.store import Store

sys.path.insert(0, str(ROOT))
from tests.servers import serving  # the tests' loopback server helper

DEAL = {"customer": "Acme", "deal_value": 12000, "discount_pct": 18}
SHEET = {"deal_sheet_url": "https://docs.example.com/d/1", "justification": "Competitor offered 20% on renewal"}


def _setup() -> tuple[Store, str, str]:
    """A database with one decision the agent may recommend on; the agent's token; the decision's id."""
    url = sqlite_url(scratch_dir())
    engine = make_engine(url)
    initialize(engine, url, parse_time(START))
    engine.dispose()
    store = Store(url)
    service.load_directory_file(store, str(DIRECTORY), ADMIN)
    service.publish(store, str(EXAMPLES / "deal-sheet-review.yaml"), ADMIN)
    run, opened = service.start_run(store, "deal-sheet-review", DEAL, service.Caller(actor="bob"))
    service.task_command(store, "complete", opened[0].id, service.Caller(actor=str(opened[0].assignee)),
                         output=SHEET)
    with store.read() as tx:
        (validate,) = tx.tasks(run=run.id, status="open")
    done = service.task_command(store, "complete", validate.id, service.Caller(actor="intake-bot"),
                                output={"verdict": "pass", "findings": []})
    return store, str(tokens.create(store, "intake-bot", ADMIN)["token"]), done["opened"][0].id


async def _calls(client: Client, task: str, repeat: int) -> dict[str, Any]:
    reads, writes = [], []
    for index in range(repeat):
        began = time.perf_counter()
        await client.call_tool("get_task", {"task": task})
        reads.append(time.perf_counter() - began)
        began = time.perf_counter()
        result = await client.call_tool("recommend", {"task": task, "outcome": "approve",
                                                      "rationale": f"within policy ({index})"})
        writes.append(time.perf_counter() - began)
        if result.is_error:
            raise RuntimeError(str(result))
    return {"get_task_ms": spread([1000 * s for s in reads]), "recommend_ms": spread([1000 * s for s in writes])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    store, secret, task = _setup()
    server = StdioServerParameters(command=sys.executable, args=[
        "-c", "from ledgerflow.cli.main import entry; entry()", "mcp", "--db", store.url],
        env={"LEDGERFLOW_TOKEN": secret, "PYTHONPATH": str(Path(ROOT) / "src")})

    async def over_stdio() -> dict[str, Any]:
        starts = []
        for _ in range(3):
            began = time.perf_counter()
            async with Client(server) as client:
                starts.append(time.perf_counter() - began)
        async with Client(server) as client:
            return {"start_s": spread(starts), **await _calls(client, task, args.repeat)}

    async def over_http(base: str) -> dict[str, Any]:
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {secret}"}) as http:
            async with Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client:
                return await _calls(client, task, args.repeat)

    stdio = anyio.run(over_stdio)
    with serving(create_server_app(store, worker=False)) as base:
        http = anyio.run(over_http, base)
    print(json.dumps({"repeat": args.repeat, "stdio": stdio, "http": http, "machine": machine()}, indent=2))


if __name__ == "__main__":
    main()
