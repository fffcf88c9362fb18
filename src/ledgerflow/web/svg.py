"""Server-side SVG: the playbook's steps as a diagram, and a scorecard figure over recent weeks as a chart.

No script and no CDN: the page is readable with JavaScript off, and text inside is real text for screen
readers (each SVG carries a <title>).
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from ledgerflow.domain.playbook import ActionStep, CheckStep, DecisionStep, ParallelStep, Playbook, Step, TaskStep

BOX_W, BOX_H, GAP_X, GAP_Y = 190, 56, 20, 30
COLOURS = {"task": "#e8f0fe", "check": "#fef7e0", "decision": "#fce8e6", "action": "#e6f4ea"}


def _label(step: Step) -> str:
    if isinstance(step, TaskStep | ActionStep):
        return f"{step.type} · {step.owner or 'system'}"
    if isinstance(step, DecisionStep):
        who = step.rights.approve or (step.authority[0].approve if step.authority else "?")
        return f"decision · {who}" + (f" ×{step.quorum}" if step.quorum > 1 else "")
    if isinstance(step, CheckStep):
        return f"check · {len(step.rules)} rule(s)"
    return step.type


def _box(x: int, y: int, step: Step) -> str:
    fill = COLOURS.get(step.type, "#eee")
    when = " (when …)" if step.when is not None else ""
    return (f'<g><rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="8" fill="{fill}" stroke="#555"/>'
            f'<text x="{x + 10}" y="{y + 22}" font-weight="bold">{escape(step.id)}{escape(when)}</text>'
            f'<text x="{x + 10}" y="{y + 42}" font-size="12">{escape(_label(step))}</text></g>')


def diagram(playbook: Playbook) -> Markup:
    """Steps top to bottom; a parallel block's branches side by side."""
    rows: list[list[list[Step]]] = []
    for step in playbook.steps:
        rows.append([list(b) for b in step.branches] if isinstance(step, ParallelStep) else [[step]])
    width = max(len(row) for row in rows) * (BOX_W + GAP_X) + GAP_X
    parts, y = [], GAP_Y // 2
    for row in rows:
        depth = max(len(branch) for branch in row)
        for column, branch in enumerate(row):
            x = GAP_X + column * (BOX_W + GAP_X)
            for index, step in enumerate(branch):
                parts.append(_box(x, y + index * (BOX_H + GAP_Y), step))
        y += depth * (BOX_H + GAP_Y)
        if row is not rows[-1]:
            mid = width // 2
            parts.append(f'<line x1="{mid}" y1="{y - GAP_Y}" x2="{mid}" y2="{y - 4}" stroke="#555" '
                         'marker-end="url(#arrow)"/>')
    height = y
    return Markup(
        f'<svg role="img" viewBox="0 0 {width} {height}" width="100%" style="max-width:{width}px" '
        f'font-family="system-ui, sans-serif" font-size="14"><title>Steps of {escape(playbook.title)}</title>'
        '<defs><marker id="arrow" markerWidth="8" markerHeight="8" refX="4" refY="4" orient="auto">'
        '<path d="M0,0 L8,4 L0,8 z" fill="#555"/></marker></defs>' + "".join(parts) + "</svg>")


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
