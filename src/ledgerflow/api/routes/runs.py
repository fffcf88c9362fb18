"""Runs: start, list, read with the timeline, cancel; the run's events as a page or a server-sent stream."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from ledgerflow.api.deps import Actor, ActorMutation, StoreDep
from ledgerflow.api.errors import documented
from ledgerflow.api.models import (
    CancelIn,
    EventOut,
    EventPage,
    RunDetail,
    RunOut,
    RunPage,
    RunRef,
    RunStarted,
    StartRunIn,
    TaskOut,
)
from ledgerflow.engine import api_commands, api_queries
from ledgerflow.engine.tokens import Principal
from ledgerflow.storage.store import Store

Limit = Annotated[int, Query(ge=1, description="Page size (capped by the server's maximum).")]
Seconds = Annotated[float | None, Query(gt=0, description="Stop after this many seconds (capped by the server).")]
RunStatusName = Literal["running", "completed", "rejected", "cancelled"]
SSE: dict[int | str, dict[str, Any]] = {200: {
    "description": "Server-sent events: `id` is the event's seq, `event` its type, `data` the event as in the "
                   "timeline.",
    "content": {"text/event-stream": {"schema": {"type": "string"}}}}}


def router(*, page_size: int, max_page_size: int, poll_seconds: float, stream_seconds: float) -> APIRouter:
    api = APIRouter(prefix="/runs", tags=["runs"], responses=documented(401))

    @api.post("", response_model=RunStarted, status_code=201, responses=documented(400, 404, 409, 413, 422))
    def start_run(call: ActorMutation, body: StartRunIn) -> Response:
        """Start a run of a published playbook as the caller (any person or agent in the directory)."""
        def start() -> RunStarted:
            run, opened = api_commands.start_run(call.store, call.principal, body.playbook, body.input, why=body.why,
                                           version=body.version, attachments=body.attachments)
            return RunStarted(run=run.id, status=str(run.status), tasks=[TaskOut.of(t) for t in opened])
        return call.answer(start, 201)

    @api.get("", response_model=RunPage, responses=documented(400, 404))
    def list_runs(store: StoreDep, who: Actor, playbook: str | None = None, status: RunStatusName | None = None,
                  after: Annotated[str | None, Query(description="The `next` of the previous page.")] = None,
                  limit: Limit = page_size) -> RunPage:
        """The runs the caller takes part in or owns, oldest first, a page at a time."""
        rows, following = api_queries.runs(store, who, playbook=playbook, status=status, after=after,
                                     limit=min(limit, max_page_size))
        return RunPage(items=[RunOut.of(r) for r in rows], next=following)

    @api.get("/{run_id}", response_model=RunDetail, responses=documented(404))
    def show_run(store: StoreDep, who: Actor, run_id: str) -> RunDetail:
        """A run with its input, its tasks and its timeline."""
        run, events = api_queries.run(store, who, run_id)
        return RunDetail.of_run(run, events)

    @api.post("/{run_id}/cancel", response_model=RunRef, responses=documented(403, 404, 409, 422))
    def cancel_run(call: ActorMutation, run_id: str, body: CancelIn) -> Response:
        """Cancel a running run: its starter, workflow owner or outcome owner, with a reason."""
        def cancel() -> RunRef:
            run = api_commands.cancel_run(call.store, call.principal, run_id, body.reason)
            return RunRef(run=run.id, status=str(run.status))
        return call.answer(cancel)

    @api.get("/{run_id}/events", response_model=EventPage, responses=documented(404))
    def run_events(store: StoreDep, who: Actor, run_id: str,
                   after: Annotated[int, Query(ge=0, le=2**63 - 1, description="Events after this seq.")] = 0,
                   limit: Limit = page_size) -> EventPage:
        """The run's audit events after a seq, oldest first."""
        limit = min(limit, max_page_size)
        rows, _ = api_queries.run_events(store, who, run_id, after=after, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return EventPage(items=[EventOut.of(r) for r in rows], next=rows[-1]["seq"] if more else None)

    @api.get("/{run_id}/events/stream", response_class=StreamingResponse, responses={**SSE, **documented(404)})
    def stream_events(store: StoreDep, who: Actor, run_id: str,
                      after: Annotated[int, Query(ge=0, le=2**63 - 1, description="Send events after this seq.")] = 0,
                      last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
                      seconds: Seconds = None) -> StreamingResponse:
        """New events of the run as server-sent events. The stream ends once the run has ended and every
        event was sent, or after `seconds`; reconnect with `Last-Event-ID` to go on."""
        start = max(after, int(last_event_id) if last_event_id and last_event_id.isdigit() else 0)
        api_queries.run_events(store, who, run_id, after=start, limit=0)  # 404 before the stream opens
        duration = min(seconds or stream_seconds, stream_seconds)
        return StreamingResponse(_stream(store, who, run_id, start, duration, poll_seconds),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    return api


async def _stream(store: Store, who: Principal, run_id: str, after: int, duration: float,
                  poll: float) -> AsyncIterator[str]:
    """Poll the store and send what is new; a comment line keeps idle connections open. Queries run on the
    thread pool; waiting holds no thread, and a client that goes away cancels the loop."""
    deadline = time.monotonic() + duration
    yield f"retry: {int(max(poll, 1.0) * 1000)}\n\n"
    while True:
        rows, ended = await run_in_threadpool(api_queries.run_events, store, who, run_id, after=after)
        for row in rows:
            after = row["seq"]
            data = json.dumps(EventOut.of(row).model_dump(mode="json"), separators=(",", ":"))
            yield f"id: {after}\nevent: {row['type']}\ndata: {data}\n\n"
        if ended or time.monotonic() >= deadline:
            return
        if not rows:
            yield ": waiting\n\n"
        await asyncio.sleep(min(poll, max(deadline - time.monotonic(), 0.0)))
