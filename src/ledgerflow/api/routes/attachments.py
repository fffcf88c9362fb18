"""Documents (SPEC §14): upload one, read one back, list a run's.

An upload is checked (size, media type detected from its content, the scanning hook) and stored by its SHA-256;
a run start or a completion then refers to it by that hash. A download is always offered as a file
(`Content-Disposition: attachment`, `nosniff`, a sandboxing CSP); only PDFs and images may be asked for inline.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Query, UploadFile
from fastapi.responses import Response

from ledgerflow.api.deps import Actor, ActorMutation, Anyone, Mutation, StoreDep
from ledgerflow.api.errors import documented
from ledgerflow.api.models import AttachmentOut, HoldIn, HoldOut, Uploaded
from ledgerflow.domain.attachments import Attachment, inline, shown
from ledgerflow.engine import access, api_commands, api_queries, documents

BINARY: dict[int | str, dict[str, Any]] = {
    200: {"description": "The document's bytes.", "content": {"application/octet-stream": {}}}}


def download(found: Attachment, data: bytes, *, show_inline: bool = False) -> Response:
    """A document as a response the browser will not run: a file to save unless an inline type was asked for
    inline, never sniffed, sandboxed."""
    shown = show_inline and inline(found.media_type)
    fallback = found.name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    media_type = found.media_type if inline(found.media_type) or found.media_type == "text/plain" \
        else "application/octet-stream"
    # sandboxed, nothing of the document's runs; Chromium's PDF viewer refuses a sandboxed document, so an inline
    # PDF goes without it (the viewer runs no script of the PDF's)
    sandbox = "" if shown and found.media_type == "application/pdf" else "; sandbox"
    return Response(data, media_type=media_type, headers={
        "Content-Disposition": f"{'inline' if shown else 'attachment'}; filename=\"{fallback}\"; "
                               f"filename*=UTF-8''{quote(found.name)}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": f"default-src 'none'; img-src 'self'; style-src 'unsafe-inline'{sandbox}",
        "Cache-Control": "private, no-store",
    })


def router() -> APIRouter:
    api = APIRouter(tags=["attachments"], responses=documented(401))

    @api.post("/attachments", response_model=Uploaded, status_code=201, responses=documented(400, 413, 415, 422))
    def upload(store: StoreDep, who: Anyone, file: Annotated[UploadFile, File(description="The document.")]
               ) -> Uploaded:
        """Store a document (multipart field `file`); refer to its `sha256` in a run start's or a completion's
        `attachments`. Too large: 413; a media type not allowed: 415; refused by the scanning hook: 422."""
        document = documents.upload(store, who, file.filename or "attachment", file.file.read())
        return Uploaded(**document.record())

    @api.get("/attachments/{sha256}", response_class=Response, responses={**BINARY, **documented(400, 404, 409)})
    def get(store: StoreDep, who: Anyone, sha256: str,
            show_inline: Annotated[bool, Query(alias="inline", description="Show a PDF or image inline.")] = False
            ) -> Response:
        """A document's bytes, to whoever may read a run it is attached to (a guest: its own task's)."""
        found, data = documents.fetch(store, who, sha256)
        return download(found, data, show_inline=show_inline)

    @api.get("/runs/{run_id}/attachments", response_model=list[AttachmentOut], responses=documented(404))
    def of_run(store: StoreDep, who: Actor, run_id: str) -> list[AttachmentOut]:
        """The run's documents: name, size, type, who attached them at which step."""
        run, _ = api_queries.run(store, who, run_id)
        return [AttachmentOut(**a) for a in shown(run.attachments)]

    @api.post("/runs/{run_id}/hold", response_model=HoldOut, responses=documented(403, 404, 409, 422))
    def hold(call: ActorMutation, run_id: str, body: HoldIn) -> Response:
        """Place a legal hold on a run (its playbook's workflow or outcome owner): retention removes none of
        its documents until it is released."""
        return call.answer(lambda: _held(call, run_id, body.reason, held=True))

    @api.post("/runs/{run_id}/release", response_model=HoldOut, responses=documented(403, 404, 409, 422))
    def release(call: ActorMutation, run_id: str, body: HoldIn) -> Response:
        """Lift a run's legal hold."""
        return call.answer(lambda: _held(call, run_id, body.reason, held=False))

    return api


def _held(call: Mutation, run_id: str, reason: str, *, held: bool) -> HoldOut:
    with call.store.read() as tx:
        access.visible_run(tx, run_id, call.principal)
    run = documents.set_hold(call.store, run_id, api_commands.caller(call.principal), held=held, reason=reason)
    return HoldOut(run=run.id, held=run.held)
