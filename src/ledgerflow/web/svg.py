"""Server-side SVG: the playbook's steps as a diagram, and a scorecard figure over recent weeks as a chart.

No script and no CDN: the page is readable with JavaScript off, and text inside is real text for screen
readers (each SVG carries a <title>).
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from ledgerflow.domain.durations import format_duration
from ledgerflow.domain.playbook import ActionStep, CheckStep, DecisionStep, ParallelStep, Playbook, Step, TaskStep

BOX_W, BOX_H, GAP_X, GAP_Y = 190, 56, 20, 40
LANE, LEFT, RIGHT, BAR = 14, 24, 210, 10
COLOURS = {"task": "#e8f0fe", "check": "#fef7e0", "decision": "#fce8e6", "action": "#e6f4ea"}
INK, BACK, ESCALATE = "#444", "#b3261e", "#8a4b00"


def _approvers(step: DecisionStep) -> str:
    names = [row.approve for row in step.authority] if step.authority else [step.rights.approve or "?"]
    return " / ".join(dict.fromkeys(names))


def _label(step: Step) -> str:
    if isinstance(step, TaskStep | ActionStep):
        return f"{step.type} · {step.owner or 'system'}"
    if isinstance(step, DecisionStep):
        return f"decision · {_approvers(step)}" + (f" ×{step.quorum}" if step.quorum > 1 else "")
    if isinstance(step, CheckStep):
        return f"check · {len(step.rules)} rule(s)"
    return step.type


def _box(x: int, y: int, step: Step) -> str:
    fill = COLOURS.get(step.type, "#eee")
    when = " (when …)" if step.when is not None else ""
    return (f'<g><rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="8" fill="{fill}" stroke="#555"/>'
            f'<text x="{x + 10}" y="{y + 22}" font-weight="bold">{escape(step.id)}{escape(when)}</text>'
            f'<text x="{x + 10}" y="{y + 42}" font-size="12">{escape(_label(step)[:30])}</text></g>')


def send_backs(playbook: Playbook) -> list[tuple[str, str]]:
    """(from, to) for every way a run can be sent back: a check's rules, a decision's `send_back` option (to
    the nearest earlier task outside a parallel block, the engine's default)."""
    edges: list[tuple[str, str]] = []
    for step in playbook.walk():
        if isinstance(step, CheckStep):
            targets = [rule.on_fail.send_back for rule in step.rules if rule.on_fail and rule.on_fail.send_back]
            if step.on_fail and step.on_fail.send_back:
                targets.append(step.on_fail.send_back)
            edges.extend((step.id, target) for target in dict.fromkeys(targets))
        elif isinstance(step, DecisionStep) and "send_back" in step.options:
            earlier = [s for s in playbook.before(step) if isinstance(s, TaskStep) and s.branch is None]
            if earlier:
                edges.append((step.id, earlier[-1].id))
    return edges


def escalations(playbook: Playbook) -> list[tuple[str, str, str]]:
    """(step, after, to) for every escalation of every step's SLA."""
    return [(step.id, format_duration(e.after) or "", e.to) for step in playbook.walk()
            if isinstance(step, DecisionStep) and step.sla for e in step.sla.escalate]


def diagram(playbook: Playbook) -> Markup:
    """Steps top to bottom; a parallel block's branches side by side between a fork and a join bar; send-back
    loops down the left, escalations out to the right."""
    rows: list[list[list[Step]]] = []
    for step in playbook.steps:
        rows.append([list(b) for b in step.branches] if isinstance(step, ParallelStep) else [[step]])
    loops = send_backs(playbook)
    left = LEFT + LANE * len(loops)
    columns = max(len(row) for row in rows)
    body = columns * (BOX_W + GAP_X) - GAP_X
    width = left + body + RIGHT
    mid = left + body // 2
    parts: list[str] = []
    at: dict[str, tuple[int, int]] = {}
    y = GAP_Y // 2
    for number, row in enumerate(rows):
        parallel = len(row) > 1
        depth = max(len(branch) for branch in row)
        span_w = len(row) * (BOX_W + GAP_X) - GAP_X
        start_x = left + (body - span_w) // 2
        if parallel:  # the fork bar: every branch starts together
            parts.append(f'<rect x="{start_x}" y="{y}" width="{span_w}" height="4" fill="{INK}"/>'
                         f'<text x="{start_x + span_w + 6}" y="{y + 6}" font-size="11">in parallel</text>')
            y += BAR + 8
        for column, branch in enumerate(row):
            x = start_x + column * (BOX_W + GAP_X)
            for index, step in enumerate(branch):
                top = y + index * (BOX_H + GAP_Y)
                at[step.id] = (x, top)
                parts.append(_box(x, top, step))
                if index:
                    parts.append(_arrow(x + BOX_W // 2, top - GAP_Y, top - 2))
        y += depth * (BOX_H + GAP_Y) - GAP_Y
        if parallel:  # the join: the run goes on when every branch is done
            for column, branch in enumerate(row):
                cx = start_x + column * (BOX_W + GAP_X) + BOX_W // 2
                last_y = at[branch[-1].id][1] + BOX_H
                parts.append(f'<line x1="{cx}" y1="{last_y}" x2="{cx}" y2="{y + 8}" stroke="{INK}"/>')
            y += 8
            parts.append(f'<rect x="{start_x}" y="{y}" width="{span_w}" height="4" fill="{INK}"/>'
                         f'<text x="{start_x + span_w + 6}" y="{y + 6}" font-size="11">join: all done</text>')
            y += 4
        if number < len(rows) - 1:
            parts.append(_arrow(mid, y, y + GAP_Y - 2))
        y += GAP_Y
    for lane, (source, target) in enumerate(loops):
        if source not in at or target not in at:
            continue
        lane_x = left - LANE * (lane + 1) - 4
        sx, sy = at[source]
        tx, ty = at[target]
        parts.append(f'<path d="M{sx},{sy + BOX_H // 2 + 6} H{lane_x} V{ty + BOX_H // 2 + 6} H{tx - 2}" fill="none" '
                     f'stroke="{BACK}" stroke-dasharray="5 3" marker-end="url(#back)">'
                     f"<title>{escape(source)} sends back to {escape(target)}</title></path>")
    offsets: dict[str, int] = {}
    for step_id, after, to in escalations(playbook):
        if step_id not in at:
            continue
        sx, sy = at[step_id]
        row_y = sy + 14 + 18 * offsets.get(step_id, 0)
        offsets[step_id] = offsets.get(step_id, 0) + 1
        end_x = left + body + 28
        parts.append(f'<line x1="{sx + BOX_W}" y1="{row_y}" x2="{end_x}" y2="{row_y}" stroke="{ESCALATE}" '
                     f'stroke-dasharray="2 2" marker-end="url(#esc)"/>'
                     f'<text x="{end_x + 6}" y="{row_y + 4}" font-size="11" fill="{ESCALATE}">'
                     f"after {escape(after)} → {escape(to)}</text>")
    described = "; ".join([*(f"{a} can send the run back to {b}" for a, b in loops),
                           *(f"{s} escalates to {to} after {after}" for s, after, to in escalations(playbook))])
    return Markup(
        f'<svg role="img" viewBox="0 0 {width} {y}" width="100%" style="max-width:{width}px" '
        f'font-family="system-ui, sans-serif" font-size="14" aria-labelledby="diagram-title diagram-desc">'
        f'<title id="diagram-title">Steps of {escape(playbook.title)}</title>'
        f'<desc id="diagram-desc">{escape(described)}</desc><defs>'
        + "".join(f'<marker id="{name}" markerWidth="8" markerHeight="8" refX="7" refY="4" orient="auto">'
                  f'<path d="M0,0 L8,4 L0,8 z" fill="{colour}"/></marker>'
                  for name, colour in (("arrow", INK), ("back", BACK), ("esc", ESCALATE)))
        + "</defs>" + "".join(parts) + "</svg>")


def _arrow(x: int, y1: int, y2: int) -> str:
    return f'<line x1="{x}" y1="{y1}" x2="{x}" y2="{y2}" stroke="{INK}" marker-end="url(#arrow)"/>'


def chart(title: str, labels: Sequence[str], values: Sequence[float | None], *, percent: bool = False) -> Markup:
    """A small line chart of one figure over periods; gaps where the figure is null."""
    width, height, pad = 320, 140, 30
    known = [v for v in values if v is not None]
    top = max([*known, 1.0 if percent else 0.0]) or 1.0
    step = (width - 2 * pad) / max(len(values) - 1, 1)
    points, marks = [], []
    for index, value in enumerate(values):
        if value is None:
            continue
        x = pad + index * step
        y = height - pad - (value / top) * (height - 2 * pad)
        points.append(f"{x:.1f},{y:.1f}")
        shown = f"{value:.0%}" if percent else f"{value:.1f}"
        marks.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#1a73e8"/>'
                     f'<text x="{x:.1f}" y="{y - 8:.1f}" font-size="10" text-anchor="middle">{shown}</text>')
    axis = "".join(f'<text x="{pad + i * step:.1f}" y="{height - 8}" font-size="10" text-anchor="middle">'
                   f"{escape(label[-3:])}</text>" for i, label in enumerate(labels))
    line = f'<polyline fill="none" stroke="#1a73e8" stroke-width="2" points="{" ".join(points)}"/>' if points else ""
    return Markup(f'<svg role="img" viewBox="0 0 {width} {height}" width="100%" style="max-width:{width}px" '
                  f'font-family="system-ui, sans-serif"><title>{escape(title)}</title>'
                  f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#999"/>'
                  f"{line}{''.join(marks)}{axis}</svg>")
