"""The scorecard keeps SPEC §5's definitions exactly, on runs driven through the engine."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledgerflow.domain.figures import hours_between, parse_period, percentile, span
from ledgerflow.domain.times import format_time, parse_time
from ledgerflow.engine import service
from ledgerflow.reporting.scorecard import scorecard
from ledgerflow.storage.store import Store
from tests.engine.helpers import GOOD_OUTPUT, act, decide, only_open, start

ADMIN = service.Caller()


def _through(store: Store, *, wait: str | None, outcome: str = "approve", sloppy: bool = False) -> None:
    """One run: prepare (sloppy once → the check sends it back), decide after `wait`, apply."""
    run = start(store)
    prepare = only_open(store, run.id)
    if sloppy:
        act(store, "complete", prepare, output={"deal_sheet_url": "x", "justification": "short"})
        prepare = only_open(store, run.id)
    decision = act(store, "complete", prepare, output=GOOD_OUTPUT)["opened"][0]
    if wait:
        service.advance_clock(store, wait, ADMIN)
    decision = only_open(store, run.id)
    result = decide(store, decision, outcome, rationale="because")
    if outcome == "approve":
        act(store, "complete", result["opened"][0], output={"quote_id": "Q"})


def test_the_weekly_figures_follow_the_definitions(store: Store) -> None:
    _through(store, wait="1h")
    _through(store, wait="2h")
    _through(store, wait="3h", sloppy=True)          # a failed check: exception, rework, not first pass
    _through(store, wait="10h", outcome="reject")    # a rejection: exception, not first pass
    card = scorecard(store, "pricing-exception", parse_period("2026-W10"))
    assert card["throughput"] == 4
    assert card["exception_rate"] == 0.5
    assert card["rework"] == 1
    assert card["first_pass_yield"] == 0.5
    assert card["decision_latency"] == {"median_hours": 2.5, "p90_hours": pytest.approx(7.9)}
    assert card["quality_trend"] is None  # the week before had no ended runs


def test_runs_count_in_the_period_they_ended_and_trend_compares_weeks(store: Store) -> None:
    _through(store, wait=None, sloppy=True)
    service.advance_clock(store, "7d", ADMIN)
    _through(store, wait=None)
    week10 = scorecard(store, "pricing-exception", parse_period("2026-W10"))
    week11 = scorecard(store, "pricing-exception", parse_period("2026-W11"))
    assert (week10["throughput"], week10["first_pass_yield"]) == (1, 0.0)
    assert (week11["throughput"], week11["first_pass_yield"], week11["quality_trend"]) == (1, 1.0, 1.0)
    both = scorecard(store, "pricing-exception", span("2026-03-02", "2026-03-16"))
    assert both["throughput"] == 2 and both["rework"] == 1


def test_an_empty_period_has_null_shares_and_latencies(store: Store) -> None:
    card = scorecard(store, "pricing-exception", parse_period("2026-W20"))
    assert card["throughput"] == 0 and card["exception_rate"] is None and card["first_pass_yield"] is None
    assert card["decision_latency"] == {"median_hours": None, "p90_hours": None}


def test_percentiles_interpolate_like_numpy() -> None:
    values = [1.0, 2.0, 3.0, 10.0]
    assert percentile(values, 50) == 2.5
    assert percentile(values, 90) == pytest.approx(7.9)
    assert percentile([4.0], 90) == 4.0 and percentile([], 50) is None


_MOMENTS = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC))


@given(_MOMENTS, _MOMENTS)
def test_hours_between_stored_times_match_parsing_them(start: datetime, end: datetime) -> None:
    stored = format_time(start), format_time(end)
    parsed = (parse_time(stored[1]) - parse_time(stored[0])).total_seconds() / 3600
    assert hours_between(*stored) == parsed == (end - start).total_seconds() / 3600


def test_flags_filled_in_from_the_events_give_the_same_figures_as_flags_stored_at_run_end(store: Store) -> None:
    from alembic import command
    from sqlalchemy import update

    from ledgerflow.storage import schema
    from ledgerflow.storage.database import _alembic_config, migrate

    _through(store, wait="1h")
    _through(store, wait="2h", sloppy=True)
    _through(store, wait="30h")  # an SLA breach and an escalation
    _through(store, wait="1h", outcome="reject")
    stored = scorecard(store, "pricing-exception", parse_period("2026-W10"))
    with store.engine.connect().execution_options(ledgerflow_write=True) as conn, conn.begin():
        command.downgrade(_alembic_config(conn), "0009")  # as for runs that ended before the flags were stored
        conn.execute(update(schema.runs).values(exception=None, reworked=None, failed_check=None))
    migrate(store.engine, store.url)  # 0010 fills them in from the events
    assert scorecard(store, "pricing-exception", parse_period("2026-W10")) == stored
    assert stored["exception_rate"] == 0.75 and stored["first_pass_yield"] == 0.5  # a breach is no rework


def _without_name(card: dict[str, object]) -> dict[str, object]:
    return {key: value for key, value in card.items() if key != "period"}


def test_a_weeks_running_counts_agree_with_counting_its_runs(store: Store) -> None:
    _through(store, wait=None, sloppy=True)
    service.advance_clock(store, "7d", ADMIN)
    _through(store, wait="1h")
    _through(store, wait="2h", sloppy=True)
    _through(store, wait="30h")  # an SLA breach and an escalation
    _through(store, wait="1h", outcome="reject")
    for week, since, until in (("2026-W10", "2026-03-02", "2026-03-09"), ("2026-W11", "2026-03-09", "2026-03-16")):
        counted = scorecard(store, "pricing-exception", parse_period(week))  # the week's running counts
        assert _without_name(counted) == _without_name(scorecard(store, "pricing-exception", span(since, until)))
        assert counted["throughput"] > 0


def test_migration_fills_in_the_running_counts_of_weeks_recorded_before_it(store: Store) -> None:
    from alembic import command

    from ledgerflow.storage.database import _alembic_config, migrate

    _through(store, wait="1h", sloppy=True)
    service.advance_clock(store, "7d", ADMIN)
    _through(store, wait="2h", outcome="reject")
    with store.read() as tx:
        counted = tx.all_period_counts()  # each week's slots added up
    assert sorted(week for _, week in counted) == ["2026-W10", "2026-W11"]
    with store.engine.connect().execution_options(ledgerflow_write=True) as conn, conn.begin():
        command.downgrade(_alembic_config(conn), "0010")
    migrate(store.engine, store.url)
    with store.read() as tx:
        assert tx.all_period_counts() == counted
