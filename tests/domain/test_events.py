"""Events refuse a type or an authority kind the registry does not know, naming it."""

from __future__ import annotations

import pytest

from ledgerflow.domain.events import Event, authority


def test_an_unknown_event_type_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"unknown event type 'run\.teleported'"):
        Event(type="run.teleported", at="2026-03-02T08:00:00.000000Z", actor="bob")


def test_an_unknown_authority_kind_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown authority kind 'hunch'"):
        authority("hunch")
    assert authority("role", "finance") == {"kind": "role", "detail": "finance"}
