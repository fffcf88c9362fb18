"""Live updates (issue #21 §7): the inbox and board streams say `changed` when what the person's list shows
changes, and nothing for work the person may not see."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from ledgerflow.storage.store import Store
from ledgerflow.web.context import Identity, LiveConfig, Web
from ledgerflow.web.live import Fingerprint, board_print, changes, inbox_print
from tests.engine.helpers import act, only_open, start
from tests.web.conftest import authenticate, sign_in

POLLS = 200
"""Polls a stream gets to report a change before the test gives up (each poll yields a line)."""


def _watch(store: Store, actor: str, fingerprint: Fingerprint, change: Callable[[], object]) -> list[str]:
    """Open a stream, make the change once it watches, and collect what it sends until it reports one."""
    web = Web(store, authenticate, LiveConfig())

    async def run() -> list[str]:
        stream: AsyncIterator[str] = changes(web, Identity(actor=actor), fingerprint, duration=60.0, poll=0.001)
        sent = [await anext(stream)]
        change()
        for _ in range(POLLS):
            sent.append(await anext(stream))
            if sent[-1].startswith("event: changed"):
                break
        await stream.aclose()  # type: ignore[attr-defined]
        return sent

    with ThreadPoolExecutor(1) as thread:  # a loop of its own: Playwright's may run in this worker's thread
        return thread.submit(asyncio.run, run()).result()


def test_the_inbox_stream_says_changed_when_a_task_arrives_or_leaves(store: Store) -> None:
    first = only_open(store, start(store, by="maria").id)
    holder = str(first.assignee)
    sent = _watch(store, holder, inbox_print, lambda: start(store, by="maria", customer="Second"))
    assert sent[0].startswith("retry:") and not sent[-1].startswith("event: changed")  # alternates: not theirs
    sent = _watch(store, holder, inbox_print, lambda: act(store, "reassign", first, actor="sam",
                                                          to="bob" if holder == "alice" else "alice",
                                                          reason="Covering the region"))
    assert sent[-1].startswith("event: changed")


def test_the_board_stream_sends_nothing_about_runs_the_person_may_not_see(store: Store) -> None:
    assert _watch(store, "sam", board_print, lambda: start(store))[-1].startswith("event: changed")
    sent = _watch(store, "lena", board_print, lambda: start(store))
    assert not any(line.startswith("event:") for line in sent)


def test_the_streams_answer_only_a_signed_in_person(store: Store) -> None:
    from ledgerflow.web.app import create_web_app

    app = create_web_app(store, authenticate, secret="s",
                         live_config=LiveConfig(poll_seconds=0.01, max_seconds=0.05))
    with TestClient(app) as client:
        assert client.get("/live/inbox", follow_redirects=False).status_code == 303
        sign_in(client, "dave")
        for path in ("/live/inbox", "/live/board"):
            with client.stream("GET", path) as answer:
                body = answer.read().decode()
                assert answer.headers["content-type"].startswith("text/event-stream") and "retry:" in body
