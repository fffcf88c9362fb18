"""Latency marks place a percentile around a threshold exactly as sorting the latencies does."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ledgerflow.domain.figures import Marks, percentile, percentile_side

# few distinct values, so that ties and values equal to the threshold come up often
_VALUES = st.lists(st.sampled_from([0.0, 0.5, 1.0, 24.0, 47.9, 48.0, 48.1, 50.0, 1e6]), max_size=40)
_THRESHOLDS = st.sampled_from([0.0, 1.0, 24.0, 48.0, 49.0])
_PERCENTILES = st.sampled_from([50.0, 90.0, 0.0, 100.0, 33.3])


@given(_VALUES, _THRESHOLDS, _PERCENTILES)
def test_marks_give_the_side_of_the_percentile_that_sorting_gives(values: list[float], threshold: float,
                                                                 p: float) -> None:
    value = percentile(values, p)
    expected = None if value is None else (value > threshold) - (value < threshold)
    assert percentile_side(Marks.of(values, threshold), threshold, p) == expected


@given(_VALUES, _VALUES, _THRESHOLDS)
def test_marks_of_two_batches_merge_into_the_marks_of_both(first: list[float], second: list[float],
                                                          threshold: float) -> None:
    assert Marks.of(first, threshold).merged(Marks.of(second, threshold)) == Marks.of(first + second, threshold)
