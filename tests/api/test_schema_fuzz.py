"""Schemathesis (its command line) against /openapi.json of a live server: no 5xx, no answer off the schema."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import uvicorn

from ledgerflow import tokens
from ledgerflow.api.app import create_app
from ledgerflow.storage.store import Store
from tests.api.conftest import CONFIG
from tests.conftest import ADMIN
from tests.engine.helpers import GOOD_OUTPUT, act, only_open, start

ST = shutil.which("st") or str(Path(sys.executable).parent / "st")


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_no_generated_request_makes_a_5xx_or_an_answer_off_the_schema(store: Store) -> None:
    run = start(store)
    act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)
    token = tokens.create(store, "sam", ADMIN)["token"]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(store, CONFIG), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        done = subprocess.run(
            [ST, "run", f"http://127.0.0.1:{port}/openapi.json", "--header", f"Authorization: Bearer {token}",
             "--checks", "not_a_server_error,response_schema_conformance", "--max-examples", "6",
             "--phases", "examples,fuzzing", "--request-timeout", "10", "--no-color"],
            capture_output=True, text=True, timeout=300)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
