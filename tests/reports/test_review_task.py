"""The weekly review task links to its review pack (issue #20): the task names the week it looks at, the command
and the API path that give that week's pack, and the command line and the API fetch the pack for the task."""

from __future__ import annotations

import json
from dataclasses import replace as changed
from pathlib import Path

import pytest

from ledgerflow.cli.main import main
from ledgerflow.domain import governance as rules
from ledgerflow.domain.figures import parse_period
from ledgerflow.domain.review import review_markdown
from ledgerflow.engine import governance, outcomes, service
from ledgerflow.engine.ids import new_id
from ledgerflow.reporting.review import period_of_review, review_pack
from ledgerflow.storage.store import Store
from tests.conftest import ADMIN
from tests.engine.helpers import finished_run, publish_text, tables
from tests.reports.test_friction import scripted_week
from tests.reports.test_outcome import MEASURED

W10 = parse_period("2026-W10")  # the simulated clock starts on Monday 2026-03-02 08:00Z
COMMAND = "ledgerflow report review pricing-exception --period 2026-W10 --out review-2026-W10.pdf"
URL = "/api/v1/playbooks/pricing-exception/review?period=2026-W10&format=pdf"


def weekly_review(store: Store) -> str:
    """A week of work, then Monday: the cadence opens the review of the week that just ended."""
    scripted_week(store)
    fired = service.advance_clock(store, "7d", ADMIN)["fired"]
    assert [f["kind"] for f in fired if f["kind"] == "review"] == ["review"]
    with store.read() as tx:
        (review,) = tx.standalone(playbook="pricing-exception", step="governance-review", open_only=True).values()
    return review.id


def test_the_weekly_review_task_names_the_week_that_ended_and_where_its_pack_is(store: Store) -> None:
    task_id = weekly_review(store)
    with store.read() as tx:
        review = tx.standalone(ids=[task_id])[task_id]
        opened = next(e for e in tx.events() if e["type"] == "governance.review_opened")
    assert review.note == ("Review pricing-exception for 2026-W10 (weekly cadence) and decide: continue, stabilize, "
                           f"pause or stop. The review pack: {COMMAND} (or GET {URL}).")
    assert (opened["task"], opened["data"]["period"]) == (task_id, "2026-W10")
    assert opened["data"]["pack"] == {"period": "2026-W10", "command": COMMAND, "url": URL}


def test_a_review_an_outcome_opened_looks_at_the_week_recorded(store: Store, tmp_path: Path) -> None:
    publish_text(store, tmp_path, MEASURED)
    service.advance_clock(store, "7d", ADMIN)  # the cadence's review of W10 is open; W11 now
    governance.decide(store, "pricing-exception", actor="sam", channel="cli", decision="continue", rationale="ok",
                        follow_ups=[])
    opened = outcomes.record(store, "pricing-exception", parse_period("2026-W11"), 18, actor="maria",
                             channel="cli")["reviews"]
    with store.read() as tx:
        review = tx.standalone(ids=opened)[opened[0]]
    assert "for 2026-W11 (trigger crossed: outcome below 20 (2026-W11))" in str(review.note)


def test_the_command_line_writes_the_pack_of_a_review_task(capsys: pytest.CaptureFixture[str], store: Store,
                                                           tmp_path: Path) -> None:
    task_id = weekly_review(store)
    out = tmp_path / "pack.md"
    assert main(["report", "review", "--task", task_id, "--out", str(out), "--db", store.url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"playbook": "pricing-exception", "period": "2026-W10",
                                                   "out": str(out)}
    assert out.read_text(encoding="utf-8") == review_markdown(review_pack(store, "pricing-exception", W10))
    assert "| approve | 4 | 3 |" in out.read_text(encoding="utf-8")  # the friction of the week reviewed


def test_the_command_line_refuses_a_task_that_is_no_review_or_a_second_target(store: Store,
                                                                             tmp_path: Path) -> None:
    task_id = weekly_review(store)
    follow_up = governance.decide(store, "pricing-exception", actor="sam", channel="cli", decision="continue",
                                  rationale="ok", follow_ups=[("Check the ERP mapping", "carol", "1w")])
    run_task = finished_run(store)
    with store.read() as tx:
        done = tx.tasks(run=run_task)[0].id
    out = str(tmp_path / "pack.md")
    before = tables(store.url)
    for args, rule_exit in ((["--task", follow_up["follow_ups"][0]], 2), (["--task", done], 2),
                            (["--task", "t_nope"], 2), (["pricing-exception", "--task", task_id], 2),
                            (["--task", task_id, "--period", "2026-W10"], 2), ([], 2)):
        assert main(["report", "review", *args, "--out", out, "--db", store.url]) == rule_exit, args
    assert main(["report", "review", "--task", task_id, "--out", str(tmp_path / "pack.txt"), "--db", store.url]) == 2
    assert tables(store.url) == before and not Path(out).exists()


def test_a_review_opened_before_reviews_named_their_week_is_read_from_its_reason(store: Store) -> None:
    """Reviews opened by an earlier version carry no `period`: the cadence's looks at the week before it opened."""
    service.advance_clock(store, "7d", ADMIN)  # 2026-03-09, W11: the cadence's review of W10 is open
    governance.decide(store, "pricing-exception", actor="sam", channel="cli", decision="continue", rationale="ok",
                      follow_ups=[])
    opened = {}
    for reason in ("weekly cadence", "trigger crossed: exception_rate above 0.15"):
        with store.write() as tx:
            playbook, _ = tx.playbook("pricing-exception")
            events = rules.open_review(playbook, now=tx.now(), new_id=new_id, reason=reason, figures={},
                                       existing=None, period="unused")
            old = [changed(e, data={k: v for k, v in e.data.items() if k not in ("period", "pack", "what")})
                   for e in events]
            governance.apply_standalone(tx, old)
            opened[reason] = str(old[0].task)
        governance.decide(store, "pricing-exception", actor="sam", channel="cli", decision="continue",
                          rationale="ok", follow_ups=[])
    with store.read() as tx:
        assert period_of_review(tx, opened["weekly cadence"]) == ("pricing-exception", W10)
        assert period_of_review(tx, opened["trigger crossed: exception_rate above 0.15"])[1].name == "2026-W11"
