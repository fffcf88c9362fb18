"""Shared fixtures: a fresh database per test, with the shared directory and example playbook."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledgerflow import service
from ledgerflow.domain.times import parse_time
from ledgerflow.storage.database import initialize, make_engine, normalize_url
from ledgerflow.storage.store import Store

SHARED = Path(__file__).resolve().parents[2] / "shared" / "playbooks"
EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "ledgerflow" / "examples"
PLAYBOOKS = SHARED if SHARED.exists() else EXAMPLES
DIRECTORY = PLAYBOOKS / "directory.yaml"
PRICING = PLAYBOOKS / "pricing-exception.yaml"
START = "2026-03-02T08:00:00Z"
ADMIN = service.Caller()


def make_store(tmp_path: Path, *, simulated: bool = True) -> Store:
    url = normalize_url(f"sqlite:///{tmp_path}/lf.db")
    initialize(make_engine(url), url, parse_time(START) if simulated else None)
    return Store(url)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """An initialized database with the shared directory loaded and pricing-exception published."""
    db = make_store(tmp_path)
    service.load_directory_file(db, str(DIRECTORY), ADMIN)
    service.publish(db, str(PRICING), ADMIN)
    yield db
    db.close()


def as_(actor: str | None) -> service.Caller:
    return service.Caller(actor=actor or "admin")
