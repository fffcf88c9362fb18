"""Running async code, or a program's `main` that starts an event loop, from a synchronous test."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import anyio

T = TypeVar("T")


def on_own_thread(function: Callable[..., T], *args: Any) -> T:
    """`function(*args)` on a thread of its own, for code that starts an event loop.

    A worker process that has run a browser test keeps Playwright's event loop on its main thread, where
    `anyio.run` then refuses ("Already running asyncio in this thread"); which tests share a worker depends
    on the scheduling, so each loop gets a fresh thread.
    """
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(function, *args).result()


def run_async(scenario: Callable[[], Awaitable[T]]) -> T:
    """`anyio.run(scenario)`, on a thread of its own (see `on_own_thread`)."""
    result: T = on_own_thread(anyio.run, scenario)
    return result
