"""`report review` (SPEC §12): the weekly review pack, checked against a hand-written expectation for the
shared example over a scripted week."""

from __future__ import annotations

import json
from io import BytesIO
from pathlib import Path

import pytest
from pypdf import PdfReader

from ledgerflow.cli.main import main
from ledgerflow.domain.figures import parse_period
from ledgerflow.domain.review import review_markdown
from ledgerflow.engine import governance, outcomes, service
from ledgerflow.reporting.review import review_pack
from ledgerflow.reporting.review_pdf import review_pdf
from ledgerflow.storage.store import Store
from tests.engine.helpers import GOOD_OUTPUT, act, finished_run, only_open, publish_text, start
from tests.reports.test_outcome import MEASURED

WEEK = parse_period("2026-W10")

EXPECTED = """\
# Weekly review: Pricing exception approval, 2026-W10

Playbook `pricing-exception` version 1; governance state: continue; outcome owner: maria; workflow owner: sam; \
prepared 2026-03-03T10:00:00Z.

Outcome: Decide non-standard discounts within one business day without margin leakage (measure: median decision \
latency <= 24h and exception rate <= 10%)

## Outcome

No outcome metric is declared (outcome.metric in the playbook).

## This period's figures

| figure | value |
|---|---|
| Throughput (runs ended) | 1 |
| Exception rate | 0% |
| Rework (send-backs) | 0 |
| Decision latency, median (h) | 0.0 |
| Decision latency, p90 (h) | 0.0 |
| First-pass yield | 100% |
| Quality trend (points) | – |

## Trend

| week | throughput |  | exception rate | latency median h | first-pass yield | outcome |
|---|---|---|---|---|---|---|
| 2026-W07 | 0 |  | – | – | – | – |
| 2026-W08 | 0 |  | – | – | – | – |
| 2026-W09 | 0 |  | – | – | – | – |
| 2026-W10 | 1 | ████████████████████ | 0% | 0.0 | 100% | – |

## Risk triggers crossed

No trigger crossed.

## Where work waits now

| run | summary | step | waiting on | since | hours | overdue | blocked |
|---|---|---|---|---|---|---|---|
| {late} |  | approve | maria | 2026-03-02T08:00:00Z | 26.0 | OVERDUE |  |

## Friction per step

| step | tasks | done | wait median h | wait p90 h | re-routes | nudges | nudges per done | send-backs | loops | \
handoffs | ping-pong |
|---|---|---|---|---|---|---|---|---|---|---|---|
| prepare | 2 | 2 | 0.0 | 0.0 | 0 | 0 | 0.0 | 0 | 0 | 0 | 0 |
| approve | 2 | 1 | 0.0 | 0.0 | 1 (1 escalated) | 2 | 2.0 | 0 | 0 | 3 | 0 |
| apply | 1 | 1 | 0.0 | 0.0 | 0 | 0 | 0.0 | 0 | 0 | 1 | 0 |

## Handoffs per run

| runs ended | handoffs | per run | most in one run | went back and forth |
|---|---|---|---|---|
| 1 | 2 | 2.0 | 2 | 0 |

## Escalations

| at | run | step | from | to |
|---|---|---|---|---|
| 2026-03-03T08:00:00Z | {late} | approve | {approver} | maria |

## Decisions taken

| at | by | decision | rationale |
|---|---|---|---|
| 2026-03-03T10:00:00Z | sam | continue | Steady week \\| no change |

## Follow-ups due

| task | owner | what | due | overdue |
|---|---|---|---|---|
| {follow_up} | carol | Check the ERP mapping | 2026-03-10T10:00:00Z |  |
"""


def _scripted_week(store: Store) -> dict[str, str]:
    """One run finished, one escalated to the outcome owner after 24h, a decision with a follow-up."""
    finished_run(store)
    late = start(store, customer="Globex")
    decision = act(store, "complete", only_open(store, late.id), output=GOOD_OUTPUT)["opened"][0]
    service.advance_clock(store, "26h", service.Caller())
    decided = governance.decide(store, "pricing-exception", actor="sam", channel="cli", decision="continue",
                                rationale="Steady week | no change",
                                follow_ups=[("Check the ERP mapping", "carol", "1w")])
    return {"late": late.id, "approver": str(decision.assignee), "follow_up": decided["follow_ups"][0]}


def test_the_pack_of_a_scripted_week_is_as_written_by_hand(store: Store) -> None:
    ids = _scripted_week(store)
    assert review_markdown(review_pack(store, "pricing-exception", WEEK)) == EXPECTED.format(**ids)


def test_the_pack_shows_the_outcome_and_the_triggers_it_crossed(store: Store, tmp_path: Path) -> None:
    publish_text(store, tmp_path, MEASURED)
    outcomes.record(store, "pricing-exception", WEEK, 18, actor="maria", channel="cli")
    page = review_markdown(review_pack(store, "pricing-exception", WEEK))
    assert "gross margin: 18 %, OFF TARGET (target 22 %, higher is better)." in page
    assert "| 2026-03-02T08:00:00Z | outcome below 20 | trigger crossed: outcome below 20 (2026-W10) |" in page
    assert "| 2026-W10 | 0 |  | – | – | – | 18.0 |" in page


def test_the_cli_writes_the_markdown_pack(capsys: pytest.CaptureFixture[str], store: Store, tmp_path: Path) -> None:
    ids = _scripted_week(store)
    out = tmp_path / "review.md"
    args = ["report", "review", "pricing-exception", "--period", "2026-W10", "--db", store.url]
    assert main([*args, "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"playbook": "pricing-exception", "period": "2026-W10",
                                                   "out": str(out)}
    assert out.read_text(encoding="utf-8") == EXPECTED.format(**ids)
    assert main([*args, "--out", str(tmp_path / "review.txt")]) == 2
    assert main([*args, "--out", str(tmp_path / "missing" / "review.md")]) == 2
    assert main(["report", "review", "nope", "--out", str(out), "--db", store.url]) == 2


def test_the_pdf_pack_holds_the_same_sections_and_the_charts(store: Store, tmp_path: Path) -> None:
    publish_text(store, tmp_path, MEASURED)
    ids = _scripted_week(store)
    outcomes.record(store, "pricing-exception", WEEK, 18, actor="maria", channel="cli")
    out = tmp_path / "review.pdf"
    assert main(["report", "review", "pricing-exception", "--period", "2026-W10", "--out", str(out),
                 "--db", store.url]) == 0
    reader = PdfReader(out)
    text = "\n".join(page.extract_text() for page in reader.pages)
    for expected in ("Weekly review: Pricing exception approval, 2026-W10", "Throughput (runs ended) 1",
                     "gross margin: 18 %, OFF TARGET (target 22 %, higher is better).", "Runs ended per week",
                     "gross margin per week", "target 22", "outcome below 20", "Where work waits now",
                     ids["late"], "Steady week | no change", "Check the ERP mapping", ids["follow_up"]):
        assert expected in text, expected
    assert reader.metadata is not None and reader.metadata.title == "Weekly review pricing-exception 2026-W10"


def test_without_a_unicode_font_the_pdf_still_prints_latin_text(store: Store) -> None:
    ids = _scripted_week(store)
    pdf = review_pdf(review_pack(store, "pricing-exception", WEEK), font_dirs=())
    text = "\n".join(page.extract_text() for page in PdfReader(BytesIO(pdf)).pages)
    assert "Where work waits now" in text and ids["late"] in text and "Check the ERP mapping" in text
