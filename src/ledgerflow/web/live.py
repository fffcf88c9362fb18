"""Live updates (issue #21 §7): the inbox and the board refresh over server-sent events.

A stream tells the page only *that* its list changed (`event: changed`); the page (htmx's SSE extension)
then fetches the list fragment with its own filters, through the same authorization as a full page. The
server watches the newest event's seq, which is cheap, and only when it moves recomputes a fingerprint of
what this person's list shows: a change elsewhere, in a run the person may not see, sends nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Callable

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from ledgerflow.reporting import worklists
from ledgerflow.web.context import Identity, Web

Fingerprint = Callable[[Web, Identity], str]
"""A digest of what one person's list shows: equal digests, nothing to refresh."""


def routes(web: Web) -> APIRouter:
    api = APIRouter()
    config = web.live

    def stream(request: Request, fingerprint: Fingerprint, seconds: float | None) -> StreamingResponse:
        who = web.person(request)
        duration = min(seconds or config.max_seconds, config.max_seconds)
        return StreamingResponse(changes(web, who, fingerprint, duration, config.poll_seconds),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @api.get("/live/inbox")
    def live_inbox(request: Request, seconds: float | None = None) -> StreamingResponse:
        """`changed` whenever the signed-in person's inbox changes."""
        return stream(request, inbox_print, seconds)

    @api.get("/live/board")
    def live_board(request: Request, seconds: float | None = None) -> StreamingResponse:
        """`changed` whenever the first page of the person's board changes."""
        return stream(request, board_print, seconds)

    return api


def inbox_print(web: Web, who: Identity) -> str:
    """What the person's inbox shows, as a short digest."""
    with web.store.read() as tx:
        tasks = tx.due_first(who.actor, limit=100)
        waiting, total = tx.waiting_on_others(who.actor, 100)
        shown: list[object] = [(t.id, t.status, t.assignee, t.due_at) for t in tasks]
        shown.append((tx.open_count(who.actor), total))
        shown.extend((t.id, t.status, t.assignee) for t in waiting)
    return _digest(repr(shown))


def board_print(web: Web, who: Identity) -> str:
    """What the first page of the person's board shows, as a short digest."""
    with web.store.read() as tx:
        found = worklists.board(tx, who.actor, worklists.BoardFilter(), limit=50)
    return _digest(repr([(r["task"], r["waiting_on"], r["overdue"]) for r in found.rows] + [found.total]))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _last_seq(web: Web) -> int:
    with web.store.read() as tx:
        return tx.last_seq()


async def changes(web: Web, who: Identity, fingerprint: Fingerprint, duration: float,
                   poll: float) -> AsyncIterator[str]:
    """Queries run on the thread pool; waiting holds no thread, and a client that goes away ends the loop."""
    web.stream_opened()
    try:
        async for line in _watch(web, who, fingerprint, duration, poll):
            yield line
    finally:
        web.stream_closed()


async def _watch(web: Web, who: Identity, fingerprint: Fingerprint, duration: float,
                 poll: float) -> AsyncIterator[str]:
    deadline = time.monotonic() + duration
    seq = await run_in_threadpool(_last_seq, web)
    shown = await run_in_threadpool(fingerprint, web, who)
    yield f"retry: {int(max(poll, 1.0) * 1000)}\n: watching\n\n"
    while time.monotonic() < deadline and not web.closing.is_set():
        await asyncio.sleep(min(poll, max(deadline - time.monotonic(), 0.0)))
        latest = await run_in_threadpool(_last_seq, web)
        if latest == seq:
            yield ": idle\n\n"
            continue
        seq = latest
        now_shown = await run_in_threadpool(fingerprint, web, who)
        if now_shown == shown:
            yield ": idle\n\n"
            continue
        shown = now_shown
        yield f"event: changed\ndata: {shown}\n\n"
