"""Shared fixtures: a fresh database per test, with the shared directory and example playbook."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from sqlalchemy import create_engine, text

from ledgerflow.domain.times import parse_time
from ledgerflow.engine import service
from ledgerflow.storage.database import initialize, make_engine, normalize_url
from ledgerflow.storage.store import Store

SHARED = Path(__file__).resolve().parents[2] / "shared" / "playbooks"
EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "ledgerflow" / "examples"
PLAYBOOKS = SHARED if SHARED.exists() else EXAMPLES
DIRECTORY = PLAYBOOKS / "directory.yaml"
PRICING = PLAYBOOKS / "pricing-exception.yaml"
START = "2026-03-02T08:00:00Z"
ADMIN = service.Caller()


settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore")
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "explore"))
"""`scripts/test` runs the property tests on fixed examples (`HYPOTHESIS_PROFILE=ci`), so a landing is not
decided by the draw; the inner loop explores new examples on each run, and what it finds becomes a fixed test."""

PG_URL = os.environ.get("LEDGERFLOW_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = [b for b in os.environ.get("LEDGERFLOW_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]
"""Both databases always (CI); `LEDGERFLOW_TEST_BACKENDS=sqlite` is the inner loop's quick path."""

ARTIFACTS = Path(os.environ.get("LEDGERFLOW_ARTIFACTS")
                 or Path(__file__).resolve().parents[1] / ".cache" / "screenshots")
"""Where the browser tests keep a screenshot of each page (CI keeps the folder as an artifact)."""


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say where the screenshots are, once the run is over."""
    if ARTIFACTS.is_dir() and any(ARTIFACTS.glob("*.png")):
        terminalreporter.write_line(f"browser screenshots: {ARTIFACTS}")


def fresh_url(backend: str, tmp_path: Path) -> str:
    """A new, empty database: a file for SQLite, a schema of its own on the PostgreSQL test server."""
    if backend == "sqlite":
        return normalize_url(f"sqlite:///{tmp_path}/lf.db")
    schema = f"lf_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalize_url(PG_URL))
    with admin.begin() as conn:  # an unreachable server fails the test: PostgreSQL is never skipped
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    return normalize_url(PG_URL) + ("&" if "?" in PG_URL else "?") + f"options=-csearch_path%3D{schema}"


def make_store(tmp_path: Path, *, simulated: bool = True, backend: str = "sqlite") -> Store:
    url = fresh_url(backend, tmp_path)
    engine = make_engine(url)
    initialize(engine, url, parse_time(START) if simulated else None)
    engine.dispose()
    return Store(url)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An initialized database (SQLite and PostgreSQL) with the shared directory and pricing-exception."""
    db = make_store(tmp_path, backend=request.param)
    service.load_directory_file(db, str(DIRECTORY), ADMIN)
    service.publish(db, str(PRICING), ADMIN)
    yield db
    db.close()
    drop_schema(db.url)


def drop_schema(url: str) -> None:
    """Remove a test's PostgreSQL schema (nothing to do for SQLite files in tmp_path)."""
    if "search_path%3D" not in url:
        return
    schema = url.rsplit("search_path%3D", 1)[1]
    admin = create_engine(normalize_url(PG_URL))
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


def as_(actor: str | None) -> service.Caller:
    return service.Caller(actor=actor or "admin")
