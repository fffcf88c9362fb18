"""Use cases: each loads what it needs, asks the domain, and writes state and events in one transaction."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ledgerflow.domain import assignments, flow, grants, notifications, timers
from ledgerflow.domain.attachments import Attachment, Document
from ledgerflow.domain.autonomy import AS_WRITTEN, names_agents
from ledgerflow.domain.canonical import digest
from ledgerflow.domain.directory import Directory, load_directory
from ledgerflow.domain.durations import parse_duration
from ledgerflow.domain.errors import Conflict, Forbidden, InvalidInput, InvalidTransition, NotFound, SchemaViolation
from ledgerflow.domain.events import CHANNELS, Event, authority
from ledgerflow.domain.figures import Marks, decisions, ended_counts, run_flags, week_of
from ledgerflow.domain.findings import ERROR, Finding
from ledgerflow.domain.governance import latency_thresholds
from ledgerflow.domain.limits import DEFAULT, Limits, check_size, check_value
from ledgerflow.domain.lint import lint_source
from ledgerflow.domain.playbook import Playbook, load_playbook
from ledgerflow.domain.runs import RunState
from ledgerflow.domain.source import parse_yaml
from ledgerflow.domain.states import RunStatus, TaskStatus
from ledgerflow.domain.summary import render_summary
from ledgerflow.domain.timers import AWAY, Timer
from ledgerflow.domain.times import display_time, format_time, parse_time
from ledgerflow.engine import governance
from ledgerflow.engine.ids import new_id
from ledgerflow.ops import telemetry
from ledgerflow.reporting.timeline import describe
from ledgerflow.storage.store import Store, Tx


@dataclass(frozen=True, slots=True, kw_only=True)
class Caller:
    """Who is acting and through which channel (one of the events' `CHANNELS`)."""

    actor: str = "admin"
    channel: str = "cli"
    os_user: str | None = None

    def __post_init__(self) -> None:
        if self.channel not in CHANNELS:
            raise ValueError(f"unknown channel {self.channel!r}")


def read_text(path: str, limits: Limits = DEFAULT) -> str:
    """A file's UTF-8 text; no more than the size limit is ever read.

    Raises:
        InvalidInput: unreadable (`file-unreadable`) or not UTF-8, e.g. a binary file (`bad-encoding`).
        LimitExceeded: larger than the limit (`input-too-large`).
    """
    try:
        with Path(path).open("rb") as file:
            data = file.read(limits.max_bytes + 1)
            if len(data) > limits.max_bytes:  # a pipe has no size: what was read is then the lower bound
                check_size(max(os.fstat(file.fileno()).st_size, len(data)), path, limits)
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}", rule="file-unreadable") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path} is not UTF-8 text (byte {exc.start} is not); is it a binary file?",
                           rule="bad-encoding") from None


def _system_event(tx: Tx, type_: str, caller: Caller, data: dict[str, Any], kind: str = "admin") -> Event:
    return Event(type=type_, at=format_time(tx.now()), actor=caller.actor, channel=caller.channel,
                 authority=authority(kind, caller.os_user), data=data)


# ------------------------------------------------------------------------------ directory & playbooks


def load_directory_file(store: Store, path: str, caller: Caller) -> dict[str, Any]:
    with telemetry.command("directory.load", actor=caller.actor, channel=caller.channel):
        source = parse_yaml(read_text(path), path)
        directory, data = load_directory(source)
        content = digest(data)
        with store.write() as tx:
            at = format_time(tx.now())
            version = tx.save_directory(data, content, at)
            tx.append([_system_event(tx, "directory.loaded", caller,
                                     {"version": version, "digest": content, "actors": len(directory.actors)})])
            _reconcile(tx, tx.runs_with_open_tasks())
            tx.add_timers([Timer(due_at=format_time(begins), kind=AWAY, run=None, task=None,
                                 data={"actor": actor, "directory": version})
                           for begins, actor in directory.away_starts(tx.now())])
        return {"version": version, "digest": content, "people": sum(1 for a in directory.actors if not a.is_agent),
                "agents": sum(1 for a in directory.actors if a.is_agent), "roles": len(directory.roles)}


def lint_files(store: Store | None, files: list[str], directory_file: str | None) -> list[Finding]:
    """Lint playbook files against `--directory FILE`, else the loaded directory."""
    directory: Directory | None = None
    if directory_file is not None:
        directory = load_directory(parse_yaml(read_text(directory_file), directory_file))[0]
    elif store is not None:
        with store.read() as tx:
            directory = tx.directory()
    findings: list[Finding] = []
    for file in files:
        findings.extend(lint_source(read_text(file), file, directory))
    return findings


def publish(store: Store, path: str, caller: Caller) -> dict[str, Any]:
    """Publish a playbook: a new version unless the content is identical (refused on lint errors)."""
    with telemetry.command("playbook.publish", actor=caller.actor, channel=caller.channel, file=path):
        text = read_text(path)
        with store.write() as tx:
            directory = tx.directory()
            findings = lint_source(text, path, directory)
            errors = [f for f in findings if f.severity == ERROR]
            if errors:
                first = errors[0]
                raise Conflict(f"{len(errors)} lint error(s); first: {first.where()} [{first.rule}] {first.message}",
                               rule="lint-errors", details={"findings": [f.to_dict() for f in findings]})
            playbook = load_playbook(parse_yaml(text, path))
            content = playbook.content_hash
            versions = tx.playbook_versions(playbook.id)
            state = tx.governance(playbook.id)
            stopped = state is not None and state.state == "stop"
            if versions and versions[-1].content_hash == content and not stopped:
                return {"playbook": playbook.id, "version": versions[-1].version, "created": False,
                        "findings": [f.to_dict() for f in findings]}
            version = (versions[-1].version if versions else 0) + 1
            at = format_time(tx.now())
            tx.insert_playbook({"id": playbook.id, "version": version, "content_hash": content, "data": playbook.data,
                                "source": text, "file": Path(path).name, "published_at": at,
                                "published_by": caller.actor})
            if state is None or stopped:
                tx.set_governance(playbook.id, state="continue", decided_by=caller.actor, decided_at=at,
                                  rationale="published" if state is None else "republished after stop",
                                  stopped_through=state.stopped_through if state is not None else None)
            tx.append([_system_event(tx, "playbook.published", caller,
                                     {"playbook": playbook.id, "version": version, "content_hash": content})])
            governance.schedule_cadence(tx, playbook)
        return {"playbook": playbook.id, "version": version, "created": True,
                "findings": [f.to_dict() for f in findings]}


# ------------------------------------------------------------------------------------------- runs


def _directory(tx: Tx) -> Directory:
    directory = tx.directory()
    if directory is None:
        raise Conflict("no directory is loaded; run `ledgerflow directory load FILE` first", rule="no-directory")
    return directory


def _context(tx: Tx, playbook_id: str, version: int, caller: Caller) -> flow.Context:
    playbook, _ = tx.playbook(playbook_id, version)
    directory = _directory(tx)
    # the owners' autonomy decisions are read only for playbooks where an agent holds a guarded row
    held = tx.autonomy(playbook_id) if names_agents(playbook, directory) else AS_WRITTEN
    return flow.Context(playbook=playbook, directory=directory, workload=tx, now=tx.now(), new_id=new_id,
                        channel=caller.channel, autonomy=held)


def _governance_gate(tx: Tx, playbook_id: str, version: int) -> None:
    state = tx.governance(playbook_id)
    if state is None:
        return
    since = f"since {state.decided_at} by {state.decided_by}: {state.rationale}"
    if state.stopped_through is not None and version <= state.stopped_through:
        raise Conflict(f"version {version} of playbook {playbook_id} was stopped; start runs on a version "
                       "published after the stop", rule="playbook-stopped")
    if state.state == "pause":
        raise Conflict(f"playbook {playbook_id} is paused {since}", rule="playbook-paused")
    if state.state == "stop" and (state.stopped_through is None or version <= state.stopped_through):
        raise Conflict(f"playbook {playbook_id} is stopped {since}; publish a new version to restart",
                       rule="playbook-stopped")
    if state.state == "stabilize":
        playbook, _ = tx.playbook(playbook_id, version)
        limit = playbook.governance.wip_limit_when_stabilizing
        if limit is None or tx.open_runs(playbook_id) >= limit:
            raise Conflict(f"playbook {playbook_id} is stabilizing {since}; open runs are at the WIP limit "
                           f"({limit if limit is not None else 'none set'})", rule="playbook-stabilizing")


def start_run(store: Store, playbook_id: str, input: Any, caller: Caller, *, why: str | None = None,
              version: int | None = None, attachments: tuple[Document, ...] = ()) -> tuple[RunState, list[Any]]:
    """Start a run; `attachments` are documents stored already (documents.py), recorded with the input."""
    with telemetry.command("run.start", actor=caller.actor, channel=caller.channel, playbook=playbook_id) as seen:
        seen["run"] = run_id = new_id("r")
        check_value({"input": input, "why": why}, "the command", store.settings.limits)
        with store.write() as tx:
            _, version = tx.playbook(playbook_id, version)
            _governance_gate(tx, playbook_id, version)
            ctx = _context(tx, playbook_id, version, caller)
            result = flow.start_run(ctx, run_id=run_id, actor=caller.actor, input=input, version=version, why=why,
                                    attachments=attachments)
            _write(tx, ctx, None, result)
            return result.state, [t for t in result.state.tasks if t.is_open]


def _on_run(tx: Tx, before: RunState, caller: Caller,
            command: Callable[[flow.Context, RunState], flow.Builder]) -> tuple[RunState, RunState]:
    ctx = _context(tx, before.playbook, before.version, caller)
    if not ctx.directory.is_actor(caller.actor):
        raise NotFound(f"unknown actor {caller.actor!r}: say who acts with --as (a person or agent in the directory)",
                       rule="unknown-actor")
    result = command(ctx, before)
    _write(tx, ctx, before, result)
    return before, result.state


def _write(tx: Tx, ctx: flow.Context, before: RunState | None, result: flow.Builder) -> None:
    """State, events and the timers they set: all in the caller's transaction."""
    ended = result.state.status in (RunStatus.COMPLETED, RunStatus.REJECTED) and (
        before is None or before.status == RunStatus.RUNNING)
    flags = None
    if ended:  # stored with the end: the flags of the run's earlier events and of this command's
        flags = run_flags([*tx.run_flag_events(result.state.id),
                           *((e.type, e.authority, e.data) for e in result.events)])
    tx.save_run(before, result.state, flags)
    _count(tx, ctx.playbook, before, result, flags)
    stored = tx.append(result.events)
    tx.add_timers(timers.timers_for(result.events, ctx))
    queue(tx, stored, ctx.playbook, ctx.directory, render_summary(ctx.playbook.summary, result.state.input),
          tuple(a for a in result.state.attachments if a.removed_at is None))
    if ctx.playbook.governance.triggers and result.state.recommendations:
        governance.check_agent_triggers(tx, ctx.playbook, ctx.directory, result.state, result.events)
    if ended:
        governance.check_triggers(tx, result.state.playbook)


def _count(tx: Tx, playbook: Playbook, before: RunState | None, result: flow.Builder,
           flags: tuple[bool, bool, bool] | None) -> None:
    """Move the week's running counts (and latency marks) that the scorecard and risk triggers read."""
    counts = {"rework": sum(e.type == "task.sent_back" for e in result.events)}
    if flags is not None:
        counts.update(ended_counts(result.state.status == RunStatus.COMPLETED, flags))
    decided_before = {t.id for t in (before.tasks if before else ()) if t.outcome is not None}
    latencies = [hours for _, hours in decisions(t for t in result.state.tasks if t.id not in decided_before)]
    counts["decided"] = len(latencies)
    if not any(counts.values()):
        return
    week = week_of(tx.now()).name
    tx.count_period(playbook.id, week, counts)
    if latencies:
        tx.add_marks(playbook.id, week, {threshold: Marks.of(latencies, threshold)
                                         for threshold in latency_thresholds(playbook)})


def task_command(store: Store, verb: str, task_id: str, caller: Caller, *,
                 precondition: Callable[[Tx, RunState], None] | None = None, **args: Any) -> dict[str, Any]:
    """start, complete, decide, recommend or reassign one task.

    `precondition` runs in the command's transaction on the task's run before the command (a channel's own
    check, e.g. an e-mail link still valid); whatever it writes commits only with the command, and what it
    raises refuses the command with nothing written."""
    with telemetry.command(f"task.{verb}", actor=caller.actor, channel=caller.channel, task=task_id) as seen:
        commands: dict[str, Callable[..., flow.Builder]] = {
            "start": flow.start_task, "complete": flow.complete_task, "decide": flow.decide,
            "recommend": flow.recommend, "reassign": flow.reassign,
        }
        documents: tuple[Document, ...] = args.pop("attachments", None) or ()
        check_value(args, "the command", store.settings.limits)
        if documents:
            if verb != "complete":
                raise InvalidInput(f"documents are attached when a task is completed, not on {verb}",
                                   rule="attachment-not-here")
            args["attachments"] = documents
        with store.write() as tx:
            run = tx.load_task_run(task_id)
            if run is None:
                if documents:
                    raise InvalidInput(f"task {task_id} belongs to no run; documents are attached to runs",
                                       rule="attachment-not-here")
                return _standalone_command(tx, verb, task_id, caller, args.get("output"))
            seen.update(run=run.id, playbook=run.playbook)
            if precondition is not None:
                precondition(tx, run)
            before, after = _on_run(tx, run, caller, lambda ctx, run: commands[verb](
                ctx, run, task_id=task_id, actor=caller.actor, **args))
        old = {t.id for t in before.tasks}
        task = after.task(task_id)
        if task is None:
            raise NotFound(f"unknown task {task_id!r}", rule="unknown-task")
        opened = [t for t in after.tasks if t.id not in old and t.is_open]
        return {"task": task, "run": after, "opened": opened}


def _standalone_command(tx: Tx, verb: str, task_id: str, caller: Caller, output: Any) -> dict[str, Any]:
    """Reviews and follow-ups: their assignee starts and completes them; reviews close by `governance decide`."""
    task = tx.standalone(ids=[task_id])[task_id]
    if verb not in ("start", "complete") or (task.type == "review" and verb == "complete"):
        what = "`governance decide`" if task.type == "review" else "start and complete"
        raise InvalidInput(f"task {task_id} is a {task.type}; it takes {what}", rule="wrong-task-type")
    if not task.is_open or (verb == "start" and task.status != TaskStatus.READY):
        raise InvalidTransition(f"task {task_id} is {task.status}", rule="task-state")
    if task.assignee != caller.actor:
        raise Forbidden(f"only the assignee ({task.assignee}) may {verb} task {task_id}", rule="not-assignee")
    if output is not None and not isinstance(output, dict):
        raise SchemaViolation("output must be a JSON object",
                              details={"violations": [{"path": "/", "message": "not an object"}]})
    event = Event(type="task.started" if verb == "start" else "task.completed", at=format_time(tx.now()),
                  actor=caller.actor, channel=caller.channel, task=task_id, step=task.step,
                  authority=authority("assignee"), data={} if verb == "start" else {"output": output or {}})
    governance.apply_standalone(tx, [event])
    return {"task": tx.standalone(ids=[task_id])[task_id], "run": None, "opened": []}


def cancel_run(store: Store, run_id: str, caller: Caller, reason: str) -> RunState:
    with telemetry.command("run.cancel", actor=caller.actor, channel=caller.channel, run=run_id):
        check_value({"reason": reason}, "the command", store.settings.limits)
        with store.write() as tx:
            _, after = _on_run(tx, tx.load_run(run_id), caller,
                               lambda ctx, run: flow.cancel_run(ctx, run, actor=caller.actor, reason=reason))
        return after


# ------------------------------------------------------------------------------------------ clock


TIMER_BATCH = 500
"""Due timers fired per transaction: `clock advance` and the worker commit every this many, so that a
backlog of timers neither holds the write lock for minutes nor pays one commit per timer."""


def advance_clock(store: Store, duration: str, caller: Caller) -> dict[str, Any]:
    """Move a simulated clock, firing every timer due on the way in due order.

    Timers fire in transactions of `TIMER_BATCH`; the last one moves the clock to the end and records
    `clock.advanced`. Interrupted, the clock stays at the last fired timer's due time with everything
    before it recorded, so nothing fires twice or is skipped.
    """
    try:
        span = parse_duration(duration)
    except ValueError as exc:
        raise InvalidInput(str(exc), rule="bad-duration") from None
    fired: list[dict[str, Any]] = []
    start: datetime | None = None
    while True:
        with store.write() as tx:
            if not tx.simulated:
                raise Conflict("clock advance works only on a database made with `init --simulated-clock`",
                               rule="simulated-clock-only")
            start = start or tx.now()
            end = start + span
            batch = _fire_due(tx, format_time(end), TIMER_BATCH, move_clock=True)
            fired.extend(batch)
            if len(batch) == TIMER_BATCH:
                continue  # commit this batch; the next transaction goes on from the clock it left
            tx.set_clock(end)
            tx.append([_system_event(tx, "clock.advanced", caller,
                                     {"from": format_time(start), "to": format_time(end), "fired": len(fired)})])
        acted = [timer for timer in fired if timer["events"]]  # a timer whose task moved on did nothing: not news
        return {"from": display_time(format_time(start)), "to": display_time(format_time(end)), "fired": acted}


def _fire_due(tx: Tx, until: str, limit: int, *, move_clock: bool) -> list[dict[str, Any]]:
    """Fire up to `limit` timers due at or before `until`, earliest first (timers they set included).

    Due timers are read a page at a time with their runs (three queries for the page, not per timer); when a
    fired timer sets one that is due within `until`, the page is read again so that it fires in its turn.
    """
    fired: list[dict[str, Any]] = []
    while len(fired) < limit:
        page = tx.due_timers(until, limit - len(fired))
        if not page:
            break
        runs = tx.runs_by_id(sorted({str(t.run) for t in page if t.run is not None}), lock=True)
        tx.take_earliest_new_timer()  # those set before this page are in it already
        for timer in page:
            if move_clock:
                tx.move_clock(parse_time(timer.due_at))
            fired.append(_fire(tx, timer, runs))
            due = tx.take_earliest_new_timer()
            if due is not None and due <= until:
                break
    if move_clock and fired:
        tx.set_clock(tx.now())
    return fired


def queue(tx: Tx, stored: list[dict[str, Any]], playbook: Playbook | None, directory: Directory | None,
          summary: str | None, documents: tuple[Attachment, ...] = ()) -> None:
    """Outbox rows for the notifications and action calls that stored events cause, in this transaction;
    `summary` and `documents` are the run's (SPEC §12, §14)."""
    settings, at = tx.settings, format_time(datetime.now(UTC))  # the worker sends on the real clock
    rows: list[dict[str, Any]] = []
    for m in notifications.messages_for(stored, playbook=playbook, directory=directory, channels=settings.channels,
                                        base_url=settings.base_url, summary=summary, documents=documents):
        rows.append({"channel": m.channel, "recipient": m.recipient, "subject": m.subject, "body": m.body,
                     "payload": m.payload, "event_seq": m.event_seq, "run": m.run, "task": m.task})
    for event in stored:
        if event["type"] == "task.ready" and event["data"].get("type") == "action" and playbook is not None:
            step = playbook.by_id[event["step"]]
            rows.append({"channel": "action", "recipient": None, "subject": f"action {step.id}", "body": "",
                         "payload": {"action": getattr(step, "action", {}), "step": step.id},
                         "event_seq": event["seq"], "run": event["run"], "task": event["task"]})
    if not rows:
        return
    tx.add_outbox([{**row, "status": "pending", "attempts": 0, "next_attempt_at": at, "created_at": at}
                   for row in rows])
    queued = [r for r in rows if r["channel"] != "action"]
    if queued:
        tx.append([Event(type="notification.queued", at=at, actor="system", run=r["run"], task=r["task"],
                         data={"channel": r["channel"], "to": r["payload"].get("to") or r["recipient"],
                               "about_seq": r["event_seq"], "subject": r["subject"]}) for r in queued])


def fire_due_timers(store: Store, limit: int = TIMER_BATCH) -> list[dict[str, Any]]:
    """The worker's timer pass on a real-clock database: up to `limit` due timers, in one transaction.

    Each timer is claimed in that transaction (SKIP LOCKED on PostgreSQL), so it fires once across workers.
    """
    with store.write() as tx:
        if tx.simulated:
            return []  # a simulated clock moves only with `clock advance`
        return _fire_due(tx, format_time(tx.now()), limit, move_clock=False)


def settle_action(store: Store, message: Any, *, output: Any = None, error: str | None = None,
                  final: bool = False) -> str:
    """Apply an action call's result in one transaction with its outbox row.

    Returns `done`, `retry` or `failed`. A success whose body does not fit `produces` fails the call.
    """
    with store.write() as tx:
        before = tx.load_run(str(message.run))
        ctx = _context(tx, before.playbook, before.version, Caller(actor="system", channel="worker"))
        at = format_time(datetime.now(UTC))
        attempts = message.attempts + 1
        task = before.task(str(message.task))
        if task is None or not task.is_open or task.assignee is not None:
            tx.finish_outbox(message.id, status="failed", last_error="the task moved on", lease_until=None)
            return "failed"
        if error is None:
            try:
                result = flow.action_succeeded(ctx, before, task_id=str(message.task), output=output,
                                               attempts=attempts)
            except SchemaViolation as exc:
                error, final = exc.message, True
            else:
                _write(tx, ctx, before, result)
                tx.finish_outbox(message.id, status="delivered", delivered_at=at, attempts=attempts, lease_until=None)
                return "done"
        if not final:
            return "retry"
        result = flow.action_failed(ctx, before, task_id=str(message.task), error=error, attempts=attempts)
        _write(tx, ctx, before, result)
        tx.finish_outbox(message.id, status="failed", last_error=error, attempts=attempts, lease_until=None)
        return "failed"


def _reconcile(tx: Tx, run_ids: list[str], autonomy_change: str | None = None) -> list[Event]:
    """Re-route open tasks whose assignee left, lost the role or is away (SPEC §2), or (`autonomy_change`)
    decisions an agent may no longer take (SPEC §11), in this transaction; returns the events it caused."""
    caused: list[Event] = []
    for run_id in run_ids:
        before = tx.load_run(run_id)
        ctx = _context(tx, before.playbook, before.version, Caller(actor="system", channel="system"))
        result = assignments.reconcile(ctx, before, autonomy_change=autonomy_change)
        if result.events:
            _write(tx, ctx, before, result)
            caused.extend(result.events)
    return caused


def reroute_decisions(tx: Tx, run_ids: list[str], autonomy_change: str) -> list[Event]:
    """After the owners narrowed or withdrew an agent's autonomy: move the open decisions of these runs that
    their agent may no longer take (routing within the row, else the escalation map), in this transaction."""
    return _reconcile(tx, run_ids, autonomy_change)


def _fire(tx: Tx, timer: Any, runs: dict[str, RunState]) -> dict[str, Any]:
    """Fire one claimed timer inside the caller's transaction; its events and any timers they set.

    `runs` holds the runs of the timers being fired (read and locked with them) and is kept current.
    """
    with telemetry.command(f"timer.{timer.kind}", actor="system", channel="system", run=timer.run,
                           task=timer.task):
        tx.mark_fired(timer.id, format_time(tx.now()))
        events: list[Event] = []
        if timer.kind == governance.REVIEW:
            events = governance.fire_cadence(tx, timer.data["playbook"])
        elif timer.kind == AWAY:  # set by the directory version that is still current, else a newer one set its own
            if timer.data["directory"] == tx.directory_version():
                moved = tx.runs_with_open_tasks([timer.data["actor"]])
                events = _reconcile(tx, moved)
                for run_id in moved:  # the page's copies are stale now
                    runs.pop(run_id, None)
        elif timer.kind == grants.EXPIRE and timer.run is not None:
            before = runs.get(timer.run) or tx.load_run(timer.run)
            if grants.undecided(before):  # decided in time: the grant's own expiry applies from here
                ctx = _context(tx, before.playbook, before.version, Caller(actor="system", channel="system"))
                result = flow.expire_run(ctx, before, reason=f"approval {timer.data['approval']} expired undecided "
                                                             f"at {display_time(timer.due_at)}")
                _write(tx, ctx, before, result)
                runs[timer.run] = result.state
                events = list(result.events)
        elif timer.run is not None and timer.task is not None:
            before = runs.get(timer.run) or tx.load_run(timer.run)
            ctx = _context(tx, before.playbook, before.version, Caller(actor="system", channel="system"))
            result = timers.fire(ctx, before, kind=timer.kind, task_id=timer.task, data=timer.data)
            _write(tx, ctx, before, result)
            runs[timer.run] = result.state
            events = list(result.events)
        return {"timer": timer.id, "kind": timer.kind, "due_at": display_time(timer.due_at), "run": timer.run,
                "task": timer.task, "events": [e.type for e in events],
                "said": [describe({"type": e.type, "actor": e.actor, "data": e.data, "step": e.step,
                                   "authority": e.authority}) for e in events]}
