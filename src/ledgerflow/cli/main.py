"""The `ledgerflow` command line: parse, call one use case, print (SPEC §6).

`--db URL` and `--json` are taken from anywhere on the line before Typer parses the rest, so that every
command accepts them before or after its arguments.
"""

from __future__ import annotations

import base64
import getpass
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from typer.exceptions import TyperException

from ledgerflow import (
    audit,
    checkpoints,
    evidence,
    exports,
    governance,
    idempotency,
    jsonfiles,
    reports,
    service,
    tokens,
)
from ledgerflow import scorecard as scorecards
from ledgerflow.cli.render import err, out, print_json, run_json, task_json, tasks_table, timeline_entry
from ledgerflow.config import load_settings
from ledgerflow.domain import limits, notes
from ledgerflow.domain.canonical import canonical_json
from ledgerflow.domain.errors import Forbidden, InvalidInput, LedgerflowError
from ledgerflow.domain.figures import Period, parse_period, span, week_of
from ledgerflow.domain.findings import ERROR, WARNING
from ledgerflow.domain.times import parse_time
from ledgerflow.storage.database import initialize, make_engine, normalize_url
from ledgerflow.storage.database import migrate as migrate_database
from ledgerflow.storage.store import Store
from ledgerflow.summaries import of_runs as run_summaries


@dataclass
class Settings:
    db: str | None = None
    json: bool = False


settings = Settings()
app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="ledgerflow: an auditable execution layer for operations work.")
clock_app = typer.Typer(no_args_is_help=True, help="The simulated clock.")
directory_app = typer.Typer(no_args_is_help=True, help="The directory of people, agents and roles.")
playbook_app = typer.Typer(no_args_is_help=True, help="Lint, publish and read playbooks.")
run_app = typer.Typer(no_args_is_help=True, help="Start, read and cancel runs.")
task_app = typer.Typer(no_args_is_help=True, help="Work on tasks: start, complete, decide, recommend, reassign.")
audit_app = typer.Typer(no_args_is_help=True, help="The tamper-evident history.")
export_app = typer.Typer(no_args_is_help=True, help="Process-mining exports: OCEL 2.0 and XES.")
governance_app = typer.Typer(no_args_is_help=True, help="Governance decisions: continue, stabilize, pause, stop.")
report_app = typer.Typer(no_args_is_help=True, help="Reports: ownership, stalled work, waits, clarity.")
token_app = typer.Typer(no_args_is_help=True, help="Bearer tokens for the REST API (and LEDGERFLOW_TOKEN).")
guest_app = typer.Typer(no_args_is_help=True, help="Invite an external guest to one task by a scoped link.")
witness_app = typer.Typer(no_args_is_help=True, help="Cosign another party's checkpoints (run by someone else).")
for sub, name in ((clock_app, "clock"), (directory_app, "directory"), (playbook_app, "playbook"),
                  (run_app, "run"), (task_app, "task"), (audit_app, "audit"), (report_app, "report"),
                  (governance_app, "governance"), (export_app, "export"), (token_app, "token"),
                  (guest_app, "guest"), (witness_app, "witness")):
    app.add_typer(sub, name=name)

As = Annotated[str | None, typer.Option("--as", help="The actor doing this (recorded in the history).")]


def caller(actor: str | None) -> service.Caller:
    """Who acts: `--as`, else `admin`; with LEDGERFLOW_TOKEN set, that token's actor, and no other (SPEC §6)."""
    try:
        os_user = getpass.getuser()
    except (KeyError, OSError):
        os_user = None
    token = os.environ.get("LEDGERFLOW_TOKEN")
    if token:
        principal = tokens.authenticate(_opened[-1] if _opened else store(), token)
        if principal.is_guest:
            raise Forbidden("LEDGERFLOW_TOKEN holds a guest link's token; a guest acts through its link, not the CLI",
                            rule="guest-token-in-cli")
        if actor is not None and actor != principal.actor:
            raise Forbidden(f"LEDGERFLOW_TOKEN acts as {principal.actor}; --as {actor} is refused (unset the token "
                            "or drop --as)", rule="token-actor-mismatch")
        actor = principal.actor
    return service.Caller(actor=actor or "admin", channel="cli", os_user=os_user)


_opened: list[Store] = []


def store() -> Store:
    """The command's database; `main` closes it, so no pooled connection outlives the command."""
    db = Store(settings.db, settings=load_settings())
    _opened.append(db)
    return db


def parse_json(value: str, what: str) -> Any:
    """JSON text or @FILE through the input gate (SPEC §10)."""
    gate = load_settings().limits
    if value.startswith("@"):
        return limits.parse_json(service.read_text(value[1:], gate), value[1:], gate)
    return limits.parse_json(value, what, gate)


def emit(value: Any, human: Any = None) -> None:
    """Print JSON with --json, else the human form (a Rich renderable or text)."""
    if settings.json:
        print_json(value)
    elif human is not None:
        out.print(human)
    else:
        out.print_json(json.dumps(value, default=str))


# ----------------------------------------------------------------------------------------- commands


@app.command()
def init(
    simulated_clock: Annotated[str | None, typer.Option(help="Start a simulated clock at this RFC 3339 time.")] = None,
) -> None:
    """Create a new ledgerflow database."""
    start = None
    if simulated_clock is not None:
        try:
            start = parse_time(simulated_clock)
        except ValueError as exc:
            raise InvalidInput(str(exc), rule="bad-time") from None
    url = normalize_url(settings.db)
    engine = make_engine(url)
    try:
        result = initialize(engine, url, start)
    finally:
        engine.dispose()
    emit(result, f"initialized {result['db']} ({result['clock']} clock)")


@app.command()
def migrate() -> None:
    """Upgrade an initialized database to this version's schema."""
    url = normalize_url(settings.db)
    engine = make_engine(url)
    try:
        result = migrate_database(engine, url)
    finally:
        engine.dispose()
    emit(result, f"{url}: schema {result['from']} -> {result['to']}")


@clock_app.command("advance")
def clock_advance(duration: str, as_: As = None) -> None:
    """Move a simulated clock forward, firing every timer due on the way."""
    result = service.advance_clock(store(), duration, caller(as_))
    emit(result, f"clock {result['from']} -> {result['to']}, {len(result['fired'])} timer(s) fired")


@directory_app.command("load")
def directory_load(file: str, as_: As = None) -> None:
    """Replace the directory with a new version."""
    result = service.load_directory_file(store(), file, caller(as_))
    emit(result, f"directory v{result['version']}: {result['people']} people, {result['agents']} agents, "
                 f"{result['roles']} roles")


@playbook_app.command("lint")
def playbook_lint(
    files: list[str],
    directory: Annotated[str | None, typer.Option(help="Lint against this directory file.")] = None,
    strict: Annotated[bool, typer.Option(help="Exit 1 on warnings too.")] = False,
) -> None:
    """Check playbooks for clarity, ownership and rights problems."""
    db: Store | None = None
    if directory is None:
        try:
            db = store()
        except LedgerflowError:
            db = None
    findings = service.lint_files(db, files, directory)
    if settings.json:
        print_json([f.to_dict() for f in findings])
    else:
        for f in findings:
            colour = "red" if f.severity == ERROR else "yellow"
            out.print(f"{f.where()}: [{colour}]{f.severity}[/{colour}] [bold]{f.rule}[/bold] {f.message}",
                      highlight=False)
        if not findings:
            out.print("no findings")
    failing = {ERROR, WARNING} if strict else {ERROR}
    if any(f.severity in failing for f in findings):
        err.print(f"{sum(1 for f in findings if f.severity in failing)} finding(s) fail the lint")
        raise typer.Exit(1)


@playbook_app.command("publish")
def playbook_publish(file: str, as_: As = None) -> None:
    """Publish a playbook as a new version (refused on lint errors)."""
    result = service.publish(store(), file, caller(as_))
    emit(result, f"{result['playbook']} v{result['version']} " + ("published" if result["created"] else
                                                                   "unchanged (identical content)"))


@playbook_app.command("list")
def playbook_list() -> None:
    """Published playbooks, newest version each."""
    with store().read() as tx:
        rows = [{"playbook": r.id, "version": r.version, "versions": r.versions,
                 "governance": (tx.governance(r.id).state if tx.governance(r.id) else "continue")}
                for r in tx.list_playbooks()]
    table = Table(title="Playbooks")
    for column in ("playbook", "version", "versions", "governance"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(row[c]) for c in ("playbook", "version", "versions", "governance")))
    emit(rows, table)


@playbook_app.command("show")
def playbook_show(playbook_id: str, version: Annotated[int | None, typer.Option()] = None) -> None:
    """One playbook version, as published."""
    with store().read() as tx:
        playbook, number = tx.playbook(playbook_id, version)
        row = next(r for r in tx.playbook_versions(playbook_id) if r.version == number)
    result = {"playbook": playbook.id, "version": number, "title": playbook.title, "content_hash": row.content_hash,
              "published_at": row.published_at, "published_by": row.published_by, "definition": playbook.data}
    emit(result, f"[bold]{playbook.id}[/bold] v{number}: {playbook.title}\n\n{row.source}")


@run_app.command("start")
def run_start(playbook_id: str, input: Annotated[str, typer.Option("--input", help="JSON or @FILE.")],
              as_: As = None, why: Annotated[str | None, typer.Option()] = None,
              version: Annotated[int | None, typer.Option()] = None,
              idempotency_key: Annotated[str | None, typer.Option(
                  help="Makes a retry safe: the same key and request return the first run, even from another "
                       "process; the same key with another request exits 2.")] = None) -> None:
    """Start a run of a published playbook."""
    data = parse_json(input, "--input")
    db, who = store(), caller(as_)
    opened: list[Any] = []

    def start() -> dict[str, Any]:
        run, tasks = service.start_run(db, playbook_id, data, who, why=why, version=version)
        opened.extend(tasks)
        return {"run": run.id, "status": str(run.status), "tasks": [task_json(t) for t in tasks]}

    if idempotency_key is None:
        result, replayed = start(), False
    else:
        request = {"playbook": playbook_id, "input": data, "why": why, "version": version}
        result, replayed = idempotency.once(
            db, actor=who.actor, key=idempotency.check_key(idempotency_key), method="CLI",
            path=f"run start {playbook_id}", fingerprint=idempotency.request_hash("CLI", "run start",
                                                                                  canonical_json(request)),
            call=start)
    title = f"run {result['run']} ({result['status']})"
    emit(result, f"{title}: started earlier with this --idempotency-key; nothing new was written" if replayed
         else tasks_table(opened, title=title))


@run_app.command("show")
def run_show(run_id: str) -> None:
    """A run with its tasks and its timeline."""
    with store().read() as tx:
        run = tx.load_run(run_id)
        events = tx.events(run=run_id)
    result = {**run_json(run), "input": run.input, "why": run.why,
              "tasks": [task_json(t, full=True) for t in run.tasks], "timeline": [timeline_entry(e) for e in events]}
    if settings.json:
        print_json(result)
        return
    out.print(f"[bold]run {run.id}[/bold] {run.playbook} v{run.version}: {run.status}")
    out.print(tasks_table(run.tasks))
    for entry in result["timeline"]:
        out.print(f"{entry['seq']:>6}  {entry['at']}  {entry['text']}", highlight=False)


@run_app.command("list")
def run_list(playbook: Annotated[str | None, typer.Option()] = None,
             status: Annotated[str | None, typer.Option()] = None) -> None:
    """Runs, oldest first."""
    with store().read() as tx:
        rows = [run_json(r) for r in tx.runs(playbook=playbook, status=status)]
    table = Table(title="Runs")
    for column in ("run", "playbook", "version", "status", "started_by", "started_at", "ended_at"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(row[c] or "") for c in ("run", "playbook", "version", "status", "started_by",
                                                     "started_at", "ended_at")))
    emit(rows, table)


@run_app.command("cancel")
def run_cancel(run_id: str, reason: Annotated[str, typer.Option()], as_: As = None) -> None:
    """Cancel a run (its starter, workflow owner or outcome owner)."""
    run = service.cancel_run(store(), run_id, caller(as_), reason)
    emit({"run": run.id, "status": str(run.status)}, f"run {run.id} {run.status}")


@task_app.command("list")
def task_list(assignee: Annotated[str | None, typer.Option()] = None, run: Annotated[str | None, typer.Option()] = None,
              status: Annotated[str | None, typer.Option(help="A status, or `open`.")] = None) -> None:
    """Tasks ordered by ready time."""
    with store().read() as tx:
        tasks = tx.tasks(assignee=assignee, run=run, status=status)
        about = run_summaries(tx, (t.run for t in tasks))
    emit([{**task_json(t), "summary": about.get(t.run or "")} for t in tasks], tasks_table(tasks))


def _task_result(result: dict[str, Any]) -> None:
    run = result["run"]
    value = {"task": task_json(result["task"], full=True),
             "run": {"run": run.id, "status": str(run.status)} if run is not None else None,
             "opened": [task_json(t) for t in result["opened"]]}
    task = result["task"]
    where = f"; run {run.id}: {run.status}" if run is not None else ""
    emit(value, tasks_table([task, *result["opened"]], title=f"task {task.id}: {task.status}{where}"))


@task_app.command("start")
def task_start(task_id: str, as_: As = None) -> None:
    """ready -> in_progress."""
    _task_result(service.task_command(store(), "start", task_id, caller(as_)))


@task_app.command("complete")
def task_complete(task_id: str, as_: As = None,
                  output: Annotated[str | None, typer.Option(help="JSON or @FILE.")] = None) -> None:
    """Complete a task with its output."""
    data = parse_json(output, "--output") if output is not None else None
    _task_result(service.task_command(store(), "complete", task_id, caller(as_), output=data))


@task_app.command("decide")
def task_decide(task_id: str, outcome: Annotated[str, typer.Option()], as_: As = None,
                rationale: Annotated[str | None, typer.Option()] = None,
                to: Annotated[str | None, typer.Option(help="send_back target step.")] = None) -> None:
    """Decide a decision task: approve, reject or send_back."""
    _task_result(service.task_command(store(), "decide", task_id, caller(as_), outcome=outcome,
                                      rationale=rationale, to=to))


@task_app.command("recommend")
def task_recommend(task_id: str, outcome: Annotated[str, typer.Option()], rationale: Annotated[str, typer.Option()],
                   as_: As = None) -> None:
    """Record a recommendation on an open decision."""
    _task_result(service.task_command(store(), "recommend", task_id, caller(as_), outcome=outcome,
                                      rationale=rationale))


@task_app.command("reassign")
def task_reassign(task_id: str, to: Annotated[str, typer.Option()], reason: Annotated[str, typer.Option()],
                  as_: As = None) -> None:
    """Move a task to another actor (workflow owner or outcome owner, with a reason)."""
    _task_result(service.task_command(store(), "reassign", task_id, caller(as_), to=to, reason=reason))


Trust = Annotated[str | None, typer.Option(
    "--trust", help="Keys you trust to sign checkpoints: a base64 Ed25519 public key or a file of them, one a line "
    "(`revoked KEY` marks a revoked one). Default: LEDGERFLOW_TRUSTED_KEYS.")]
Witnesses = Annotated[str | None, typer.Option(
    "--witnesses", help="Witness keys you trust to cosign (a key or a file). Default: LEDGERFLOW_WITNESS_KEYS.")]
Cosignatures = Annotated[int | None, typer.Option(
    "--cosignatures", min=0, help="Cosignatures by distinct trusted witnesses required (default: 1 with "
    "--witnesses, else 0).")]


def _anchors(value: str | None, where: str) -> notes.Anchors:
    if not value:
        return notes.Anchors()
    path = Path(value)
    if path.is_file():
        return notes.anchors(service.read_text(value).splitlines(), value)
    return notes.anchors([value], where)


def _trust(trust: str | None, witnesses: str | None, cosignatures: int | None) -> checkpoints.Trust:
    """The verifier's own anchors; with none at all the command refuses (exit 2): no key from the evidence."""
    env = load_settings()
    found = checkpoints.Trust(_anchors(trust or env.trusted_keys, "--trust"),
                              _anchors(witnesses or env.witness_keys, "--witnesses"),
                              cosignatures if cosignatures is not None else 1 if (witnesses or env.witness_keys) else 0)
    checkpoints.refuse_without(found)
    return found


@audit_app.command("verify")
def audit_verify(
    checkpoint: Annotated[list[str] | None, typer.Option(
        help="Also check against signed checkpoints: a file or a folder of them (repeatable).")] = None,
    since_checkpoint: Annotated[str | None, typer.Option(
        help="Check only what was appended after this trusted checkpoint (and that its heads are in place).")] = None,
    trust: Trust = None, witnesses: Witnesses = None, cosignatures: Cosignatures = None,
) -> None:
    """Recompute the hash chains, replay the state; against trusted checkpoints, detect rollback and rewrites."""
    db = store()
    kept: list[checkpoints.Checkpoint] = []
    if checkpoint or since_checkpoint:
        anchors = _trust(trust, witnesses, cosignatures)
        kept = [cp for path in [*(checkpoint or []), *([since_checkpoint] if since_checkpoint else [])]
                for cp in checkpoints.load(path)]
        for cp in kept:
            problem = checkpoints.judged(cp, anchors)
            if problem is not None:
                _verdict({"ok": False, "events": 0, "first_bad": problem})
                return
    if since_checkpoint:
        result = checkpoints.verify_since(db, kept[-1])
    else:
        result = audit.verify(db)
        if result["ok"] and kept:
            bad = checkpoints.against(db, sorted(kept, key=lambda c: (c.statement.at, c.statement.events)))
            if bad is not None:
                result = {**result, "ok": False, "first_bad": bad}
    if kept and result["ok"]:
        newest = max(kept, key=lambda c: (c.statement.at, c.statement.events)).statement
        result = {**result, "checkpoint": {"origin": newest.origin, "time": newest.at, "events": newest.events}}
    _verdict(result)


def _verdict(result: dict[str, Any]) -> None:
    bad = result["first_bad"]
    if result["ok"]:
        emit(result, f"ok: {result['events']} events verify")
        return
    where = f"seq {bad['seq']}" if bad["seq"] is not None else f"the end of run {bad['run']}" if bad["run"] else (
        "the end of the system chain" if bad["reason"] in ("truncated", "rolled-back") else "the checkpoint")
    detail = f" ({bad['detail']})" if bad.get("detail") else ""
    emit(result, f"FAILED at {where}: {bad['reason']}{detail}")
    err.print(f"audit: {bad['reason']} at {where}{detail}", markup=False, highlight=False)
    raise typer.Exit(1)


@audit_app.command("export")
def audit_export(run_id: str, out_file: Annotated[str, typer.Option("--out", help="Evidence pack (JSON).")]) -> None:
    """Write one run's evidence pack: its events, playbook, directory, a signed checkpoint and the proof."""
    pack = evidence.export_run(store(), run_id)
    jsonfiles.write_json(out_file, pack)
    emit({"run": run_id, "out": out_file, "events": len(pack["events"])},
         f"evidence pack for {run_id}: {len(pack['events'])} events -> {out_file}")


@audit_app.command("check-pack")
def audit_check_pack(file: str, trust: Trust = None, witnesses: Witnesses = None,
                     cosignatures: Cosignatures = None) -> None:
    """Verify an evidence pack offline with the keys you trust (no database needed)."""
    anchors = _trust(trust, witnesses, cosignatures)
    _verdict(evidence.verify_pack(jsonfiles.read_json(file), anchors))


@audit_app.command("checkpoint")
def audit_checkpoint(out_file: Annotated[str | None, typer.Option(
        "--out", help="Where to keep it (besides LEDGERFLOW_CHECKPOINT_DIR).")] = None) -> None:
    """Sign every chain's head with LEDGERFLOW_SIGNING_KEY, have witnesses cosign, keep it outside the database."""
    db = store()
    if out_file is None and not db.settings.checkpoint_dir:
        raise InvalidInput("say where to keep it: --out FILE (or set LEDGERFLOW_CHECKPOINT_DIR)", rule="no-output")
    who = caller(None)
    _, summary = checkpoints.publish(db, evidence.signing_key(db.settings.signing_key), actor=who.actor,
                                     channel=who.channel, out=out_file)
    emit(summary, f"checkpoint of {summary['chains']} chains, {summary['events']} events, "
                  f"{summary['cosignatures']} cosignature(s) -> {', '.join(summary['files'])}")


@audit_app.command("keygen")
def audit_keygen() -> None:
    """Print a new Ed25519 key pair for LEDGERFLOW_SIGNING_KEY (or a witness's --key)."""
    private, public = evidence.new_key()
    emit({"signing_key": private, "public_key": public},
         f"LEDGERFLOW_SIGNING_KEY={private}\npublic key: {public}")


@export_app.command("ocel")
def export_ocel(out_file: Annotated[str, typer.Option("--out")]) -> None:
    """The whole history as OCEL 2.0 JSON."""
    document = exports.ocel(store())
    jsonfiles.write_json(out_file, document)
    emit({"out": out_file, "events": len(document["events"]), "objects": len(document["objects"])},
         f"{len(document['events'])} events, {len(document['objects'])} objects -> {out_file}")


@export_app.command("xes")
def export_xes(out_file: Annotated[str, typer.Option("--out")]) -> None:
    """The runs as an XES event log."""
    data = exports.xes(store())
    try:
        Path(out_file).write_bytes(data)
    except OSError as exc:
        raise InvalidInput(f"cannot write {out_file}: {exc.strerror}", rule="file-unwritable") from None
    emit({"out": out_file, "bytes": len(data)}, f"XES log -> {out_file}")


@governance_app.command("decide")
def governance_decide(
    playbook_id: str,
    decision: Annotated[str, typer.Option(help="continue, stabilize, pause or stop.")],
    rationale: Annotated[str, typer.Option()],
    as_: As = None,
    follow_up: Annotated[list[str] | None, typer.Option("--follow-up", help="A follow-up action (repeatable).")] = None,
    owner: Annotated[list[str] | None, typer.Option("--owner", help="Its owner (one per --follow-up).")] = None,
    due: Annotated[list[str] | None, typer.Option("--due", help="Its due duration (one per --follow-up).")] = None,
) -> None:
    """Decide on a playbook as its outcome or workflow owner; the engine enforces it."""
    texts, owners, dues = follow_up or [], owner or [], due or []
    if not len(texts) == len(owners) == len(dues):
        raise InvalidInput("each --follow-up needs its own --owner and --due", rule="follow-up-incomplete")
    result = governance.decide(store(), playbook_id, actor=caller(as_).actor, channel="cli", decision=decision,
                               rationale=rationale, follow_ups=list(zip(texts, owners, dues, strict=True)))
    emit(result, f"{playbook_id}: {decision} (by {result['decided_by']}); "
                 f"{len(result['follow_ups'])} follow-up(s) opened, {len(result['closed'])} review(s) closed")


@token_app.command("create")
def token_create(
    actor: Annotated[str, typer.Option("--actor", help="The person or agent the token acts as.")],
    expires: Annotated[str | None, typer.Option(help="Lifetime, like 30d (default: until revoked).")] = None,
) -> None:
    """Create a bearer token; it is printed once and only its hash is kept."""
    result = tokens.create(store(), actor, caller(None), expires=expires)
    until = f", expires {result['expires_at']}" if result["expires_at"] else ""
    emit(result, f"token {result['id']} for {actor}{until} (shown once; keep it secret):\n{result['token']}")


@token_app.command("revoke")
def token_revoke(token_id: str) -> None:
    """Revoke a token (or a guest link) by its id; it stops working at once."""
    result = tokens.revoke(store(), token_id, caller(None))
    emit(result, f"token {result['id']} of {result['actor']} revoked at {result['revoked_at']}")


@guest_app.command("invite")
def guest_invite(
    task_id: str,
    email: Annotated[str, typer.Option(help="The guest's e-mail address (recorded in the history).")],
    as_: As = None,
    expires: Annotated[str | None, typer.Option(help="Lifetime of the link, like 7d (default 14d).")] = None,
) -> None:
    """Invite a guest to one task (its assignee or an owner; never a decision): prints the link to send."""
    result = tokens.invite_guest(store(), task_id, email, caller(as_), expires=expires)
    emit(result, f"guest link for {email} on task {task_id} (expires {result['expires_at']}; id {result['id']}):\n"
                 f"{result['link']}")


@app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    worker: Annotated[bool, typer.Option(help="Run the worker (timers, notifications, actions) too.")] = True,
) -> None:
    """Serve the REST API (/api/v1, OpenAPI at /openapi.json), the web UI (/) and the worker until interrupted."""
    from ledgerflow.server import serve

    db = store()
    err.print(f"serving http://{host}:{port}/ (web UI), /api/v1 (REST API), /openapi.json; "
              f"worker {'on' if worker else 'off'}; Ctrl-C to stop")
    serve(db, host, port, worker=worker, session_secret=db.settings.session_secret)


@app.command("demo")
def demo_command(seed: Annotated[int, typer.Option(help="Seed of the simulated month.")] = 2026) -> None:
    """A simulated month of pricing exceptions on a fresh ./ledgerflow-demo-*.db (or --db)."""
    from ledgerflow.demo import run_demo

    result = run_demo(settings.db, seed=seed)
    if settings.json:
        print_json({k: v for k, v in result.items() if k != "log"})
        return
    for line in result["log"]:
        out.print(line, highlight=False)
    table = Table(title=f"pricing-exception, a simulated month ({result['db']})")
    for column in ("week", "runs", "exceptions", "rework", "latency p50 h", "p90 h", "first pass", "trend"):
        table.add_column(column)

    def show(value: object) -> str:
        return "-" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)

    for card in result["weeks"]:
        table.add_row(card["period"], show(card["throughput"]), show(card["exception_rate"]), show(card["rework"]),
                      show(card["decision_latency"]["median_hours"]), show(card["decision_latency"]["p90_hours"]),
                      show(card["first_pass_yield"]), show(card["quality_trend"]))
    out.print(table)
    check = result["audit"]
    out.print(f"audit verify: {'ok' if check['ok'] else 'FAILED'}, {check['events']} events; "
              f"try: ledgerflow report stalled --db {result['db']}", highlight=False)


@app.command("worker")
def worker_command(
    once: Annotated[bool, typer.Option(help="Do one pass and stop.")] = False,
    max_seconds: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
) -> None:
    """Fire due timers (real clock), deliver notifications and call actions, with retries."""
    import signal
    import threading

    from ledgerflow.worker import Worker

    worker = Worker(store())
    if once:
        emit(worker.tick())
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    err.print("worker running; Ctrl-C to stop")
    try:
        worker.run(stop, max_seconds=max_seconds)
    except KeyboardInterrupt:
        stop.set()


@witness_app.command("serve")
def witness_serve(
    state: Annotated[str, typer.Option(help="The witness's own folder: the last cosigned heads of each log, "
                                            "and the refusals.")],
    trust: Trust = None,
    name: Annotated[str, typer.Option(help="The name its cosignatures carry.")] = "witness",
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8700,
) -> None:
    """Cosign a ledger's checkpoints only while they extend the last one (LEDGERFLOW_WITNESS_SIGNING_KEY)."""
    import uvicorn

    from ledgerflow.witness import Witness
    from ledgerflow.witness import app as witness_app_for

    logs = _anchors(trust or load_settings().trusted_keys, "--trust")
    if not logs:
        raise InvalidInput("name the log keys this witness accepts: --trust KEY|FILE", rule="trust-anchor-missing")
    key_text = os.environ.get("LEDGERFLOW_WITNESS_SIGNING_KEY")
    if not key_text:
        raise InvalidInput("set LEDGERFLOW_WITNESS_SIGNING_KEY (see `ledgerflow audit keygen`)", rule="no-signing-key")
    witness = Witness(evidence.load_key(key_text), name, logs, state)
    public = base64.b64encode(witness.public_key).decode()
    err.print(f"witness {name} (public key {public}) on http://{host}:{port}/add-checkpoint; Ctrl-C to stop",
              markup=False, highlight=False)
    uvicorn.run(witness_app_for(witness), host=host, port=port, log_level="warning")


@app.command("scorecard")
def scorecard_command(playbook_id: str, period: Annotated[str | None, typer.Option()] = None,
                      since: Annotated[str | None, typer.Option()] = None,
                      until: Annotated[str | None, typer.Option()] = None) -> None:
    """Governance figures of a playbook over a period (default: this ISO week)."""
    db = store()
    chosen = _period(db, period, since, until)
    result = scorecards.scorecard(db, playbook_id, chosen)
    table = Table(title=f"{playbook_id} {chosen.name}")
    table.add_column("figure")
    table.add_column("value")
    for key, value in result.items():
        if key not in ("playbook", "period"):
            table.add_row(key, json.dumps(value))
    emit(result, table)


# ------------------------------------------------------------------------------------------ reports

PeriodOption = Annotated[str | None, typer.Option(help="An ISO week like 2026-W10 (default: this week).")]
SinceOption = Annotated[str | None, typer.Option(help="Start of the period (date or RFC 3339), with --until.")]
UntilOption = Annotated[str | None, typer.Option(help="End of the period (exclusive), with --since.")]


def _period(db: Store, period: str | None, since: str | None, until: str | None) -> Period:
    """--period, or --since with --until, else the current ISO week by the database clock."""
    if since or until:
        if not (since and until) or period:
            raise InvalidInput("give --period, or both --since and --until", rule="bad-period")
        return span(since, until)
    if period:
        return parse_period(period)
    with db.read() as tx:
        return week_of(tx.now())


def _table(title: str, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("-" if row[c] is None else f"{row[c]:.1f}" if isinstance(row[c], float) else str(row[c])
                        for c in columns))
    return table


@report_app.command("ownership")
def report_ownership(playbook_id: str, period: PeriodOption = None, since: SinceOption = None,
                     until: UntilOption = None) -> None:
    """Changes of assignee and ownership gaps of a playbook's runs over a period."""
    db = store()
    chosen = _period(db, period, since, until)
    result = reports.ownership(db, playbook_id, chosen)
    if settings.json:
        print_json(result)
        return
    changes = [{**c, "authority": (c["authority"] or {}).get("kind"), "flagged": "FLAGGED" if c["flagged"] else ""}
               for c in result["changes"]]
    out.print(_table(f"{playbook_id} {chosen.name}: changes of assignee",
                     ("at", "task", "step", "from", "to", "kind", "authority", "reason", "flagged"), changes))
    out.print(_table(f"{playbook_id} {chosen.name}: ownership gaps",
                     ("at", "task", "step", "role", "resolved_to", "blocked"), result["gaps"]))


@report_app.command("stalled")
def report_stalled() -> None:
    """Open tasks past their due time, and ownership gaps blocked with the workflow owner."""
    db = store()
    result = reports.stalled(db)
    emit(result, _table("Stalled tasks", ("task", "playbook", "step", "assignee", "due_at", "overdue_hours",
                                          "blocked"), result))


@report_app.command("waits")
def report_waits(playbook_id: str, period: PeriodOption = None, since: SinceOption = None,
                 until: UntilOption = None) -> None:
    """Per step and assignee: hours waiting, hours in progress, nudges, reassignments, send-backs."""
    db = store()
    chosen = _period(db, period, since, until)
    result = reports.waits(db, playbook_id, chosen)
    rows = []
    for step in result["steps"]:
        rows.append({**step, "assignee": "(all)"})
        rows.extend({**mine, "step": ""} for mine in step["assignees"])
    emit(result, _table(f"{playbook_id} {chosen.name}: waits (hours)",
                        ("step", "assignee", "tasks", "wait_median_hours", "wait_p90_hours",
                         "in_progress_median_hours", "nudges", "reassignments", "send_backs"), rows))


@report_app.command("clarity")
def report_clarity() -> None:
    """Lint findings of every published playbook, and the open ownership gaps."""
    db = store()
    result = reports.clarity(db)
    if settings.json:
        print_json(result)
        return
    for f in result["findings"]:
        colour = "red" if f["severity"] == ERROR else "yellow"
        out.print(f"{f['playbook']} v{f['version']} {f['path']}: [{colour}]{f['severity']}[/{colour}] "
                  f"[bold]{f['rule']}[/bold] {f['message']}", highlight=False)
    if not result["findings"]:
        out.print("no findings")
    out.print(_table("Open ownership gaps", ("task", "playbook", "step", "assignee", "ready_at"), result["gaps"]))


# ------------------------------------------------------------------------------------------- entry


def _split_globals(argv: list[str]) -> list[str]:
    rest: list[str] = []
    items = iter(argv)
    for arg in items:
        if arg == "--json":
            settings.json = True
        elif arg == "--db":
            settings.db = next(items, None)
            if settings.db is None:
                raise InvalidInput("--db needs a URL", rule="bad-db-url")
        elif arg.startswith("--db="):
            settings.db = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    return rest


def _fail(code: int, rule: str, message: str, details: dict[str, Any] | None = None) -> int:
    err.print(f"error [{rule}]: {message}", highlight=False, markup=False)
    if settings.json:
        print_json({"error": {"code": code, "rule": rule, "message": message, "details": details or {}}})
    return code


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code of SPEC §6."""
    settings.db, settings.json = None, False
    try:
        raw = list(sys.argv[1:] if argv is None else argv)
        args = _split_globals(raw)
        limits.check_value(raw, "the command line")  # bytes that are not UTF-8 arrive as lone surrogates
        code = app(args=args, prog_name="ledgerflow", standalone_mode=False)
        if isinstance(code, int):  # typer.Exit comes back as a return value outside standalone mode
            return code
    except LedgerflowError as exc:
        return _fail(exc.exit_code, exc.rule, exc.message, exc.details)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        return _fail(4, "aborted", "aborted")
    except TyperException as exc:  # usage errors: unknown option, missing argument
        return _fail(2, "usage", exc.format_message())
    except Exception as exc:  # an unexpected failure still answers with exit 4 and one line
        if os.environ.get("LEDGERFLOW_DEBUG"):
            raise
        return _fail(4, "internal-error", f"{type(exc).__name__}: {exc}")
    finally:
        while _opened:
            _opened.pop().close()
    return 0


def entry() -> None:
    sys.exit(main())


from ledgerflow.cli import accountability  # noqa: E402, F401  (its commands hang on the sub-apps above)
