"""The reports' pure rules: which changes of hands are flagged, deadlines, wait figures (no database)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ledgerflow.domain.reports import WaitSample, by_step, change_flagged, deadline, overdue_hours, summarize

OWNERS = ("sam", "maria")


@pytest.mark.parametrize(("kind", "authority", "actor", "reason", "flagged"), [
    ("reassignment", "owner", "sam", "dave is away", False),
    ("reassignment", "owner", "maria", "balance the load", False),
    ("reassignment", "owner", "bob", "I felt like it", True),
    ("reassignment", "owner", "sam", "  ", True),
    ("reassignment", "owner", "sam", None, True),
    ("reassignment", "admin", "sam", "database fix", True),
    ("directory", "system", "system", None, False),
    ("escalation", "escalation", "system", None, False),
    ("delegation", "delegation", "system", None, False),
    ("routing", None, "system", None, True),
])
def test_a_change_without_explicit_authority_is_flagged(kind: str, authority: str | None, actor: str,
                                                        reason: str | None, flagged: bool) -> None:
    assert change_flagged(kind=kind, authority_kind=authority, actor=actor, reason=reason, owners=OWNERS) is flagged


def test_the_deadline_is_the_earlier_due_time_present() -> None:
    assert deadline("2026-03-03T08:00:00.000000Z", "2026-03-02T20:00:00.000000Z") == "2026-03-02T20:00:00.000000Z"
    assert deadline(None, "2026-03-02T20:00:00.000000Z") == "2026-03-02T20:00:00.000000Z"
    assert deadline("2026-03-03T08:00:00.000000Z", None) == "2026-03-03T08:00:00.000000Z"
    assert deadline(None, None) is None


def test_overdue_hours_are_zero_until_the_deadline_passes() -> None:
    now = datetime(2026, 3, 3, 9, 30, tzinfo=UTC)
    assert overdue_hours("2026-03-03T08:00:00.000000Z", now) == 1.5
    assert overdue_hours("2026-03-04T08:00:00.000000Z", now) == 0.0
    assert overdue_hours(None, now) == 0.0


def test_waits_skip_tasks_nobody_has_acted_on_but_count_them() -> None:
    figures = summarize([
        WaitSample(step="s", assignee="a", wait_hours=1.0, in_progress_hours=2.0, nudges=1),
        WaitSample(step="s", assignee="a", wait_hours=3.0, in_progress_hours=None, reassignments=1),
        WaitSample(step="s", assignee="b", wait_hours=None, in_progress_hours=None, nudges=2, sent_back=1),
    ])
    assert (figures.tasks, figures.waiting, figures.wait_median_hours, figures.in_progress_median_hours) == (
        3, 1, 2.0, 2.0)
    assert (figures.nudges, figures.reassignments, figures.send_backs) == (3, 1, 1)
    assert figures.wait_p90_hours == pytest.approx(2.8)


def test_steps_keep_the_playbook_order_and_assignees_are_sorted() -> None:
    samples = [WaitSample(step="late", assignee="zed", wait_hours=1.0, in_progress_hours=None),
               WaitSample(step="first", assignee="bea", wait_hours=2.0, in_progress_hours=None),
               WaitSample(step="first", assignee="al", wait_hours=4.0, in_progress_hours=None),
               WaitSample(step="retired", assignee="al", wait_hours=4.0, in_progress_hours=None)]
    result = by_step(["first", "late", "empty"], samples)
    assert [step for step, _, _ in result] == ["first", "late", "empty", "retired"]
    assert [who for who, _ in result[0][2]] == ["al", "bea"]
    assert result[2][1].tasks == 0 and result[2][2] == []
