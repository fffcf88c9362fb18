"""API fixtures: a TestClient on `create_app(store)` (both databases) and bearer headers per actor."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from ledgerflow.api.app import ApiConfig, create_app
from ledgerflow.domain.limits import Limits
from ledgerflow.engine import tokens
from ledgerflow.storage.store import Store
from tests.api.helpers import Login, bearer
from tests.conftest import ADMIN

CONFIG = ApiConfig(stream_poll_seconds=0.05, stream_max_seconds=2.0, limits=Limits(max_bytes=64 * 1024))


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(store, CONFIG)) as test_client:
        yield test_client


@pytest.fixture
def login(store: Store) -> Login:
    """`login("bob")` gives the Authorization header of a token acting as bob (one token per actor)."""
    made: dict[str, dict[str, str]] = {}

    def headers(actor: str) -> dict[str, str]:
        if actor not in made:
            made[actor] = bearer(tokens.create(store, actor, ADMIN)["token"])
        return made[actor]

    return headers
