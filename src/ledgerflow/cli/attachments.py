"""The document commands (SPEC §14): `attachment get` and `attachment list`.

They hang on `ledgerflow.cli.main`'s app, which imports this module once it exists; each imports what it needs
when it runs, so that loading the command line stays cheap (`--help`).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

from ledgerflow.cli.main import As, app, caller, emit, run_app, store

if TYPE_CHECKING:
    from ledgerflow.engine.tokens import Principal

attachment_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                             help="Documents attached to runs and tasks: read them back, list them.")
app.add_typer(attachment_app, name="attachment")


def _principal(as_: str | None) -> Principal:
    """Who reads: `--as ACTOR` (or LEDGERFLOW_TOKEN's actor) reads what that actor may; without either, the
    trusted local administrator reads everything (SPEC §6)."""
    from ledgerflow.engine import tokens

    actor = caller(as_).actor
    kind = tokens.ACTOR if as_ or os.environ.get("LEDGERFLOW_TOKEN") else tokens.ADMIN
    return tokens.Principal(token_id="cli", actor=actor, kind=kind)


@attachment_app.command("get")
def attachment_get(sha256: str, out_file: Annotated[str, typer.Option("--out", help="Where to write the bytes.")],
                   as_: As = None) -> None:
    """Write a document's bytes to a file (rights as for reading a run it is attached to)."""
    from ledgerflow import jsonfiles
    from ledgerflow.engine import documents
    principal = _principal(as_)
    found, data = documents.fetch(store(), principal, sha256)
    jsonfiles.write_file(out_file, data)
    emit({"sha256": sha256, "name": found.name, "size": len(data), "media_type": found.media_type, "out": out_file},
         f"{found.name} ({found.media_type}, {len(data):,} bytes) -> {out_file}")


@attachment_app.command("list")
def attachment_list(run_id: str, as_: As = None) -> None:
    """The documents of a run: name, size, type, who attached them at which step, and their hashes."""
    from ledgerflow.cli import render
    from ledgerflow.domain.attachments import shown
    from ledgerflow.domain.errors import NotFound
    from ledgerflow.engine import access, documents
    principal = _principal(as_)
    with store().read() as tx:
        run = tx.load_run(run_id)
        if principal.kind != "admin" and not access.sees_run(tx, run, principal.actor):
            raise NotFound(f"unknown run {run_id!r}", rule="unknown-run")
        rows = shown(documents.readable(tx, principal, run))
    emit(rows, "\n".join(render.attachment_line(row) for row in rows) or f"run {run_id} has no documents")


@run_app.command("hold")
def run_hold(run_id: str, reason: Annotated[str, typer.Option(help="Why (a matter, a request).")],
             as_: As = None) -> None:
    """Place a legal hold on a run: retention removes none of its documents until it is released."""
    from ledgerflow.engine import documents

    run = documents.set_hold(store(), run_id, caller(as_), held=True, reason=reason)
    emit({"run": run.id, "held": run.held}, f"run {run.id} is held: its documents are kept")


@run_app.command("release")
def run_release(run_id: str, reason: Annotated[str, typer.Option(help="Why the hold ends.")],
                as_: As = None) -> None:
    """Lift a run's legal hold: its documents fall under the playbook's retention again."""
    from ledgerflow.engine import documents

    run = documents.set_hold(store(), run_id, caller(as_), held=False, reason=reason)
    emit({"run": run.id, "held": run.held}, f"run {run.id} is released from its hold")


@attachment_app.command("sweep")
def attachment_sweep() -> None:
    """Remove the bytes retention no longer keeps (recorded, hashes kept) and documents no run refers to."""
    from ledgerflow.engine import documents

    result = documents.sweep(store())
    lines = [f"removed {r['name']} ({r['sha256']}) of run {r['run']}" for r in result["removed"]]
    lines.append(f"{result['deleted']} document(s) deleted after retention, {result['orphans']} unreferenced")
    emit(result, "\n".join(lines))
