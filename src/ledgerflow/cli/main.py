"""The `ledgerflow` command line: parse, call one use case, print (SPEC §6).

`--db URL` and `--json` are taken from anywhere on the line before Typer parses the rest, so that every
command accepts them before or after its arguments.

Start-up time matters here (every command is a new process): modules load lazily, and annotations are
evaluated at definition (no `from __future__ import annotations`), because Typer reads every command's
signature on each start and evaluating string annotations was a third of `--help`.
"""

import base64
import getpass
import importlib.util
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.exceptions import TyperException

from ledgerflow.domain.errors import Forbidden, InvalidInput, LedgerflowError, NotFound


def _lazy(name: str) -> ModuleType:
    """A module that loads on first use: `--help` and `--version` import neither SQLAlchemy, jsonschema nor Rich,
    and each command pays only for what it uses."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.loader is not None, name
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module


if TYPE_CHECKING:
    from rich import table as rich_table
    from rich import text as rich_text

    from ledgerflow import jsonfiles
    from ledgerflow.cli import render
    from ledgerflow.domain import attachments as attachment_view
    from ledgerflow.domain import canonical, figures, limits, notes, times
    from ledgerflow.domain import findings as severity
    from ledgerflow.engine import governance, idempotency, service, tokens
    from ledgerflow.ops import config
    from ledgerflow.reporting import reports, summaries
    from ledgerflow.reporting import scorecard as scorecards
    from ledgerflow.storage import database
    from ledgerflow.storage.store import Store
    from ledgerflow.trust import audit, checkpoints, evidence, exports
else:
    audit, checkpoints, config, evidence, exports, governance, idempotency, jsonfiles, reports, service, tokens = (
        _lazy(f"ledgerflow.{name}") for name in (
            "trust.audit", "trust.checkpoints", "ops.config", "trust.evidence", "trust.exports", "engine.governance",
            "engine.idempotency", "jsonfiles", "reporting.reports", "engine.service", "engine.tokens"))
    scorecards, summaries = _lazy("ledgerflow.reporting.scorecard"), _lazy("ledgerflow.reporting.summaries")
    render = _lazy("ledgerflow.cli.render")
    canonical, figures, limits, severity, notes, times = (
        _lazy(f"ledgerflow.domain.{name}") for name in ("canonical", "figures", "limits", "findings", "notes", "times"))
    database, attachment_view = _lazy("ledgerflow.storage.database"), _lazy("ledgerflow.domain.attachments")
    rich_table, rich_text = _lazy("rich.table"), _lazy("rich.text")


@dataclass
class Settings:
    db: str | None = None
    json: bool = False


def _group(help: str) -> typer.Typer:
    """A command group; plain help text, so that `--help` does not import Rich's help renderer."""
    return typer.Typer(no_args_is_help=True, rich_markup_mode=None, help=help)


settings = Settings()
app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None)
clock_app = _group("The simulated clock.")
directory_app = _group("The directory of people, agents and roles.")
playbook_app = _group("Lint, publish and read playbooks.")
run_app = _group("Start, read and cancel runs.")
task_app = _group("Work on tasks: start, complete, decide, recommend, reassign.")
audit_app = _group("The tamper-evident history.")
export_app = _group("Process-mining exports: OCEL 2.0 and XES.")
governance_app = _group("Governance decisions: continue, stabilize, pause, stop; an agent's autonomy.")
report_app = _group("Reports: ownership, stalled work, waits, clarity, agents.")
token_app = _group("Bearer tokens for the REST API (and LEDGERFLOW_TOKEN).")
guest_app = _group("Invite an external guest to one task by a scoped link.")
witness_app = _group("Cosign another party's checkpoints (run by someone else).")
for sub, name in ((clock_app, "clock"), (directory_app, "directory"), (playbook_app, "playbook"),
                  (run_app, "run"), (task_app, "task"), (audit_app, "audit"), (report_app, "report"),
                  (governance_app, "governance"), (export_app, "export"), (token_app, "token"),
                  (guest_app, "guest"), (witness_app, "witness")):
    app.add_typer(sub, name=name)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        sys.stdout.write(f"ledgerflow {version('ledgerflow')}\n")
        raise typer.Exit(0)


@app.callback()
def _global_options(
    db: Annotated[str | None, typer.Option(
        "--db", help="Database URL (sqlite:///file.db, a path, or postgresql://...); default LEDGERFLOW_DB, else "
        "sqlite:///ledgerflow.db. Accepted by every command, anywhere on the line.")] = None,
    json_: Annotated[bool, typer.Option(
        "--json", help="Print one JSON document on stdout (also for errors). Accepted by every command.")] = False,
    version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_print_version,
                                          help="Print the version and exit.")] = False,
) -> None:
    """ledgerflow: an auditable execution layer for operations work.

    Exit codes: 0 ok, 1 lint or verify found problems, 2 bad input, 3 refused by the rules or the state,
    4 environment.
    """

As = Annotated[str | None, typer.Option("--as", help="The actor doing this (recorded in the history).")]
Attach = Annotated[list[str] | None, typer.Option(
    "--attach", help="A document to attach (repeatable): checked and stored by its SHA-256 first (SPEC §14).")]


def attached(db: "Store", paths: list[str] | None) -> tuple[Any, ...]:
    """`--attach` files, checked and stored before the command's transaction (nothing when none are given)."""
    if not paths:
        return ()
    from ledgerflow.engine import documents

    return documents.attach_files(db, paths)
Outcome = Annotated[str, typer.Option(help="One of the step's options, like approve, reject or send_back.")]
Rationale = Annotated[str | None, typer.Option(help="Why (recorded in the history; required where the step says so).")]
PeriodOption = Annotated[str | None, typer.Option(help="An ISO week like 2026-W10 (default: this week).")]
SinceOption = Annotated[str | None, typer.Option(help="Start of the period (date or RFC 3339), with --until.")]
UntilOption = Annotated[str | None, typer.Option(help="End of the period (exclusive), with --since.")]


def caller(actor: str | None) -> "service.Caller":
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


_opened: "list[Store]" = []


def store() -> "Store":
    """The command's database; `main` closes it, so no pooled connection outlives the command."""
    from ledgerflow.storage.store import Store

    db = Store(settings.db, settings=config.load_settings())
    _opened.append(db)
    return db


def parse_json(value: str, what: str) -> Any:
    """JSON text or @FILE through the input gate (SPEC §10)."""
    gate = config.load_settings().limits
    if value.startswith("@"):
        return limits.parse_json(service.read_text(value[1:], gate), value[1:], gate)
    return limits.parse_json(value, what, gate)


def emit(value: Any, human: Any = None) -> None:
    """Print JSON with --json, else the human form (a Rich renderable or text)."""
    if settings.json:
        render.print_json(value)
    elif human is not None:
        render.out.print(human)
    else:
        render.out.print_json(json.dumps(value, default=str))


@contextmanager
def _engine() -> Iterator[tuple[Any, str]]:
    """An engine on --db for the commands that work below the store (init, migrate, backup, restore)."""
    url = database.normalize_url(settings.db)
    engine = database.make_engine(url)
    try:
        yield engine, url
    finally:
        engine.dispose()


# ----------------------------------------------------------------------------------------- commands


@app.command()
def init(
    simulated_clock: Annotated[str | None, typer.Option(help="Start a simulated clock at this RFC 3339 time.")] = None,
) -> None:
    """Create a new ledgerflow database."""
    start = None
    if simulated_clock is not None:
        try:
            start = times.parse_time(simulated_clock)
        except ValueError as exc:
            raise InvalidInput(str(exc), rule="bad-time") from None
    with _engine() as (engine, url):
        result = database.initialize(engine, url, start)
    emit(result, f"initialized {result['db']} ({result['clock']} clock)")


@app.command()
def migrate(check: Annotated[bool, typer.Option("--check", help="Change nothing: exit 1 when migrations are "
                                                               "pending (for CI/CD), 0 when the schema is current.")]
            = False) -> None:
    """Upgrade an initialized database to this version's schema."""
    with _engine() as (engine, url):
        if check:
            state = database.pending(engine, url)
            emit(state, f"{url}: schema {state['current']}, this version needs {state['head']}; pending: "
                        f"{', '.join(state['pending']) or 'none'}")
            if state["pending"]:
                raise typer.Exit(1)
            return
        result = database.migrate(engine, url)
    emit(result, f"{url}: schema {result['from']} -> {result['to']}")


@app.command()
def backup(out: Annotated[str, typer.Option("--out", help="The new backup file (never replaced).")]) -> None:
    """Copy the whole ledger to a file, consistently, while it serves (restore it with `ledgerflow restore`)."""
    from ledgerflow.ops import backup as backups

    with _engine() as (engine, url):
        result = backups.backup(engine, url, out, folder=config.load_settings().attachment_dir)
    emit(result, f"{out}: {result['events']} events, schema {result['schema']}, {result['bytes']} bytes, "
                 f"sha256 {result['sha256']}")


@app.command()
def restore(file: Annotated[str, typer.Argument(help="A file written by `ledgerflow backup`.")]) -> None:
    """Put a backup onto a new, empty database (--db), then migrate it to this version's schema."""
    from ledgerflow.ops import backup as backups

    with _engine() as (engine, url):
        result = backups.restore(engine, url, file, folder=config.load_settings().attachment_dir)
    emit(result, f"{url}: {result['events']} events restored from {file} (schema {result['schema']} -> "
                 f"{result['to']}); run `ledgerflow audit verify --checkpoint` to see whether any were lost since")


@clock_app.command("advance")
def clock_advance(duration: str, as_: As = None) -> None:
    """Move a simulated clock forward, firing every timer due on the way."""
    result = service.advance_clock(store(), duration, caller(as_))
    lines = [f"clock {result['from']} -> {result['to']}"]
    lines += [f"  {fired['due_at']}  {sentence}" for fired in result["fired"] for sentence in fired["said"]]
    if not result["fired"]:
        lines.append("  nothing came due")
    emit(result, "\n".join(lines))


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
        render.print_json([f.to_dict() for f in findings])
    else:
        for f in findings:
            render.out.print(render.finding_line(f.where(), f.severity, f.rule, f.message), highlight=False)
        if not findings:
            render.out.print("no findings")
    failing = {severity.ERROR, severity.WARNING} if strict else {severity.ERROR}
    if any(f.severity in failing for f in findings):
        render.err.print(f"{sum(1 for f in findings if f.severity in failing)} finding(s) fail the lint")
        raise typer.Exit(1)


@playbook_app.command("publish")
def playbook_publish(file: str, as_: As = None) -> None:
    """Publish a playbook as a new version (refused on lint errors)."""
    result = service.publish(store(), file, caller(as_))
    lines = [f"{result['playbook']} v{result['version']} "
             + ("published" if result["created"] else "unchanged (identical content)")]
    lines += [f"{f['path']}: {f['severity']} {f['rule']} {f['message']}" for f in result["findings"]]
    emit(result, "\n".join(lines))


@playbook_app.command("list")
def playbook_list() -> None:
    """Published playbooks, newest version each."""
    with store().read() as tx:
        rows = [{"playbook": r.id, "version": r.version, "versions": r.versions,
                 "governance": (tx.governance(r.id).state if tx.governance(r.id) else "continue")}
                for r in tx.list_playbooks()]
    table = rich_table.Table(title="Playbooks")
    for column in ("playbook", "version", "versions", "governance"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(row[c]) for c in ("playbook", "version", "versions", "governance")))
    emit(rows, table)


@playbook_app.command("show")
def playbook_show(playbook_id: str, version: Annotated[int | None, typer.Option(
        help="A published version (default: the newest).")] = None) -> None:
    """One playbook version, as published."""
    with store().read() as tx:
        playbook, number = tx.playbook(playbook_id, version)
        row = next(r for r in tx.playbook_versions(playbook_id) if r.version == number)
    result = {"playbook": playbook.id, "version": number, "title": playbook.title, "content_hash": row.content_hash,
              "published_at": row.published_at, "published_by": row.published_by, "definition": playbook.data}
    emit(result, rich_text.Text.assemble((playbook.id, "bold"), f" v{number}: {playbook.title}\n\n{row.source}"))


@run_app.command("start")
def run_start(playbook_id: str, input: Annotated[str, typer.Option("--input", help="JSON or @FILE.")],
              as_: As = None, why: Annotated[str | None, typer.Option(
                  help="What this run is for, in your words; shown with each of its tasks.")] = None,
              version: Annotated[int | None, typer.Option(
                  help="Run this published version (default: the newest).")] = None,
              idempotency_key: Annotated[str | None, typer.Option(
                  help="Makes a retry safe: the same key and request return the first run, even from another "
                       "process; the same key with another request exits 2.")] = None,
              attach: Attach = None) -> None:
    """Start a run of a published playbook."""
    data = parse_json(input, "--input")
    db, who = store(), caller(as_)
    files = attached(db, attach)
    opened: list[Any] = []

    def start() -> dict[str, Any]:
        try:
            run, tasks = service.start_run(db, playbook_id, data, who, why=why, version=version,
                                           attachments=files)
        except NotFound as exc:
            if exc.rule != "unknown-actor" or as_ is not None or who.actor != "admin":
                raise
            raise InvalidInput("say who starts the run: --as ACTOR, a person or agent in the directory "
                               "(`ledgerflow directory show` lists them); without --as the command line acts as "
                               "admin, who starts no runs", rule="actor-missing") from None
        opened.extend(tasks)
        return {"run": run.id, "status": str(run.status), "tasks": [render.task_json(t) for t in tasks]}

    if idempotency_key is None:
        result, replayed = start(), False
    else:
        request = {"playbook": playbook_id, "input": data, "why": why, "version": version}
        if files:
            request["attachments"] = [f.record() for f in files]
        result, replayed = idempotency.once(
            db, actor=who.actor, key=idempotency.check_key(idempotency_key), method="CLI",
            path=f"run start {playbook_id}", fingerprint=idempotency.request_hash("CLI", "run start",
                                                                                  canonical.canonical_json(request)),
            call=start)
    title = f"run {result['run']} ({result['status']})"
    emit(result, f"{title}: started earlier with this --idempotency-key; nothing new was written" if replayed
         else render.tasks_table(opened, title=title))


@run_app.command("show")
def run_show(run_id: str) -> None:
    """A run with its tasks and its timeline."""
    with store().read() as tx:
        run = tx.load_run(run_id)
        events = tx.events(run=run_id)
        playbook, _ = tx.playbook(run.playbook, run.version)
    result = {**render.run_json(run), "input": run.input, "why": run.why,
              "tasks": [render.task_json(t, full=True) for t in run.tasks],
              "attachments": attachment_view.shown(run.attachments), "held": run.held,
              "timeline": [render.timeline_entry(e, playbook) for e in events]}
    if settings.json:
        render.print_json(result)
        return
    title = rich_text.Text.assemble((f"run {run.id}", "bold"), f" {run.playbook} v{run.version}: {run.status}")
    render.out.print(title)
    render.out.print(render.tasks_table(run.tasks))
    for document in result["attachments"]:
        render.out.print(render.attachment_line(document), highlight=False)
    for entry in result["timeline"]:
        render.out.print(f"{entry['seq']:>6}  {entry['at']}  {entry['text']}", highlight=False)


@run_app.command("list")
def run_list(playbook: Annotated[str | None, typer.Option(help="Only this playbook's runs.")] = None,
             status: Annotated[str | None, typer.Option(
                 help="Only runs in this status: running, completed, rejected or cancelled.")] = None) -> None:
    """Runs, oldest first."""
    with store().read() as tx:
        rows = [render.run_json(r) for r in tx.runs(playbook=playbook, status=status)]
    emit(rows, render.table("Runs", ("run", "playbook", "version", "status", "started_by", "started_at+ended_at"),
                            rows))


@run_app.command("cancel")
def run_cancel(run_id: str, reason: Annotated[str, typer.Option(help="Why (recorded in the history).")],
               as_: As = None) -> None:
    """Cancel a run (its starter, workflow owner or outcome owner)."""
    run = service.cancel_run(store(), run_id, caller(as_), reason)
    emit({"run": run.id, "status": str(run.status)}, f"run {run.id} {run.status}")


@task_app.command("show")
def task_show(task_id: str, as_: As = None) -> None:
    """One task with what a person needs to act on it: the run's why, clarity, rights, data, recommendations."""
    from ledgerflow.engine import api_queries

    db = store()
    principal = tokens.Principal(token_id="cli", actor=caller(as_).actor,
                                 kind=tokens.ACTOR if as_ or os.environ.get("LEDGERFLOW_TOKEN") else tokens.ADMIN)
    seen = api_queries.task(db, principal, task_id)
    context = {"input": seen.input, "outputs": seen.earlier_outputs}
    with db.read() as tx:
        about = summaries.of_runs(tx, [seen.task.run], plain=True).get(seen.task.run or "")
    result = {**render.task_json(seen.task, full=True), "why": seen.why, "summary": about,
              "clarity": seen.clarity, "rights": seen.rights, "context": context,
              "recommendations": seen.recommendations, "you_may": seen.you_may, "attachments": seen.attachments}
    if settings.json:
        render.print_json(result)
        return
    task = seen.task
    lines = [f"task {task.id}  {task.playbook} / {task.step} ({task.type})  {task.status}, "
             f"assignee {task.assignee or '-'}  run {task.run or '-'}"]
    lines += [f"{label}: {value}" for label, value in (
        ("why this run", seen.why), ("what", seen.clarity.get("what")), ("why", seen.clarity.get("why")),
        ("done when", seen.clarity.get("success")), ("due", times.display_time(task.due_at)),
        ("outcome", task.outcome), ("rationale", task.rationale), ("about", about),
    ) if value]
    for output in seen.earlier_outputs:
        lines.append(f"output of {output.get('step')}: {json.dumps(output.get('output'), ensure_ascii=False)}")
    if seen.rights:
        with db.read() as tx:
            playbook, _ = tx.playbook(task.playbook, seen.run.version if seen.run is not None else None)
        lines += render.rights_lines(seen.rights, task.step, playbook)
    for rec in seen.recommendations:
        lines.append(f"recommendation by {rec.get('actor')}: {rec.get('outcome')}: {rec.get('rationale')}")
    for document in seen.attachments:
        lines.append(render.attachment_line(document))
    if seen.you_may:
        lines.append("you may: " + ", ".join(seen.you_may))
    render.out.print("\n".join(lines), highlight=False)


@task_app.command("list")
def task_list(assignee: Annotated[str | None, typer.Option(help="Only this actor's tasks.")] = None,
              run: Annotated[str | None, typer.Option(help="Only this run's tasks.")] = None,
              status: Annotated[str | None, typer.Option(help="A status, or `open`.")] = None) -> None:
    """Tasks ordered by ready time."""
    with store().read() as tx:
        tasks = tx.tasks(assignee=assignee, run=run, status=status)
        # JSON carries the template's summary (null without one); a person sees the input's values instead
        about = summaries.of_runs(tx, (t.run for t in tasks), plain=not settings.json)
    rows = [{**render.task_json(t), "summary": about.get(t.run or "")} for t in tasks]
    emit(rows, render.table("Tasks", ("task+run", "step+status", "assignee", "due_at", "summary"),
                            [{**row, "assignee": row["assignee"] or "-", "run": row["run"] or "-"} for row in rows]))


def _task_result(result: dict[str, Any]) -> None:
    run = result["run"]
    value = {"task": render.task_json(result["task"], full=True),
             "run": {"run": run.id, "status": str(run.status)} if run is not None else None,
             "opened": [render.task_json(t) for t in result["opened"]]}
    task = result["task"]
    where = f"; run {run.id}: {run.status}" if run is not None else ""
    emit(value, render.tasks_table([task, *result["opened"]], title=f"task {task.id}: {task.status}{where}"))


@task_app.command("start")
def task_start(task_id: str, as_: As = None) -> None:
    """ready -> in_progress."""
    _task_result(service.task_command(store(), "start", task_id, caller(as_)))


@task_app.command("complete")
def task_complete(task_id: str, as_: As = None,
                  output: Annotated[str | None, typer.Option(help="JSON or @FILE.")] = None,
                  attach: Attach = None) -> None:
    """Complete a task with its output (and documents)."""
    data = parse_json(output, "--output") if output is not None else None
    db = store()
    who = caller(as_)
    _task_result(service.task_command(db, "complete", task_id, who, output=data, attachments=attached(db, attach)))


@task_app.command("decide")
def task_decide(task_id: str, outcome: Outcome, as_: As = None, rationale: Rationale = None,
                to: Annotated[str | None, typer.Option(
                    help="With send_back: the earlier step the work goes back to.")] = None) -> None:
    """Decide a decision task: approve, reject or send_back."""
    _task_result(service.task_command(store(), "decide", task_id, caller(as_), outcome=outcome,
                                      rationale=rationale, to=to))


@task_app.command("recommend")
def task_recommend(task_id: str, outcome: Outcome, rationale: Annotated[str, typer.Option(
        help="Why you recommend it (recorded in the history).")], as_: As = None) -> None:
    """Record a recommendation on an open decision."""
    _task_result(service.task_command(store(), "recommend", task_id, caller(as_), outcome=outcome,
                                      rationale=rationale))


@task_app.command("reassign")
def task_reassign(task_id: str, to: Annotated[str, typer.Option(help="The person or agent who takes it over.")],
                  reason: Annotated[str, typer.Option(help="Why (recorded in the history).")],
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


def _anchors(value: str | None, where: str) -> "notes.Anchors":
    if not value:
        return notes.Anchors()
    path = Path(value)
    if path.is_file():
        return notes.anchors(service.read_text(value).splitlines(), value)
    return notes.anchors([value], where)


def _trust(trust: str | None, witnesses: str | None, cosignatures: int | None) -> "checkpoints.Trust":
    """The verifier's own anchors; with none at all the command refuses (exit 2): no key from the evidence."""
    env = config.load_settings()
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
    render.err.print(f"audit: {bad['reason']} at {where}{detail}", markup=False, highlight=False)
    raise typer.Exit(1)


@audit_app.command("export")
def audit_export(run_id: str, out_file: Annotated[str, typer.Option("--out", help="Evidence pack (JSON).")],
                 with_attachments: Annotated[bool, typer.Option(
                     "--with-attachments", help="Carry the run's documents in the pack (their hashes are always "
                                                "listed).")] = False) -> None:
    """Write one run's evidence pack: its events, playbook, directory, a signed checkpoint and the proof."""
    pack = evidence.export_run(store(), run_id, with_attachments=with_attachments)
    jsonfiles.write_json(out_file, pack)
    carried = len(pack.get("files", {}))
    emit({"run": run_id, "out": out_file, "events": len(pack["events"]), "attachments": len(pack["attachments"]),
          "carried": carried},
         f"evidence pack for {run_id}: {len(pack['events'])} events, {len(pack['attachments'])} documents listed, "
         f"{carried} carried -> {out_file}")


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


ExportPlaybook = Annotated[str | None, typer.Option("--playbook", help="Only this playbook's runs.")]
ExportPeriod = Annotated[str | None, typer.Option(
    help="Only runs started in this ISO week (like 2026-W10), each with its whole history.")]
ExportSince = Annotated[str | None, typer.Option(help="Only runs started from this date or time, with --until.")]
ExportUntil = Annotated[str | None, typer.Option(help="... and before this one (exclusive), with --since.")]


def _export_filter(db: "Store", playbook: str | None, period: str | None, since: str | None,
                   until: str | None) -> "dict[str, Any]":
    """The runs to export: every one without a filter (and the system events with them)."""
    chosen = _period(db, period, since, until) if (period or since or until) else None
    return {"playbook": playbook, "period": chosen}


@export_app.command("ocel")
def export_ocel(out_file: Annotated[str, typer.Option("--out", help="Where to write the OCEL 2.0 JSON.")],
                playbook: ExportPlaybook = None, period: ExportPeriod = None, since: ExportSince = None,
                until: ExportUntil = None) -> None:
    """The history as OCEL 2.0 JSON: everything, or the runs of a playbook or a period."""
    db = store()
    document = exports.ocel(db, **_export_filter(db, playbook, period, since, until))
    jsonfiles.write_json(out_file, document)
    emit({"out": out_file, "events": len(document["events"]), "objects": len(document["objects"])},
         f"{len(document['events'])} events, {len(document['objects'])} objects -> {out_file}")


@export_app.command("xes")
def export_xes(out_file: Annotated[str, typer.Option("--out", help="Where to write the XES log.")],
               playbook: ExportPlaybook = None, period: ExportPeriod = None, since: ExportSince = None,
               until: ExportUntil = None) -> None:
    """The runs as an XES event log: every run, or those of a playbook or a period."""
    db = store()
    data = exports.xes(db, **_export_filter(db, playbook, period, since, until))
    try:
        Path(out_file).write_bytes(data)
    except OSError as exc:
        raise InvalidInput(f"cannot write {out_file}: {exc.strerror}", rule="file-unwritable") from None
    emit({"out": out_file, "bytes": len(data)}, f"XES log -> {out_file}")


@governance_app.command("decide")
def governance_decide(
    playbook_id: str,
    decision: Annotated[str, typer.Option(help="continue, stabilize, pause or stop.")],
    rationale: Annotated[str, typer.Option(help="Why (recorded in the history and shown in reviews).")],
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
    render.err.print(f"serving http://{host}:{port}/ (web UI), /api/v1 (REST API), /openapi.json; "
              f"worker {'on' if worker else 'off'}; Ctrl-C to stop")
    serve(db, host, port, worker=worker, session_secret=db.settings.session_secret)


@app.command("demo")
def demo_command(seed: Annotated[int, typer.Option(help="Seed of the simulated month.")] = 2026) -> None:
    """A simulated month of pricing exceptions on a fresh ./ledgerflow-demo-*.db (or --db): what happened each
    day, the weekly scorecards, where work waited that month, and the audit check."""
    from ledgerflow.demo import run_demo

    result = run_demo(settings.db, seed=seed)
    if settings.json:
        render.print_json({k: v for k, v in result.items() if k != "log"})
        return
    for line in result["log"]:
        render.out.print(line, highlight=False)
    columns = ("throughput", "exception_rate", "rework", "median_hours+p90_hours", "first_pass_yield", "quality_trend")
    rows = [{**card, **card["decision_latency"], "period": card["period"]} for card in result["weeks"]]
    render.out.print()
    render.out.print(render.table("The weekly scorecards (throughput: runs ended; decision latency in hours)",
                                  ("period", *columns), rows))
    render.out.print()
    render.out.print(_waits_table(result["waits"], "Where work waited this month (hours)"))
    check = result["audit"]
    db = f"--db {result['db']}"
    render.out.print(f"\naudit verify: {'ok' if check['ok'] else 'FAILED'}, {check['events']} events hash-chained.\n"
                     f"Explore: ledgerflow run list {db}\n         ledgerflow report stalled {db}\n"
                     f"         ledgerflow governance history pricing-exception {db}", highlight=False)


@app.command("mcp")
def mcp_command() -> None:
    """Serve the Model Context Protocol on stdio for the actor of LEDGERFLOW_TOKEN (an AI agent's tools)."""
    from ledgerflow.agents.server import build_server

    db = store()
    _agent(db)  # a bad token stops here, before the client connects
    build_server(db, lambda _: _agent(db)).run("stdio")


def _agent(db: "Store") -> "tokens.Principal":
    """The actor of LEDGERFLOW_TOKEN (not a guest), for the MCP commands; checked again on every call."""
    token = os.environ.get("LEDGERFLOW_TOKEN")
    if not token:
        raise InvalidInput("set LEDGERFLOW_TOKEN to the agent's token (`ledgerflow token create --actor AGENT`)",
                           rule="token-missing")
    principal = tokens.authenticate(db, token)
    if principal.is_guest:
        raise Forbidden("LEDGERFLOW_TOKEN holds a guest link's token; a guest acts through its link",
                        rule="guest-token-in-cli")
    return principal


@app.command("mcp-gateway")
def mcp_gateway_command(
    upstream: Annotated[str, typer.Option(help='The upstream MCP server\'s command line, e.g. "npx some-server".')],
    policy: Annotated[str, typer.Option(help="The policy YAML: per tool allow, deny or {ask: PLAYBOOK}.")],
) -> None:
    """An MCP proxy on stdio: forwards allowed tools, refuses denied ones and holds `ask` ones for a person's
    approval of their exact arguments; every call is an event (LEDGERFLOW_TOKEN's actor)."""
    from ledgerflow.agents import gateway
    from ledgerflow.domain.gateway_policy import load_policy
    from ledgerflow.domain.source import parse_yaml

    rules = load_policy(parse_yaml(service.read_text(policy), policy).data)
    db = store()
    gateway.serve(gateway.Gateway(db, _agent(db), rules), gateway.upstream_command(upstream))


@app.command("worker")
def worker_command(
    once: Annotated[bool, typer.Option(help="Do one pass and stop.")] = False,
    max_seconds: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    metrics_port: Annotated[int | None, typer.Option(help="Answer Prometheus scrapes at /metrics on this port.")]
    = None,
    metrics_host: Annotated[str, typer.Option(help="Address the metrics port listens on.")] = "127.0.0.1",
) -> None:
    """Fire due timers (real clock), deliver notifications and call actions, with retries."""
    import signal
    import threading

    from ledgerflow.engine.worker import Worker
    from ledgerflow.ops import instruments, metrics, tracing

    db = store()
    worker = Worker(db)
    if once:
        emit(worker.tick())
        return
    instruments.install()
    instruments.configure_logging(json={"json": True, "console": False}.get(db.settings.log_format or ""))
    tracing.enable(db.settings, db.engine)
    if metrics_port is not None:
        metrics.serve_metrics(db, metrics_port, metrics_host)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    render.err.print("worker running; Ctrl-C to stop")
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

    from ledgerflow.trust.witness import Witness
    from ledgerflow.trust.witness import app as witness_app_for

    logs = _anchors(trust or config.load_settings().trusted_keys, "--trust")
    if not logs:
        raise InvalidInput("name the log keys this witness accepts: --trust KEY|FILE", rule="trust-anchor-missing")
    key_text = os.environ.get("LEDGERFLOW_WITNESS_SIGNING_KEY")
    if not key_text:
        raise InvalidInput("set LEDGERFLOW_WITNESS_SIGNING_KEY (see `ledgerflow audit keygen`)", rule="no-signing-key")
    witness = Witness(evidence.load_key(key_text), name, logs, state)
    public = base64.b64encode(witness.public_key).decode()
    render.err.print(f"witness {name} (public key {public}) on http://{host}:{port}/add-checkpoint; Ctrl-C to stop",
              markup=False, highlight=False)
    uvicorn.run(witness_app_for(witness), host=host, port=port, log_level="warning")


@app.command("scorecard")
def scorecard_command(playbook_id: str, period: PeriodOption = None, since: SinceOption = None,
                      until: UntilOption = None,
                      by_channel: Annotated[bool, typer.Option(
                          "--by-channel", help="Add decision latency per channel (web, email, slack...).")] = False,
                      ) -> None:
    """Governance figures of a playbook over a period (default: this ISO week)."""
    db = store()
    chosen = _period(db, period, since, until)
    result = scorecards.scorecard(db, playbook_id, chosen, by_channel=by_channel)
    figures = [{"figure": key, "value": render.cell(key, value)} for key, value in result.items()
               if key not in ("playbook", "period", "latency_by_channel")]
    figures += [{"figure": f"decision_latency via {channel}",
                 "value": f"{block['decided']} decided: " + render.cell("decision_latency", {
                     k: v for k, v in block.items() if k != "decided"})}
                for channel, block in result.get("latency_by_channel", {}).items()]
    emit(result, render.table(f"{playbook_id} {chosen.name}", ("figure", "value"), figures))


# ------------------------------------------------------------------------------------------ reports



def _period(db: "Store", period: str | None, since: str | None, until: str | None) -> "figures.Period":
    """--period, or --since with --until, else the current ISO week by the database clock."""
    if since or until:
        if not (since and until) or period:
            raise InvalidInput("give --period, or both --since and --until", rule="bad-period")
        return figures.span(since, until)
    if period:
        return figures.parse_period(period)
    with db.read() as tx:
        return figures.week_of(tx.now())


@report_app.command("ownership")
def report_ownership(playbook_id: str, period: PeriodOption = None, since: SinceOption = None,
                     until: UntilOption = None) -> None:
    """Changes of assignee and ownership gaps of a playbook's runs over a period."""
    db = store()
    chosen = _period(db, period, since, until)
    result = reports.ownership(db, playbook_id, chosen)
    if settings.json:
        render.print_json(result)
        return
    changes = [{**c, "authority": (c["authority"] or {}).get("kind"), "flagged": "FLAGGED" if c["flagged"] else ""}
               for c in result["changes"]]
    render.out.print(render.table(f"{playbook_id} {chosen.name}: changes of assignee",
                     ("at+task", "step", "from+to", "kind+authority", "flagged", "reason"), changes))
    render.out.print(render.table(f"{playbook_id} {chosen.name}: ownership gaps",
                     ("at+task", "step", "role", "resolved_to", "blocked"), result["gaps"]))


@report_app.command("stalled")
def report_stalled() -> None:
    """Open tasks past their due time, and ownership gaps blocked with the workflow owner."""
    db = store()
    result = reports.stalled(db, plain=not settings.json)
    emit(result, render.table("Stalled tasks", ("task+run", "step+assignee", "due_at+overdue_hours", "blocked",
                                                "summary"), result))


@report_app.command("waits")
def report_waits(playbook_id: str, period: PeriodOption = None, since: SinceOption = None,
                 until: UntilOption = None) -> None:
    """Per step and assignee: hours waiting, hours in progress, nudges, reassignments, send-backs."""
    db = store()
    chosen = _period(db, period, since, until)
    result = reports.waits(db, playbook_id, chosen)
    emit(result, _waits_table(result, f"{playbook_id} {chosen.name}: waits (hours)"))


def _waits_table(result: dict[str, Any], title: str) -> "rich_table.Table":
    """`report waits` as a table: each step over all its assignees, then each assignee."""
    rows = []
    for step in result["steps"]:
        rows.append({**step, "assignee": "(all)"})
        rows.extend({**mine, "step": ""} for mine in step["assignees"])
    return render.table(title, ("step", "assignee", "tasks", "wait_median_hours+wait_p90_hours",
                                "in_progress_median_hours", "nudges", "reassignments", "send_backs"), rows)


@report_app.command("agents")
def report_agents(playbook: Annotated[str | None, typer.Option("--playbook", help="Only this playbook's runs.")]
                  = None) -> None:
    """Per agent and decision step: recommendations, agreement with the people's final outcomes, overrides,
    its own decisions and how many were later reversed, and what it may decide there now (SPEC §11)."""
    result = reports.agents(store(), playbook=playbook)
    from ledgerflow.cli.records import autonomy_cell

    rows = [{**row, "agreement_rate": "-" if row["agreement_rate"] is None else f"{row['agreement_rate']:.0%}",
             "autonomy": "-" if row["autonomy"] is None else autonomy_cell(row["autonomy"])} for row in result]
    emit(result, render.table("Agents: recommendations and decisions against the final outcome",
                              ("agent", "playbook", "step", "recommendations", "agreed", "overridden",
                               "agreement_rate", "decisions", "decisions_reversed", "autonomy"), rows))


@report_app.command("clarity")
def report_clarity() -> None:
    """Lint findings of every published playbook, and the open ownership gaps."""
    db = store()
    result = reports.clarity(db)
    if settings.json:
        render.print_json(result)
        return
    for f in result["findings"]:
        where = f"{f['playbook']} v{f['version']} {f['path']}"
        render.out.print(render.finding_line(where, f["severity"], f["rule"], f["message"]), highlight=False)
    if not result["findings"]:
        render.out.print("no findings")
    render.out.print(render.table("Open ownership gaps", ("task", "playbook", "step", "assignee", "ready_at"),
                            result["gaps"]))


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
    render.err.print(f"error [{rule}]: {message}", highlight=False, markup=False)
    if settings.json:
        render.print_json({"error": {"code": code, "rule": rule, "message": message, "details": details or {}}})
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
        negative = next((a for a in args if a[:1] == "-" and a[1:2].isdigit()), None)
        if negative is not None:  # `clock advance -1d` reads as an option named -1
            return _fail(2, "bad-duration", f"{negative} is not a duration: a duration is a positive whole number "
                                            "with m, h, d or w, like 1d")
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


# their commands hang on the sub-apps above: the accountability pages, directory/token/governance reads, and
# operating it (config show), documents
from ledgerflow.cli import accountability, attachments, operations, records  # noqa: E402, F401

GLOBAL_OPTIONS = ("Every command also takes --db URL (sqlite:///file.db, a path, or postgresql://...; default "
                  "LEDGERFLOW_DB, else sqlite:///ledgerflow.db) and --json (one JSON document on stdout), anywhere on "
                  "the line. Exit codes: 0 ok, 1 lint or verify found problems, 2 bad input, 3 refused, 4 environment.")
"""Said under every command's --help: the global options are parsed before Typer sees the line."""
for _group in (app, *(info.typer_instance for info in app.registered_groups if info.typer_instance)):
    for _command in _group.registered_commands:
        _command.epilog = _command.epilog or GLOBAL_OPTIONS
