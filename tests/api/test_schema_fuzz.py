"""Schemathesis (its command line) against /openapi.json of a live server: no 5xx, no answer off the schema."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from ledgerflow import tokens
from ledgerflow.api.app import create_app
from ledgerflow.storage.store import Store
from tests.api.conftest import CONFIG
from tests.conftest import ADMIN
from tests.engine.helpers import GOOD_OUTPUT, act, only_open, start
from tests.servers import serving

ST = shutil.which("st") or str(Path(sys.executable).parent / "st")


def test_no_generated_request_makes_a_5xx_or_an_answer_off_the_schema(store: Store) -> None:
    run = start(store)
    act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)
    token = tokens.create(store, "sam", ADMIN)["token"]
    with serving(create_app(store, CONFIG)) as url:
        done = subprocess.run(
            [ST, "run", f"{url}/openapi.json", "--header", f"Authorization: Bearer {token}",
             "--checks", "not_a_server_error,response_schema_conformance", "--max-examples", "6",
             "--phases", "examples,fuzzing", "--request-timeout", "10", "--no-color"],
            capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
