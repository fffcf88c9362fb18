"""E-mail decision links (SPEC §13): one single-use link per allowed outcome, bound when the e-mail is sent.

A link's token is `lfa_` + 32 random bytes and appears only in the e-mail; the database keeps its SHA-256
(as for bearer tokens), so neither the outbox nor a copy of the database holds anything that acts. Links are
issued by the worker at sending time, bound to the task, its addressee, the outcome and the `data_hash` then.
GET shows what a link would do and never acts (mail scanners prefetch links); `use` records the decision
through `service.task_command` with channel `email`, marking the link used in the same transaction, so a
refused decision leaves the link as it was. Expiry is measured on the database clock, like tokens.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ledgerflow.domain.errors import Conflict, LedgerflowError
from ledgerflow.domain.flow import data_under_decision, readable_outputs
from ledgerflow.domain.playbook import DecisionStep, Playbook
from ledgerflow.domain.runs import RunState, TaskState
from ledgerflow.domain.states import RunStatus
from ledgerflow.domain.summary import render_summary
from ledgerflow.domain.times import display_time, format_time
from ledgerflow.engine import service
from ledgerflow.engine.ids import new_id
from ledgerflow.storage import grants as grant_rows
from ledgerflow.storage.store import Store, Tx

PREFIX = "lfa_"
_MAX_TOKEN = 100
"""Longer than any token issued: refused before it is hashed."""


class LinkRefused(Conflict):
    """Raised when a decision link cannot act: unknown or altered (`link-unknown`), used (`link-used`), expired
    (`link-expired`), overtaken by the data or the task (`link-superseded`), or opened by someone signed in as
    another person (`link-not-yours`). `task` names the task to go to instead, when the link is known."""

    default_rule = "link-refused"

    def __init__(self, message: str, *, rule: str, task: str | None = None):
        super().__init__(message, rule=rule, details={"task": task})
        self.task = task


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    """What a person reads before deciding: the run's summary, what the step asks and the data under decision."""

    task: str
    run: str
    title: str
    summary: str | None
    what: str | None
    why: str | None
    due_at: str | None
    input: Any
    outputs: dict[str, Any]
    rationale_required: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Offer:
    """What one link would do, as its confirmation page shows it."""

    case: Case
    addressee: str
    addressee_name: str
    outcome: str
    expires_at: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionMail:
    """A decision e-mail's content: the case and one link per allowed outcome, (outcome, URL) in option order."""

    case: Case
    addressee_name: str
    links: list[tuple[str, str]] = field(default_factory=list)
    expires_at: str = ""


def hash_link(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def case_of(run: RunState, playbook: Playbook, step: DecisionStep, task: TaskState) -> Case:
    return Case(task=task.id, run=run.id, title=f"{playbook.title}: {step.id}",
                summary=render_summary(playbook.summary, run.input), what=step.clarity.what, why=step.clarity.why,
                due_at=display_time(task.due_at), input=run.input,
                outputs=readable_outputs(run, playbook, step), rationale_required=step.rationale_required)


def open_decision(tx: Tx, task_id: str) -> tuple[RunState, TaskState, Playbook, DecisionStep] | None:
    """The task's run, the task, its playbook and step when it is an open decision; else None."""
    run = tx.load_task_run(task_id)
    task = run.task(task_id) if run is not None else None
    if run is None or task is None or task.type != "decision" or not task.is_open:
        return None
    playbook, _ = tx.playbook(run.playbook, run.version)
    step = playbook.by_id.get(task.step)
    return (run, task, playbook, step) if isinstance(step, DecisionStep) else None


def decision_mail(store: Store, task_id: str, addressee: str) -> DecisionMail | None:
    """Issue the links of a decision e-mail to `addressee`, bound to the data as it is now.

    None when the task is not an open decision assigned to `addressee` (the e-mail then goes without links:
    an escalation to someone without the right, a decision already taken)."""
    with store.write() as tx:
        found = open_decision(tx, task_id)
        directory = tx.directory()
        person = directory.get(addressee) if directory is not None else None
        if found is None or person is None or found[1].assignee != addressee:
            return None
        run, task, playbook, step = found
        data_hash = data_under_decision(run, playbook, step)
        now = tx.now()
        expires_at = format_time(now + tx.settings.action_link_ttl)
        links = []
        for outcome in step.options:
            token = PREFIX + secrets.token_urlsafe(32)
            grant_rows.insert_link(
                tx, id=new_id("lnk"), hash=hash_link(token), task=task.id, run=run.id, addressee=addressee,
                outcome=outcome, data_hash=data_hash, created_at=format_time(now), expires_at=expires_at,
                used_at=None)
            links.append((outcome, f"{tx.settings.base_url}/act/{token}"))
        return DecisionMail(case=case_of(run, playbook, step, task), addressee_name=person.name, links=links,
                            expires_at=display_time(expires_at) or expires_at)


def _row(tx: Tx, token: str) -> Any:
    row = None
    if token.startswith(PREFIX) and len(token) <= _MAX_TOKEN:
        row = grant_rows.link_by_hash(tx, hash_link(token))
    if row is None:
        raise LinkRefused("This link is not valid: it was altered, or it was never sent.", rule="link-unknown")
    return row


def _check(tx: Tx, row: Any) -> tuple[RunState, TaskState, Playbook, DecisionStep]:
    """The link's task, its run and step, when the link may still act; else why not."""
    if row.used_at is not None:
        raise LinkRefused(f"This link was used at {display_time(row.used_at)}; a link acts once.", rule="link-used",
                          task=row.task)
    if row.expires_at <= format_time(tx.now()):
        raise LinkRefused(f"This link expired at {display_time(row.expires_at)}.", rule="link-expired", task=row.task)
    return current(tx, row.task, row.addressee, row.data_hash)


def current(tx: Tx, task_id: str, addressee: str, data_hash: str) -> tuple[RunState, TaskState, Playbook,
                                                                            DecisionStep]:
    """The decision a message offered to `addressee` on data `data_hash`, if it still stands as offered.

    Raises:
        LinkRefused (`link-superseded`): the run ended, the task was decided or handed to someone else, or the
            data under decision is no longer what the message showed.
    """
    def refuse(message: str) -> LinkRefused:
        return LinkRefused(message, rule="link-superseded", task=task_id)

    run = tx.load_task_run(task_id)
    task = run.task(task_id) if run is not None else None
    if run is None or task is None:
        raise refuse("The task no longer exists.")
    if run.status != RunStatus.RUNNING:
        raise refuse(f"The run ended ({run.status}) after this message was sent.")
    if not task.is_open:
        raise refuse(f"The task is {task.status} already (outcome: {task.outcome or 'none'}).")
    if task.assignee != addressee:
        raise refuse(f"The task was handed to {task.assignee} after this message was sent to {addressee}.")
    playbook, _ = tx.playbook(run.playbook, run.version)
    step = playbook.by_id.get(task.step)
    if not isinstance(step, DecisionStep):
        raise refuse("The task is not a decision.")
    if data_under_decision(run, playbook, step) != data_hash:
        raise refuse("The data under decision changed after this message was sent; decide on what it is now.")
    return run, task, playbook, step


def offer(store: Store, token: str) -> Offer:
    """What the link would do, for its confirmation page; nothing is written.

    Raises:
        LinkRefused: the link is unknown, used, expired or superseded.
    """
    with store.read() as tx:
        row = _row(tx, token)
        run, task, playbook, step = _check(tx, row)
        directory = tx.directory()
        person = directory.get(row.addressee) if directory is not None else None
        return Offer(case=case_of(run, playbook, step, task), addressee=row.addressee,
                     addressee_name=person.name if person is not None else row.addressee, outcome=row.outcome,
                     expires_at=display_time(row.expires_at) or row.expires_at)


def use(store: Store, token: str, rationale: str, *, signed_in: str | None = None) -> dict[str, Any]:
    """Record the link's decision, as its addressee, through the same command as every channel (SPEC §13).

    `signed_in` is the person signed in to the web UI in the same browser, if any: someone else may not use
    a link that was forwarded to them.

    Raises:
        LinkRefused: the link cannot act (see the class); nothing is written.
        Refused, InvalidInput: the decision itself is refused (rights checked again, rationale, limits).
    """
    with store.read() as tx:
        row = _row(tx, token)
    if signed_in is not None and signed_in != row.addressee:
        raise LinkRefused(f"This link was sent to {row.addressee}; you are signed in as {signed_in}. Decide "
                          "from the task page if the decision is yours.", rule="link-not-yours", task=row.task)
    try:
        result = service.task_command(
            store, "decide", row.task, service.Caller(actor=row.addressee, channel="email"),
            precondition=_claim(row.id), outcome=row.outcome, rationale=rationale.strip() or None, to=None)
    except LedgerflowError as exc:
        exc.details.setdefault("task", row.task)  # the refusal page links to the task
        raise
    return {"task": row.task, "run": result["run"].id, "outcome": row.outcome, "actor": row.addressee}


def _claim(link_id: str) -> Callable[[Tx, RunState], None]:
    """Check the link again inside the decision's transaction (the run row is locked) and mark it used."""
    def claim(tx: Tx, _: RunState) -> None:
        row = grant_rows.link(tx, link_id)
        _check(tx, row)
        grant_rows.use_link(tx, link_id, format_time(tx.now()))
    return claim
