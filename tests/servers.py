"""Real HTTP servers on free loopback ports, for tests that need a socket: an ASGI app in a thread, or
`ledgerflow serve` in a process of its own."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_process(db_url: str, *options: str, env: Mapping[str, str],
                  log: Path | None = None) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`ledgerflow serve --db DB_URL OPTIONS` in a process of its own until the block ends; yields its base URL
    and the process once `/healthz` answers. Its output goes to `log` (shown if it does not start), or nowhere."""
    port = free_port()
    with (log.open("wb") if log is not None else open("/dev/null", "wb")) as output:
        process = subprocess.Popen([sys.executable, "-c", "from ledgerflow.cli.main import entry; entry()", "serve",
                                    "--db", db_url, "--host", "127.0.0.1", "--port", str(port), *options],
                                   env=dict(env), stdout=output, stderr=output)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(f"{base}/healthz", timeout=5)
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline and process.poll() is None, (
                        log.read_text() if log is not None else "the server did not start")
                    time.sleep(0.05)
            yield base, process
        finally:
            process.terminate()
            process.wait(timeout=30)


@contextmanager
def serving(app: Any, ready_path: str | None = None) -> Iterator[str]:
    """Run `app` with uvicorn on 127.0.0.1 until the block ends; yields its base URL once the server has
    started and, with `ready_path` (the API's `/readyz`), once that answers 200."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    while ready_path is not None and time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}{ready_path}", timeout=5).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
