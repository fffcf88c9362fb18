"""A walk through one pricing exception on a fresh SQLite database, through the same use cases as the CLI.

    python -m ledgerflow.example [--db sqlite:///example.db]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from rich.console import Console

from ledgerflow import audit, service
from ledgerflow.domain.figures import week_of
from ledgerflow.domain.times import parse_time
from ledgerflow.scorecard import scorecard
from ledgerflow.storage.database import initialize, make_engine, normalize_url
from ledgerflow.storage.store import Store

EXAMPLES = Path(__file__).parent / "examples"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=None, help="database URL (default: a new file in a temporary folder)")
    args = parser.parse_args()
    console = Console()
    url = normalize_url(args.db or f"sqlite:///{tempfile.mkdtemp(prefix='ledgerflow-')}/example.db")
    initialize(make_engine(url), url, parse_time("2026-03-02T08:00:00Z"))
    store = Store(url)
    admin = service.Caller()
    service.load_directory_file(store, str(EXAMPLES / "directory.yaml"), admin)
    published = service.publish(store, str(EXAMPLES / "pricing-exception.yaml"), admin)
    console.print(f"published {published['playbook']} v{published['version']} on {url}")

    run, opened = service.start_run(store, "pricing-exception", {"customer": "Acme", "deal_value": 12000,
                                                                  "discount_pct": 18},
                                    service.Caller(actor="bob"), why="Renewal at risk")
    prepare = opened[0]
    console.print(f"bob started {run.id}; {prepare.step} goes to {prepare.assignee}")
    result = service.task_command(store, "complete", prepare.id, service.Caller(actor=str(prepare.assignee)),
                                  output={"deal_sheet_url": "https://docs.example.com/d/1",
                                          "justification": "Competitor offered 20%, three-year renewal"})
    decision = result["opened"][0]
    console.print(f"the completeness check passed; {decision.step} goes to {decision.assignee} "
                  f"(authority row {decision.authority_row}: {decision.approver})")
    service.task_command(store, "recommend", decision.id, service.Caller(actor="carol"), outcome="approve",
                         rationale="Margin stays above the floor")
    result = service.task_command(store, "decide", decision.id, service.Caller(actor=str(decision.assignee)),
                                  outcome="approve", rationale="Margin stays above the floor", to=None)
    apply = result["opened"][0]
    result = service.task_command(store, "complete", apply.id, service.Caller(actor=str(apply.assignee)),
                                  output={"quote_id": "Q-77"})
    console.print(f"{apply.assignee} applied the discount; run {result['run'].id} is {result['run'].status}")
    with store.read() as tx:
        period = week_of(tx.now())
        for row in tx.events(run=run.id):
            console.print(f"  {row['seq']:>3} {row['type']:<24} {row['actor']:<8} {row['authority']['kind']}")
    console.print(f"audit verify: {audit.verify(store)}")
    console.print(f"scorecard: {scorecard(store, 'pricing-exception', period)}")


if __name__ == "__main__":
    main()
