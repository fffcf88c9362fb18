"""The summaries of runs (SPEC §12) for task lists, inboxes and reports: one query for the runs' input, one per
playbook version for its template (read from the stored definition, without compiling the playbook)."""

from __future__ import annotations

from collections.abc import Iterable

from ledgerflow.domain.summary import plain_summary, render_summary
from ledgerflow.storage.reporting import playbook_data, summary_inputs
from ledgerflow.storage.store import Tx


def of_runs(tx: Tx, run_ids: Iterable[str | None], *, plain: bool = False) -> dict[str, str | None]:
    """Each named run's summary (None where its playbook declares no template); unknown ids are left out.

    With `plain`, a run whose playbook declares no template is summed up by its input's plain values
    (`customer=Acme, deal_value=12000`): the command line's tables always say what a task is about.
    """
    wanted = sorted({run for run in run_ids if run is not None})
    rows = summary_inputs(tx, wanted)
    templates: dict[tuple[str, int], str | None] = {}
    for playbook, version in sorted({(row.playbook, row.version) for row in rows}):
        # the template straight from the stored definition: a task list need not compile the playbook
        data = playbook_data(tx, playbook, version)
        template = data.get("summary") if isinstance(data, dict) else None
        templates[(playbook, version)] = None if template is None else str(template)
    return {row.id: render_summary(templates[(row.playbook, row.version)], row.input) or (
        plain_summary(row.input) if plain else None) for row in rows}
