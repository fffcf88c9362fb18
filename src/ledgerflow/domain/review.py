"""The weekly review pack as Markdown (SPEC §12): the week's figures and their trend, the outcome value, risk
triggers crossed, where work waits and where it meets friction, escalations, decisions taken and follow-ups due.
Pure: renders the dict that `ledgerflow.reporting.review.review_pack` assembles.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

BAR_WIDTH = 20
"""Characters of the longest bar in the trend chart."""

NONE = "–"


def number(value: Any, *, percent: bool = False) -> str:
    """A figure for people: a dash for null, shares as whole percents, hours to one decimal."""
    if value is None:
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if percent:
        return f"{value * 100:.0f}%"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def bar(value: float | None, largest: float) -> str:
    """A text bar proportional to `value` (at most `BAR_WIDTH` blocks)."""
    if not value or largest <= 0:
        return ""
    return "█" * max(1, round(BAR_WIDTH * value / largest))


def outcome_line(outcome: dict[str, Any] | None) -> str:
    if outcome is None:
        return "No outcome metric is declared (outcome.metric in the playbook)."
    unit = f" {outcome['unit']}" if outcome["unit"] else ""
    goal = f"target {outcome['target']:g}{unit}, {'higher' if outcome['direction'] == 'up' else 'lower'} is better"
    if outcome["value"] is None:
        return f"{outcome['name']}: not recorded for this period ({goal})."
    verdict = "on target" if outcome["on_target"] else "OFF TARGET"
    return f"{outcome['name']}: {outcome['value']:g}{unit}, {verdict} ({goal})."


def figure_rows(card: dict[str, Any]) -> list[tuple[str, str]]:
    """The scorecard as (figure, shown value) pairs."""
    latency = card["decision_latency"]
    trend = card["quality_trend"]
    return [("Throughput (runs ended)", number(card["throughput"])),
            ("Exception rate", number(card["exception_rate"], percent=True)),
            ("Rework (send-backs)", number(card["rework"])),
            ("Decision latency, median (h)", number(latency["median_hours"])),
            ("Decision latency, p90 (h)", number(latency["p90_hours"])),
            ("First-pass yield", number(card["first_pass_yield"], percent=True)),
            ("Quality trend (points)", NONE if trend is None else f"{trend * 100:+.0f}")]


def trend_rows(trend: Sequence[dict[str, Any]]) -> list[list[str]]:
    largest = max((float(c["throughput"]) for c in trend), default=0.0)
    return [[c["period"], number(c["throughput"]), bar(c["throughput"], largest),
             number(c["exception_rate"], percent=True), number(c["decision_latency"]["median_hours"]),
             number(c["first_pass_yield"], percent=True),
             number((c.get("outcome") or {}).get("value"))] for c in trend]


def reroutes(step: dict[str, Any]) -> str:
    """A step's re-routes, with what they were when there were any."""
    kinds = [f"{step[key]} {label}" for key, label in (("reassignments", "reassigned"),
                                                        ("delegations", "delegated"), ("escalations", "escalated"))
             if step[key]]
    return f"{step['reroutes']} ({', '.join(kinds)})" if kinds else "0"


TREND_HEADER = ("week", "throughput", "", "exception rate", "latency median h", "first-pass yield", "outcome")


def sections(pack: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]], str]]:
    """The pack's tables as (title, header, rows, text when empty), shared by the Markdown and PDF forms."""
    return [
        ("Risk triggers crossed", ["at", "trigger", "reason"],
         [[t["at"], t["trigger"], t["reason"]] for t in pack["triggers"]], "No trigger crossed."),
        ("Where work waits now", ["run", "summary", "step", "waiting on", "since", "hours", "overdue", "blocked"],
         [[w["run"], w["summary"] or "", w["step"], w["waiting_on"] or NONE, w["since"], number(w["waiting_hours"]),
           "OVERDUE" if w["overdue"] else "", "BLOCKED" if w["blocked"] else ""] for w in pack["waiting"]],
         "No open run."),
        ("Friction per step", ["step", "tasks", "done", "wait median h", "wait p90 h", "re-routes", "nudges",
                               "nudges per done", "send-backs", "loops", "handoffs", "ping-pong"],
         [[s["step"], number(s["tasks"]), number(s["completions"]), number(s["wait_median_hours"]),
           number(s["wait_p90_hours"]), reroutes(s), number(s["nudges"]), number(s["nudges_per_completion"]),
           number(s["send_backs"]), number(s["loops"]), number(s["handoffs"]), number(s["ping_pongs"])]
          for s in pack["friction"]["steps"]], "No step had work."),
        ("Handoffs per run", ["runs ended", "handoffs", "per run", "most in one run", "went back and forth"],
         [[number(r["runs"]), number(r["handoffs"]), number(r["handoffs_per_run"]), number(r["handoffs_max"]),
           number(r["ping_pong_runs"])] for r in [pack["friction"]["runs"]] if r["runs"]],
         "No run ended."),
        ("Escalations", ["at", "run", "step", "from", "to"],
         [[e["at"], e["run"], e["step"], e["from"] or NONE, e["to"] or NONE] for e in pack["escalations"]],
         "No escalation."),
        ("Decisions taken", ["at", "by", "decision", "rationale"],
         [[d["at"], d["by"], d["decision"], d["rationale"]] for d in pack["decisions"]],
         "No governance decision in this period."),
        ("Follow-ups due", ["task", "owner", "what", "due", "overdue"],
         [[f["task"], f["owner"] or NONE, f["what"] or "", f["due_at"] or NONE, "OVERDUE" if f["overdue"] else ""]
          for f in pack["follow_ups"]], "No open follow-up."),
    ]


def heading(pack: dict[str, Any]) -> tuple[str, list[str]]:
    """The title and the lines under it."""
    lines = [f"Playbook `{pack['playbook']}` version {pack['version']}; governance state: {pack['governance']}; "
             f"outcome owner: {pack['outcome_owner'] or NONE}; workflow owner: {pack['workflow_owner'] or NONE}; "
             f"prepared {pack['generated_at']}."]
    if pack["statement"]:
        lines.append(f"Outcome: {pack['statement']}" + (f" (measure: {pack['measure']})" if pack["measure"] else ""))
    return f"Weekly review: {pack['title']}, {pack['period']}", lines


def review_markdown(pack: dict[str, Any]) -> str:
    """The review pack as one Markdown document."""
    title, intro = heading(pack)
    out = [f"# {title}", ""]
    for line in intro:
        out += [line, ""]
    out += ["## Outcome", "", outcome_line(pack["outcome"]), "",
            "## This period's figures", ""]
    out += _table(["figure", "value"], [list(row) for row in figure_rows(pack["scorecard"])])
    out += ["", "## Trend", ""]
    out += _table(list(TREND_HEADER), trend_rows(pack["trend"]))
    for name, header, rows, empty in sections(pack):
        out += ["", f"## {name}", ""]
        out += _table(header, rows) if rows else [empty]
    return "\n".join(out) + "\n"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _cell(text: Any) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")
