"""What a command tells its operators (issue #24): how long it took, whether a rule refused it, and what it was
about, handed to whatever listens (`ledgerflow.ops.instruments` counts it for Prometheus and logs it as a JSON
line; the command line installs nothing, so a CLI command pays for neither library).

Only the standard library here: the service imports this module on every command.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol

from ledgerflow.domain.errors import EnvironmentProblem, LedgerflowError

request_id: ContextVar[str | None] = ContextVar("ledgerflow-request-id", default=None)
"""The id of the HTTP request being answered: on its log lines, in its problem documents, in `X-Request-ID`."""
request_fields: ContextVar[dict[str, Any] | None] = ContextVar("ledgerflow-request-fields", default=None)
"""What the request's log line says that only a route learns (the actor), filled in as the request runs."""


class Listener(Protocol):
    """Told about every command once it has ended."""

    def command(self, name: str, outcome: str, rule: str, seconds: float, fields: dict[str, Any]) -> None: ...


Finish = Callable[[str, str, dict[str, Any], BaseException | None], None]
"""Ends a command's span: (outcome, rule, fields, the exception it raised or None)."""
RequestFinish = Callable[[str, int, str], None]
"""Ends an HTTP request's span: (the route's template, the status, the request id)."""


class Tracer(Protocol):
    """Opens a span around every HTTP request and every command, current while it runs (what it does nests in
    it: a request's command, a command's statements)."""

    def start(self, name: str) -> Finish: ...

    def request(self, method: str, headers: list[tuple[bytes, bytes]]) -> RequestFinish: ...


_listeners: list[Listener] = []
_tracer: Tracer | None = None


def listen(listener: Listener) -> None:
    """Tell `listener` about every command from now on (once per listener)."""
    if listener not in _listeners:
        _listeners.append(listener)


def trace(tracer: Tracer | None) -> None:
    """Open a span with `tracer` around every request and command from now on; None stops it."""
    global _tracer
    _tracer = tracer


def start_request(method: str, headers: list[tuple[bytes, bytes]]) -> RequestFinish | None:
    """An HTTP request's span when traces are on (the request log's middleware opens it, knowing the route)."""
    return None if _tracer is None else _tracer.request(method, headers)


def outcome_of(exc: BaseException | None) -> tuple[str, str]:
    """(outcome, rule) of a command that raised `exc` (None: it succeeded): a rule refused it, or it failed."""
    if exc is None:
        return "ok", ""
    if isinstance(exc, EnvironmentProblem):
        return "error", exc.rule
    if isinstance(exc, LedgerflowError):
        return "refused", exc.rule
    return "error", "internal-error"


@contextmanager
def command(name: str, **fields: Any) -> Iterator[MutableMapping[str, Any]]:
    """Time one command and tell the listeners how it ended. The body may add what it learns (playbook, run)
    to the mapping yielded.

    Args:
        name: the command (`run.start`, `task.decide`...): a bounded set, metrics label by it.
        fields: what the log line says about it: actor, channel, playbook, run, task.
    """
    started = time.perf_counter()
    context: dict[str, Any] = dict(fields)
    failure: BaseException | None = None
    finish = _tracer.start(name) if _tracer is not None else None
    try:
        yield context
    except BaseException as exc:
        failure = exc
        raise
    finally:
        if _listeners or finish is not None:
            seconds = time.perf_counter() - started
            outcome, rule = outcome_of(failure)
            seen = {k: v for k, v in context.items() if v is not None}
            if finish is not None:
                finish(outcome, rule, seen, failure)
            for listener in _listeners:
                listener.command(name, outcome, rule, seconds, seen)
