"""The accountability commands (SPEC §12): `report waiting`, `playbook map`, `outcome record`, `report review`.

They hang on the sub-apps of `ledgerflow.cli.main`, which imports this module once its sub-apps exist; each
imports what it needs when it runs, so that loading the command line stays cheap (`--help`).
"""

from __future__ import annotations

from typing import Annotated

import typer

from ledgerflow.cli.main import (
    As,
    PeriodOption,
    SinceOption,
    UntilOption,
    _period,
    app,
    caller,
    emit,
    playbook_app,
    report_app,
    settings,
    store,
)
from ledgerflow.domain.errors import InvalidInput

outcome_app = typer.Typer(no_args_is_help=True, help="The outcome measure: a value per week (SPEC §12).")
app.add_typer(outcome_app, name="outcome")

PlaybookFilter = Annotated[str | None, typer.Option("--playbook", help="Only this playbook's runs.")]


@report_app.command("waiting")
def report_waiting(playbook: PlaybookFilter = None) -> None:
    """Every open run and whom it waits on now, since when, overdue or blocked; longest wait first."""
    from ledgerflow.cli import render
    from ledgerflow.reporting import reports

    result = reports.waiting(store(), playbook=playbook)
    # 80 columns hold the ids whole and whom each run waits on; `since` and the rest are in --json
    rows = [{**row, "waiting_on": row["waiting_on"] or "-", "hours": row["waiting_hours"],
             "flags": " ".join(flag for flag in ("overdue", "blocked") if row[flag]),
             "summary": row["summary"] or ""} for row in result]
    emit(result, render.table("Where work waits, longest first",
                              ("run+task", "step+waiting_on", "hours+flags", "summary"), rows))


FRICTION_FIGURES = ("tasks", "completions", "wait_median_hours", "wait_p90_hours", "reassignments", "delegations",
                    "escalations", "nudges", "nudges_per_completion", "send_backs", "loops", "handoffs", "ping_pongs")


@report_app.command("friction")
def report_friction(playbook_id: str, period: PeriodOption = None, since: SinceOption = None,
                    until: UntilOption = None) -> None:
    """Per step: waits, re-routes, nudges per completion, send-back loops, handoffs and ping-pong."""
    from ledgerflow.cli import render
    from ledgerflow.reporting.friction import friction

    db = store()
    chosen = _period(db, period, since, until)
    result = friction(db, playbook_id, chosen)
    runs = result["runs"]
    steps = [s["step"] for s in result["steps"]]
    # a figure per line and a step per column: a playbook has a few steps, the view has many figures
    rows = [{"figure": figure, **{s["step"]: render.cell(figure, s[figure]) for s in result["steps"]}}
            for figure in FRICTION_FIGURES]
    emit(result, render.table(
        f"{playbook_id} {chosen.name}: friction per step; {runs['runs']} runs ended, "
        f"{render.cell('handoffs_per_run', runs['handoffs_per_run'])} handoffs per run (most {runs['handoffs_max']}), "
        f"{runs['ping_pong_runs']} went back and forth", ("figure", *steps), rows))


@playbook_app.command("map")
def playbook_map(playbook_id: str, format: Annotated[str, typer.Option(help="md (default) or json.")] = "md",
                 version: Annotated[int | None, typer.Option(help="A published version (default: newest).")]
                 = None) -> None:
    """The one-page escalation map: who owns, approves, gets nudged and pulled in; the holes flagged."""
    from ledgerflow.cli import render
    from ledgerflow.domain.escalation_map import map_markdown
    from ledgerflow.reporting import reports

    if format not in ("md", "json"):
        raise InvalidInput(f"--format is md or json, not {format!r}", rule="bad-format")
    found = reports.playbook_map(store(), playbook_id, version)
    if settings.json or format == "json":
        render.print_json(found)
    else:
        render.out.print(map_markdown(found), markup=False, highlight=False, end="")


@outcome_app.command("record")
def outcome_record(playbook_id: str, period: Annotated[str, typer.Option(help="An ISO week like 2026-W10.")],
                   value: Annotated[float, typer.Option(help="The measure's value for that week.")],
                   note: Annotated[str | None, typer.Option(help="Where the figure comes from.")] = None,
                   as_: As = None) -> None:
    """Record a week's outcome value (the outcome owner or the workflow owner, or a token made for one)."""
    from ledgerflow.domain.figures import parse_period
    from ledgerflow.engine import outcomes

    db = store()
    who = caller(as_)
    result = outcomes.record(db, playbook_id, parse_period(period), value, actor=who.actor, channel=who.channel,
                             note=note)
    block = result["outcome"]
    verdict = "on target" if block["on_target"] else "off target"
    emit(result, f"{playbook_id} {result['period']}: {block['name']} = {result['value']:g}"
                 f"{' ' + block['unit'] if block['unit'] else ''} ({verdict}; target {block['target']:g}, "
                 f"{block['direction']})" + (f"; review opened: {', '.join(result['reviews'])}"
                                             if result["reviews"] else ""))


@report_app.command("review")
def report_review(playbook_id: Annotated[str | None, typer.Argument(help="The playbook (or give --task).")] = None,
                  out_file: Annotated[str, typer.Option("--out", help="FILE.md (Markdown) or FILE.pdf.")] = "",
                  period: Annotated[str | None, typer.Option(help="An ISO week (default: this week).")] = None,
                  task: Annotated[str | None, typer.Option(help="A governance review task: the week it looks at.")]
                  = None) -> None:
    """Write the weekly review pack: figures and trend, outcome, triggers, waits, friction, escalations, decisions."""
    from ledgerflow import jsonfiles
    from ledgerflow.domain.figures import parse_period
    from ledgerflow.domain.review import review_markdown
    from ledgerflow.engine.api_queries import this_week
    from ledgerflow.reporting.review import period_of_review, review_pack
    from ledgerflow.reporting.review_pdf import review_pdf

    kind = out_file.lower().rsplit(".", 1)[-1] if "." in out_file else ""
    if kind not in ("md", "pdf"):
        raise InvalidInput(f"--out {out_file or '(missing)'}: the review pack is written as .md (Markdown) or .pdf",
                           rule="bad-out-file")
    if (task is None) == (playbook_id is None) or (task is not None and period is not None):
        raise InvalidInput("give a PLAYBOOK (with --period or not), or --task with a review task alone",
                           rule="bad-args")
    db = store()
    if task is not None:
        with db.read() as tx:
            playbook_id, chosen = period_of_review(tx, task)
    else:
        chosen = parse_period(period) if period else this_week(db)
    pack = review_pack(db, str(playbook_id), chosen)
    jsonfiles.write_file(out_file, review_pdf(pack) if kind == "pdf" else review_markdown(pack).encode("utf-8"))
    emit({"playbook": playbook_id, "period": chosen.name, "out": out_file},
         f"review pack of {playbook_id} {chosen.name} written to {out_file}")
