"""The web UI's documents (SPEC §14): a task page's list with inline previews, and files on its forms.

Kept apart from app.py so the pages take them as includes (`_attachments.html`, `_attach_input.html`): the
bytes are served by `/attachments/{sha256}` with the REST API's headers (a file to save, never sniffed; PDFs
and images inline only when asked), to whoever the page is shown to.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi.responses import Response
from starlette.datastructures import UploadFile

from ledgerflow.api.routes.attachments import download
from ledgerflow.domain.attachments import Document, shown
from ledgerflow.domain.runs import RunState
from ledgerflow.engine import documents
from ledgerflow.engine.tokens import ACTOR, GUEST, Principal
from ledgerflow.storage.store import Store


def principal(actor: str, guest_task: str | None) -> Principal:
    """The web session as the reader the document rules know: an actor, or a guest limited to one task."""
    return Principal(token_id="web", actor=actor, kind=GUEST if guest_task else ACTOR, task=guest_task)


def listed(store: Store, reader: Principal, run: RunState | None) -> list[dict[str, Any]]:
    """The run's documents the reader may see, as the task page lists them."""
    if run is None:
        return []
    with store.read() as tx:
        return shown(documents.readable(tx, reader, run))


async def received(store: Store, parts: Sequence[UploadFile | str]) -> tuple[Document, ...]:
    """A form's files, checked and stored (an empty file input sends a nameless, empty part: not a document)."""
    chosen = [(f.filename or "attachment", await f.read()) for f in parts if isinstance(f, UploadFile) and f.filename]
    return documents.keep(store, chosen)


def served(store: Store, reader: Principal, sha256: str, show_inline: bool) -> Response:
    """A document's response, for a reader who may read a run it is attached to."""
    found, data = documents.fetch(store, reader, sha256)
    return download(found, data, show_inline=show_inline)
