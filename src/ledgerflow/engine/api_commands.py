"""Commands that arrive over the REST API: the per-object checks of `access`, then the service use case.

The engine still checks every right (assignee, separation of duties, owners); this layer adds only what a
network caller needs on top: an object the caller may not see is unknown, a guest reaches its one task, and
publishing is for the playbook's owners.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ledgerflow.domain.errors import Forbidden, LoadError, NotFound
from ledgerflow.domain.playbook import load_playbook
from ledgerflow.domain.runs import RunState
from ledgerflow.domain.source import parse_yaml
from ledgerflow.engine import access, documents, service
from ledgerflow.engine.tokens import Principal
from ledgerflow.storage.store import Store

CHANNEL = "api"
_FILE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def caller(principal: Principal, channel: str = CHANNEL) -> service.Caller:
    return service.Caller(actor=principal.actor, channel=channel)


def start_run(store: Store, principal: Principal, playbook_id: str, input: Any, *, why: str | None,
              version: int | None, attachments: Sequence[str] = (),
              channel: str = CHANNEL) -> tuple[RunState, list[Any]]:
    """Any person or agent in the directory may start a run (SPEC §6); the engine checks the rest.
    `attachments` are hashes of the caller's uploads."""
    return service.start_run(store, playbook_id, input, caller(principal, channel), why=why, version=version,
                             attachments=documents.referenced(store, principal, attachments))


def cancel_run(store: Store, principal: Principal, run_id: str, reason: str) -> RunState:
    with store.read() as tx:
        access.visible_run(tx, run_id, principal)
    return service.cancel_run(store, run_id, caller(principal), reason)


def task_command(store: Store, principal: Principal, verb: str, task_id: str, *, channel: str = CHANNEL,
                 **args: Any) -> dict[str, Any]:
    """start, complete, decide, recommend or reassign a task the caller sees (over the API, or MCP).

    A guest may only complete its task; the completion is recorded on behalf of the task's current assignee
    (channel api), since the engine lets only the assignee complete a task, under the authority `guest`
    that names the guest's address, its token and who invited it.
    """
    with store.read() as tx:
        task, _ = access.visible_task(tx, task_id, principal)
    if args.get("attachments"):
        args["attachments"] = documents.referenced(store, principal, args["attachments"])
    if principal.is_guest:
        if verb != "complete" or task.assignee is None:
            raise NotFound(f"unknown task {task_id!r}", rule="unknown-task")
        guest = {"email": principal.email, "token": principal.token_id, "invited_by": principal.actor}
        return service.task_command(store, verb, task_id, service.Caller(actor=task.assignee, channel=channel),
                                    guest=guest, **args)
    return service.task_command(store, verb, task_id, caller(principal, channel), **args)


def publish(store: Store, principal: Principal, text: str) -> dict[str, Any]:
    """Publish a playbook sent as YAML text.

    Who may publish: for a playbook id already published, the workflow owner or the outcome owner of its
    newest version; for a new id, an actor the text itself names as workflow owner or outcome owner. So
    nobody takes over a playbook by publishing a version that names them.

    Raises:
        Forbidden: the caller is not such an owner.
        Conflict: the text has lint errors (with every finding), as `playbook publish` does.
    """
    try:
        definition = load_playbook(parse_yaml(text, "playbook.yaml"))
    except LoadError:
        definition = None  # the service refuses it with its lint findings, and writes nothing
    name = "playbook.yaml"
    if definition is not None:
        with store.read() as tx:
            try:
                current, _ = tx.playbook(definition.id)
            except NotFound:
                current = definition
        if principal.actor not in access.owners(current):
            raise Forbidden(f"only the workflow owner ({current.workflow_owner}) or the outcome owner "
                            f"({current.outcome.owner}) publishes playbook {definition.id}",
                            rule="publish-not-owner")
        name = (_FILE_NAME.sub("-", definition.id) or "playbook") + ".yaml"
    with tempfile.TemporaryDirectory(prefix="ledgerflow-publish-") as folder:
        path = Path(folder) / name
        path.write_text(text, encoding="utf-8")
        return service.publish(store, str(path), caller(principal))
