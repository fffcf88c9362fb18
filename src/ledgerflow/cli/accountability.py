"""The accountability commands (SPEC §12): `report waiting`, `playbook map`, `outcome record`, `report review`.

They hang on the sub-apps of `ledgerflow.cli.main`, which imports this module once its sub-apps exist; each
imports what it needs when it runs, so that loading the command line stays cheap (`--help`).
"""

from __future__ import annotations

from typing import Annotated

import typer

from ledgerflow.cli.main import As, app, caller, emit, playbook_app, report_app, settings, store
from ledgerflow.domain.errors import InvalidInput

outcome_app = typer.Typer(no_args_is_help=True, help="The outcome measure: a value per week (SPEC §12).")
app.add_typer(outcome_app, name="outcome")

PlaybookFilter = Annotated[str | None, typer.Option("--playbook", help="Only this playbook's runs.")]


@report_app.command("waiting")
def report_waiting(playbook: PlaybookFilter = None) -> None:
    """Every open run and whom it waits on now, since when, overdue or blocked; longest wait first."""
    from ledgerflow import reports
    from ledgerflow.cli import render

    result = reports.waiting(store(), playbook=playbook)
    rows = [{**row, "overdue": "OVERDUE" if row["overdue"] else "", "blocked": "BLOCKED" if row["blocked"] else "",
             "summary": row["summary"] or ""} for row in result]
    emit(result, render.table("Where work waits", ("run+task", "step+waiting_on", "since+waiting_hours",
                                                   "overdue+blocked", "summary"), rows))


@playbook_app.command("map")
def playbook_map(playbook_id: str, format: Annotated[str, typer.Option(help="md (default) or json.")] = "md",
                 version: Annotated[int | None, typer.Option(help="A published version (default: newest).")]
                 = None) -> None:
    """The one-page escalation map: who owns, approves, gets nudged and pulled in; the holes flagged."""
    from ledgerflow import reports
    from ledgerflow.cli import render
    from ledgerflow.domain.escalation_map import map_markdown

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
    from ledgerflow import outcomes
    from ledgerflow.domain.figures import parse_period

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
def report_review(playbook_id: str,
                  out_file: Annotated[str, typer.Option("--out", help="FILE.md (Markdown) or FILE.pdf.")],
                  period: Annotated[str | None, typer.Option(help="An ISO week (default: this week).")] = None) -> None:
    """Write the weekly review pack: figures and trend, outcome, triggers, waits, escalations, decisions."""
    from ledgerflow import jsonfiles
    from ledgerflow.domain.figures import parse_period
    from ledgerflow.domain.review import review_markdown
    from ledgerflow.review import review_pack
    from ledgerflow.review_pdf import review_pdf
    from ledgerflow.views import this_week

    db = store()
    chosen = parse_period(period) if period else this_week(db)
    kind = out_file.lower().rsplit(".", 1)[-1]
    if kind not in ("md", "pdf"):
        raise InvalidInput(f"--out {out_file}: the review pack is written as .md (Markdown) or .pdf",
                           rule="bad-out-file")
    pack = review_pack(db, playbook_id, chosen)
    jsonfiles.write_file(out_file, review_pdf(pack) if kind == "pdf" else review_markdown(pack).encode("utf-8"))
    emit({"playbook": playbook_id, "period": chosen.name, "out": out_file},
         f"review pack of {playbook_id} {chosen.name} written to {out_file}")
