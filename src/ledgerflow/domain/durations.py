"""Durations as the contract writes them: `<positive integer>(m|h|d|w)`; 1d = 24h, 1w = 7d; at most ten years."""

from __future__ import annotations

import re
from datetime import timedelta

from ledgerflow.domain.errors import LimitExceeded
from ledgerflow.domain.limits import MAX_DURATION_MINUTES

_DURATION = re.compile(r"^([1-9][0-9]*)([mhdw])$")
_UNIT_MINUTES = {"m": 1, "h": 60, "d": 24 * 60, "w": 7 * 24 * 60}
_MAX_DIGITS = len(str(MAX_DURATION_MINUTES))


def parse_duration(text: str) -> timedelta:
    """Parse `4h`, `1d`, `2w`...

    Raises:
        ValueError: the text is not a positive integer followed by m, h, d or w.
        LimitExceeded: the duration is longer than ten years (`duration-too-large`).
    """
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not a duration; write a positive integer and a unit, like 30m, 4h, 1d or 2w")
    digits, unit = match.groups()
    if len(digits) > _MAX_DIGITS or int(digits) * _UNIT_MINUTES[unit] > MAX_DURATION_MINUTES:
        shown = digits if len(digits) <= 24 else f"{digits[:12]}…({len(digits)} digits)"
        raise LimitExceeded(f"{shown}{unit} is longer than ten years, the longest duration accepted",
                            rule="duration-too-large")
    return timedelta(minutes=int(digits) * _UNIT_MINUTES[unit])


_UNITS = (("w", timedelta(weeks=1)), ("d", timedelta(days=1)), ("h", timedelta(hours=1)), ("m", timedelta(minutes=1)))


def format_duration(span: timedelta | None) -> str | None:
    """A duration in the contract's form (`1d`, `4h`, `90m`): the largest unit that divides it."""
    if span is None:
        return None
    for unit, size in _UNITS:
        if span % size == timedelta(0):
            return f"{span // size}{unit}"
    return f"{int(span.total_seconds() // 60)}m"
