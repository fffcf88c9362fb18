"""A cap on concurrent expensive requests (lint and publish parse and check a whole playbook) and a time
limit on each, so that a few large documents cannot take every worker thread of the server."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread

from ledgerflow.domain.errors import EnvironmentProblem

T = TypeVar("T")


class Busy(EnvironmentProblem):
    """Raised when every slot for expensive requests is taken (HTTP 503); retry shortly."""

    default_rule = "server-busy"


class TooSlow(EnvironmentProblem):
    """Raised when an expensive request passes its time limit (HTTP 503). Its thread runs to its end and
    keeps its slot until then; a publish may still complete, so retry with the same Idempotency-Key."""

    default_rule = "time-limit"


class Expensive:
    """At most `slots` expensive requests at once, each answered within `seconds`."""

    def __init__(self, slots: int, seconds: float) -> None:
        self.slots = slots
        self.seconds = seconds
        self._free = threading.BoundedSemaphore(slots)

    async def run(self, work: Callable[[], T]) -> T:
        """Run `work` on a worker thread under the cap and the time limit.

        Raises:
            Busy: no slot is free.
            TooSlow: `work` did not finish in time (it goes on, holding its slot, until it ends).
        """
        if not self._free.acquire(blocking=False):
            raise Busy(f"the server is already running {self.slots} lint or publish requests; retry shortly")
        lock, state = threading.Lock(), ["waiting"]

        def guarded() -> T:
            with lock:
                if state[0] != "waiting":
                    raise RuntimeError("abandoned before it started")
                state[0] = "running"
            try:
                return work()
            finally:
                self._free.release()

        try:
            with anyio.fail_after(self.seconds):
                return await anyio.to_thread.run_sync(guarded, abandon_on_cancel=True)
        except TimeoutError:
            raise TooSlow(f"the request took longer than {self.seconds:g} s; a publish may still complete, so "
                          "retry it with the same Idempotency-Key") from None
        finally:
            with lock:
                if state[0] == "waiting":  # never reached a thread: the slot is still ours to give back
                    state[0] = "abandoned"
                    self._free.release()
