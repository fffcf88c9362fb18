"""Real peers for coordination tests: an SMTP server (aiosmtpd) and a local HTTP receiver."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message

from ledgerflow.ops.config import Settings
from ledgerflow.storage.store import Store


@pytest.fixture
def configured(store: Store) -> Iterator[Callable[..., Store]]:
    """Open the test database again with notification settings; closed at teardown."""
    opened: list[Store] = []

    def open_with(**values: Any) -> Store:
        db = Store(store.url, settings=Settings(**values))
        opened.append(db)
        return db

    yield open_with
    for db in opened:
        db.close()


@contextmanager
def serving_http(port: int, handler: type[BaseHTTPRequestHandler]) -> Iterator[None]:
    """A threading HTTP server on a loopback port for the block's length."""
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Inbox(Message):
    """Collects every message the SMTP server receives."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[Any] = []

    def handle_message(self, message: Any) -> None:
        self.messages.append(message)


@dataclass
class Smtp:
    port: int
    inbox: Inbox
    controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp() -> Iterator[Smtp]:
    server = Smtp(port=free_port(), inbox=Inbox())
    server.start()
    yield server
    server.stop()


@dataclass
class Receiver:
    """A local HTTP endpoint that records requests and answers with `status` and `reply`."""

    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    reply: Any = field(default_factory=dict)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    port = free_port()
    state = Receiver(url=f"http://127.0.0.1:{port}/hook")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
            state.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                   "body": body})
            payload = json.dumps(state.reply).encode()
            self.send_response(state.status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    with serving_http(port, Handler):
        yield state


@dataclass
class SlackApi:
    """A local stand-in for Slack's Web API: records each call (method and arguments) and answers `ok`."""

    url: str
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def called(self, method: str) -> list[dict[str, Any]]:
        return [args for name, args in self.calls if name == method]


@pytest.fixture
def slack_api() -> Iterator[SlackApi]:
    port = free_port()
    state = SlackApi(url=f"http://127.0.0.1:{port}/api/")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
            args = json.loads(body) if "json" in self.headers.get("content-type", "") else dict(
                (k, v[0]) for k, v in parse_qs(body).items())
            method = self.path.rsplit("/", 1)[-1]
            state.calls.append((method, args))
            reply = json.dumps({"ok": True, "channel": args.get("channel", "D0LEDGER"), "ts": "1767000000.000100"})
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply.encode())

        def log_message(self, *args: Any) -> None:
            pass

    with serving_http(port, Handler):
        yield state
