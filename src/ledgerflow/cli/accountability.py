"""The accountability commands (SPEC §12): `report waiting`, `playbook map`, `outcome record`, `report review`.

They hang on the sub-apps of `ledgerflow.cli.main`, which imports this module once its sub-apps exist.
"""

from __future__ import annotations

from typing import Annotated

import typer

from ledgerflow import reports
from ledgerflow.cli.main import _table as table
from ledgerflow.cli.main import emit, report_app, store

PlaybookFilter = Annotated[str | None, typer.Option("--playbook", help="Only this playbook's runs.")]


@report_app.command("waiting")
def report_waiting(playbook: PlaybookFilter = None) -> None:
    """Every open run and whom it waits on now, since when, overdue or blocked; longest wait first."""
    result = reports.waiting(store(), playbook=playbook)
    rows = [{**row, "overdue": "OVERDUE" if row["overdue"] else "", "blocked": "BLOCKED" if row["blocked"] else "",
             "summary": row["summary"] or ""} for row in result]
    emit(result, table("Where work waits", ("run", "summary", "step", "task", "waiting_on", "since",
                                            "waiting_hours", "overdue", "blocked"), rows))
