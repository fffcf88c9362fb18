"""An open-loop HTTP load generator: POSTs at a fixed arrival rate, latency measured from the scheduled time.

    python bench/loadgen.py < plan.json > result.json

Run by `bench/api_load.py` as a process of its own (never in the server's process). The plan is JSON:
`{"host", "ports": [...], "rate", "requests": [{"path", "token", "body", "key"}, ...]}` (or `"port": p` for
one server); request i goes to `ports[i % len(ports)]` (round-robin over several server processes, each
with its own keep-alive connections) and is due at
`start + i / rate` whatever happened to the earlier ones (open loop). Its latency runs from that due time to
the last byte of the answer, so a server (or a generator) that falls behind shows up in the latency instead
of silently lowering the rate (no coordinated omission); `send_lag` says how late the generator itself was.

Standard library only (asyncio streams, HTTP/1.1 keep-alive): a request costs the generator far less CPU
than an HTTP client library would, which matters on a 2-core machine where the generator and the server
share the CPU. Connections are reused; a new one is opened when all are busy (up to `max_connections`).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

TIMEOUT_SECONDS = 30.0


class StaleConnection(ConnectionError):
    """The server closed the connection without answering (nothing of the request was processed)."""


class Connection:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def post(self, host: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        lines = [f"POST {path} HTTP/1.1", f"Host: {host}", "Content-Type: application/json",
                 f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in headers.items())]
        try:
            self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
            await self.writer.drain()
            status_line = await self.reader.readline()
        except (ConnectionResetError, BrokenPipeError):
            status_line = b""
        if not status_line:
            raise StaleConnection("connection closed by the server before it answered")
        status = int(status_line.split()[1])
        length, close = 0, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value.strip())
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        payload = await self.reader.readexactly(length) if length else b""
        if close:
            self.close()
            raise ConnectionResetError("server asked to close")  # answered, but the connection is gone
        return status, payload

    def close(self) -> None:
        self.writer.close()


class Pool:
    """Idle keep-alive connections; opens another when none is idle."""

    def __init__(self, host: str, port: int, max_connections: int) -> None:
        self.host, self.port = host, port
        self.idle: list[Connection] = []
        self.open = 0
        self.peak = 0
        self.slots = asyncio.Semaphore(max_connections)

    async def acquire(self, *, fresh: bool = False) -> Connection:
        await self.slots.acquire()
        if self.idle and not fresh:
            return self.idle.pop()
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        except BaseException:
            self.slots.release()
            raise
        self.open += 1
        self.peak = max(self.peak, self.open)
        return Connection(reader, writer)

    def release(self, connection: Connection, *, healthy: bool) -> None:
        if healthy:
            self.idle.append(connection)
        else:
            connection.close()
            self.open -= 1
        self.slots.release()

    def close(self) -> None:
        for connection in self.idle:
            connection.close()


def plan_ports(plan: dict[str, Any]) -> list[int]:
    """The plan's server ports: `ports` (a list), or the single `port`."""
    ports = [int(p) for p in plan["ports"]] if "ports" in plan else [int(plan["port"])]
    if not ports:
        raise ValueError("the plan names no port")
    return ports


async def run(plan: dict[str, Any]) -> dict[str, Any]:
    host, ports, rate = plan["host"], plan_ports(plan), float(plan["rate"])
    requests: list[dict[str, Any]] = plan["requests"]
    pools = [Pool(host, port, int(plan.get("max_connections", 512))) for port in ports]
    latencies: list[float | None] = [None] * len(requests)
    statuses: list[int] = [0] * len(requests)
    lags: list[float] = [0.0] * len(requests)
    errors: dict[str, int] = {}
    completed_at: list[float] = []

    async def one(index: int, due: float) -> None:
        request = requests[index]
        pool = pools[index % len(pools)]
        authority = f"{host}:{pool.port}"
        lags[index] = time.perf_counter() - due
        headers = {"Authorization": f"Bearer {request['token']}"}
        if request.get("key"):
            headers["Idempotency-Key"] = request["key"]
        body = json.dumps(request["body"]).encode("utf-8")
        connection: Connection | None = None
        try:
            reused = bool(pool.idle)
            connection = await pool.acquire()
            try:
                status, _ = await asyncio.wait_for(connection.post(authority, request["path"], headers, body),
                                                   TIMEOUT_SECONDS)
            except StaleConnection:
                if not reused:
                    raise
                # the server closed this idle keep-alive connection (its idle timeout) as we sent: the request
                # was never read, so send it again on a new connection, as HTTP clients do
                pool.release(connection, healthy=False)
                connection = None
                connection = await pool.acquire(fresh=True)
                status, _ = await asyncio.wait_for(connection.post(authority, request["path"], headers, body),
                                                   TIMEOUT_SECONDS)
        except Exception as exc:  # every failure is counted, none ends the run
            if connection is not None:
                pool.release(connection, healthy=False)
            kind = type(exc).__name__
            errors[kind] = errors.get(kind, 0) + 1
            return
        pool.release(connection, healthy=True)
        done = time.perf_counter()
        completed_at.append(done)
        statuses[index] = status
        latencies[index] = done - due
        if status != 200:
            errors[f"http {status}"] = errors.get(f"http {status}", 0) + 1

    pending: set[asyncio.Task[None]] = set()
    cpu_start = time.process_time()
    start = time.perf_counter() + 0.05
    for index in range(len(requests)):
        due = start + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(index, due))
        pending.add(task)
        task.add_done_callback(pending.discard)
    if pending:
        await asyncio.wait(set(pending))
    end = time.perf_counter()
    for pool in pools:
        pool.close()
    return {
        "rate": rate, "requests": len(requests), "schedule_seconds": len(requests) / rate,
        "seconds": end - start, "first_due": start,
        "latency_seconds": latencies, "status": statuses, "errors": errors,
        "last_completed": (max(completed_at) - start) if completed_at else None,
        "send_lag_max_seconds": max(lags) if lags else 0.0,
        "ports": ports, "connections_peak": sum(pool.peak for pool in pools),
        "cpu_seconds": time.process_time() - cpu_start,
    }


def main() -> None:
    plan = json.load(sys.stdin)
    result = asyncio.run(run(plan))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
