"""Decisions through the server's ASGI app in this process (no HTTP server, no socket): CPU per decision, and the
floor around the engine command.

    python bench/api_floor.py [--decisions N] [--concurrency C]

The database is `bench/api_load.py`'s (SQLite, a team of deciders, one token each); `create_server_app` answers
`POST /api/v1/tasks/{id}/decide` with an Idempotency-Key, C requests at a time, as uvicorn would hand them over.
Two passes over fresh open decisions: as served, then with the engine command (`api_commands.task_command`: the
access check and `service.task_command`) replaced by one answer it gave before, so what remains is everything
around it: the ASGI layers and our middlewares, the thread hop, the token check, the key's claim and answer, the
transaction and its commit, the log lines and metrics. `time.process_time` around each pass (every thread of the
process). Prints one JSON object; nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from typing import Any

import api_load
from common import scratch_dir, sqlite_url
from starlette.types import ASGIApp, Message

from engine import outcomes
from ledgerflow.engine import api_commands
from ledgerflow.ops import instruments
from ledgerflow.server import create_server_app
from ledgerflow.storage.store import Store

WARMUP = 100


async def decide(app: ASGIApp, task: str, token: str, outcome: str) -> int:
    """One decision as uvicorn hands it to the app; returns the status."""
    body = json.dumps({"outcome": outcome, "rationale": "bench: within policy"}).encode()
    path = f"/api/v1/tasks/{task}/decide"
    headers = [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode()), (b"authorization", f"Bearer {token}".encode()),
               (b"idempotency-key", uuid.uuid4().hex.encode())]
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
             "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 50000), "scheme": "http", "method": "POST",
             "root_path": "", "path": path, "raw_path": path.encode(), "query_string": b"", "headers": headers,
             "state": {}}
    delivered, status = False, 0

    async def receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects
        raise RuntimeError("unreachable")

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])

    await app(scope, receive, send)
    return status


async def decide_all(app: ASGIApp, work: list[tuple[str, str]], tokens_: dict[str, str], mix: Iterator[str],
                     concurrency: int) -> list[int]:
    queue, statuses = list(work), []

    async def caller() -> None:
        while queue:
            task, assignee = queue.pop()
            statuses.append(await decide(app, task, tokens_[assignee], next(mix)))

    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return statuses


def measure(decisions: int, concurrency: int) -> dict[str, Any]:
    work_dir = scratch_dir("lf-api-floor-")
    url = sqlite_url(work_dir, "api.db")
    real = api_commands.task_command
    try:
        open_tasks, made = api_load.prepare(url, work_dir, WARMUP + 2 * decisions, 50)
        store = Store(url)
        with open(os.devnull, "w") as quiet:
            instruments.configure_logging(json=True, stream=quiet)  # the lines are rendered, then dropped
            app = create_server_app(store, worker=False)
            mix = outcomes(7)
            passes: dict[str, float] = {}
            kept: dict[str, Any] = {}

            def answered(*args: Any, **kwargs: Any) -> dict[str, Any]:
                if not kept:
                    kept["answer"] = real(*args, **kwargs)
                return dict(kept["answer"])

            async def run() -> None:
                statuses = await decide_all(app, open_tasks[:WARMUP], made, mix, concurrency)
                for name, start in (("as_served", WARMUP), ("without_the_command", WARMUP + decisions)):
                    if name == "without_the_command":
                        api_commands.task_command = answered
                    began = time.process_time()
                    statuses += await decide_all(app, open_tasks[start:start + decisions], made, mix, concurrency)
                    passes[name] = (time.process_time() - began) / decisions
                if any(status != 200 for status in statuses):
                    raise RuntimeError(f"not every decision answered 200: {sorted(set(statuses))}")

            asyncio.run(run())
        store.close()
    finally:
        api_commands.task_command = real
        logging.getLogger().handlers.clear()
        shutil.rmtree(work_dir, ignore_errors=True)
    full, floor = passes["as_served"], passes["without_the_command"]
    return {"benchmark": "api_floor", "decisions": decisions, "concurrency": concurrency,
            "cpu_ms_per_decision": round(full * 1000, 3), "cpu_ms_without_the_command": round(floor * 1000, 3),
            "command_share": round((full - floor) / full, 3),
            "loadavg": open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--decisions", type=int, default=600, help="decisions per pass")
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight at once")
    args = parser.parse_args()
    print(json.dumps(measure(args.decisions, args.concurrency)))


if __name__ == "__main__":
    main()
