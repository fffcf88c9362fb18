"""Times and people as a person reads them: "in 3 h", "2 d overdue", "Dave Okafor" (issue #21).

Pure functions over stored values; the exact UTC time stays one hover away (templates put it in a `title`).
"""

from __future__ import annotations

from datetime import datetime

from ledgerflow.domain.directory import Directory
from ledgerflow.domain.times import parse_time


def span(seconds: float) -> str:
    """A duration rounded to one unit a person takes in at a glance: `45 min`, `3 h`, `2 d`."""
    seconds = abs(seconds)
    if seconds < 3600:
        return f"{max(int(seconds // 60), 1)} min"
    if seconds < 2 * 86400:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} d"


def until(deadline: str | None, now: datetime) -> str | None:
    """A deadline seen from now: `in 3 h`, or `2 d overdue` once it has passed."""
    if deadline is None:
        return None
    left = (parse_time(deadline) - now).total_seconds()
    return f"in {span(left)}" if left >= 0 else f"{span(left)} overdue"


def ago(moment: str | None, now: datetime) -> str | None:
    """A past instant seen from now: `3 h ago` (`just now` under a minute)."""
    if moment is None:
        return None
    past = (now - parse_time(moment)).total_seconds()
    if past < 60:
        return "just now" if past >= 0 else f"in {span(past)}"
    return f"{span(past)} ago"


def exact(moment: str | None) -> str:
    """The hover text: the stored instant in full, named as UTC."""
    return "" if moment is None else moment.replace(".000000Z", "Z").replace("T", " ").replace("Z", " UTC")


def names(directory: Directory | None) -> dict[str, str]:
    """Actor id to the name the directory gives it (ids the directory does not know show as they are)."""
    return {} if directory is None else {actor.id: actor.name for actor in directory.actors}
