"""The summaries of runs (SPEC §12) for task lists, inboxes and reports: one query for the runs' input, the
playbook versions parsed once per process by the store."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from ledgerflow.domain.summary import plain_summary, render_summary
from ledgerflow.storage import schema
from ledgerflow.storage.store import Tx


def of_runs(tx: Tx, run_ids: Iterable[str | None], *, plain: bool = False) -> dict[str, str | None]:
    """Each named run's summary (None where its playbook declares no template); unknown ids are left out.

    With `plain`, a run whose playbook declares no template is summed up by its input's plain values
    (`customer=Acme, deal_value=12000`): the command line's tables always say what a task is about.
    """
    r = schema.runs
    wanted = sorted({run for run in run_ids if run is not None})
    found: dict[str, str | None] = {}
    for start in range(0, len(wanted), 500):  # bounded IN lists
        rows = tx.conn.execute(select(r.c.id, r.c.playbook, r.c.version, r.c.input)
                               .where(r.c.id.in_(wanted[start:start + 500])))
        for row in rows:
            playbook, _ = tx.playbook(row.playbook, row.version)
            found[row.id] = render_summary(playbook.summary, row.input) or (
                plain_summary(row.input) if plain else None)
    return found
