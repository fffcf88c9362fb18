"""What every page of the web UI shares: who is signed in, the CSRF token, and rendering with the clock and
the directory's names at hand, so any template can say "in 3 h" and "Dave Okafor"."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from ledgerflow.domain.times import display_time
from ledgerflow.storage.store import Store
from ledgerflow.web import display

HERE = Path(__file__).parent


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveConfig:
    """Server-sent events of the inbox and the board (`live.py`)."""

    poll_seconds: float = 1.0
    """How often a stream looks for new events."""
    max_seconds: float = 300.0
    """A stream ends after this long; the browser reconnects on its own (EventSource)."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a token or guest link signs in: an actor, or a guest limited to one task."""

    actor: str
    task: str | None = None


Authenticate = Callable[[str], Identity | None]


class Missing(Exception):
    """Answer 404: the object does not exist or the actor may not see it."""


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=HERE / "templates")
    env = templates.env
    env.filters["when"] = display_time
    env.filters["pretty"] = lambda value: json.dumps(value, indent=2, ensure_ascii=False)
    env.filters["exact"] = display.exact
    env.filters["tojson_compact"] = lambda value: json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return templates


class Web:
    """The store, the templates and the per-request helpers the route modules share."""

    def __init__(self, store: Store, authenticate: Authenticate, live: LiveConfig):
        self.store = store
        self.authenticate = authenticate
        self.live = live
        self.templates = _templates()
        self.closing = threading.Event()
        """Set when the app stops serving: live streams end at their next poll."""
        self._streams = threading.Condition()
        self._open_streams = 0

    def stream_opened(self) -> None:
        with self._streams:
            self._open_streams += 1

    def stream_closed(self) -> None:
        with self._streams:
            self._open_streams -= 1
            self._streams.notify_all()

    def close(self, timeout: float = 10.0) -> bool:
        """End every live stream (before the store closes under them); False if one outlived `timeout`."""
        self.closing.set()
        with self._streams:
            return self._streams.wait_for(lambda: self._open_streams == 0, timeout)

    def identity(self, request: Request) -> Identity | None:
        actor = request.session.get("actor")
        return Identity(actor=actor, task=request.session.get("guest_task")) if actor else None

    def csrf(self, request: Request) -> str:
        token = request.session.get("csrf")
        if not token:
            token = request.session["csrf"] = secrets.token_urlsafe(24)
        return str(token)

    def person(self, request: Request) -> Identity:
        """The signed-in person; a guest (one task only) or nobody answers 404."""
        who = self.identity(request)
        if who is None or who.task is not None:
            raise Missing()
        return who

    def guard(self, request: Request, form_csrf: str) -> Identity:
        """The signed-in actor of a form post whose CSRF token matches the session's."""
        who = self.identity(request)
        if who is None or not secrets.compare_digest(form_csrf, str(request.session.get("csrf", ""))):
            raise Missing()
        return who

    def render(self, request: Request, name: str, **context: Any) -> str:
        """A template (or a fragment) as text, with the clock and people's names."""
        return self.templates.get_template(name).render(self._context(request, context))

    def page(self, request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        return self.templates.TemplateResponse(request, name, self._context(request, context), status_code=status)

    def _context(self, request: Request, context: dict[str, Any]) -> dict[str, Any]:
        with self.store.read() as tx:
            directory = tx.directory()
            now = context.pop("now", None) or tx.now()
        people = display.names(directory)

        def who(actor: str | None, empty: str = "the system") -> Markup:
            if not actor:
                return Markup(escape(empty))
            name = people.get(actor)
            if name is None or name == actor:
                return Markup('<span class="person">{}</span>').format(actor)
            return Markup('<span class="person" title="{}">{}</span>').format(actor, name)

        def moment(stamp: str | None, kind: str = "ago", empty: str = "–") -> Markup:
            if not stamp:
                return Markup(escape(empty))
            text = display.until(stamp, now) if kind == "until" else display.ago(stamp, now)
            late = kind == "until" and text is not None and text.endswith("overdue")
            return Markup('<time datetime="{}" title="{}"{}>{}</time>').format(
                display_time(stamp), display.exact(stamp), Markup(' class="late"') if late else "", text)

        return {"request": request, "me": self.identity(request), "csrf": self.csrf(request), "now": now,
                "who": who, "moment": moment, "people": people, **context}
