"""The weekly review pack as a PDF (fpdf2): the same sections as the Markdown form, with the trend drawn as
bar charts, ready to send before the meeting.

Text is set in DejaVu Sans when the system has it (every character of recorded text prints); otherwise in
the PDF core font Helvetica, which holds Latin-1 only, so other characters print as `?`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from ledgerflow.domain.review import TREND_HEADER, figure_rows, heading, outcome_line, sections, trend_rows

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))
_CHART_HEIGHT = 28.0
_BAR_COLOUR = (70, 110, 160)
_TARGET_COLOUR = (200, 60, 60)


class _Pack(FPDF):
    def __init__(self, font_dirs: Sequence[Path]) -> None:
        super().__init__(orientation="landscape", format="A4")
        self.set_auto_page_break(auto=True, margin=12)
        self.unicode = False
        for folder in font_dirs:
            regular, bold = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"
            if regular.exists() and bold.exists():
                self.add_font("body", "", str(regular))
                self.add_font("body", "B", str(bold))
                self.unicode = True
                break
        self.family = "body" if self.unicode else "helvetica"

    def text_of(self, value: Any) -> str:
        text = " ".join(str(value).split())
        return text if self.unicode else text.encode("latin-1", "replace").decode("latin-1")

    def heading(self, text: str, size: int = 13) -> None:
        self.set_font(self.family, "B", size)
        self.ln(2)
        self.multi_cell(0, 7, self.text_of(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(self.family, "", 9)

    def paragraph(self, text: str) -> None:
        self.set_font(self.family, "", 9)
        self.multi_cell(0, 5, self.text_of(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def grid(self, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self.set_font(self.family, "", 8)
        with self.table(first_row_as_headings=True, line_height=4.5, text_align="LEFT") as table:
            for cells in [list(header), *rows]:
                row = table.row()
                for cell in cells:
                    row.cell(self.text_of(cell))
        self.ln(1)

    def chart(self, title: str, labels: Sequence[str], values: Sequence[float | None],
              target: float | None = None) -> None:
        """Vertical bars, one per label, scaled to the largest value (and the target line, when given)."""
        shown = [v or 0.0 for v in values]
        top = max([*shown, target or 0.0, 0.0])
        if self.will_page_break(_CHART_HEIGHT + 14):
            self.add_page()
        self.set_font(self.family, "B", 9)
        self.cell(0, 5, self.text_of(title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(self.family, "", 7)
        left, base = self.l_margin + 4, self.get_y() + _CHART_HEIGHT
        width = 26.0
        for index, (label, value) in enumerate(zip(labels, values, strict=True)):
            x = left + index * (width + 6)
            height = _CHART_HEIGHT * (value or 0.0) / top if top > 0 else 0.0
            self.set_fill_color(*_BAR_COLOUR)
            if height > 0:
                self.rect(x, base - height, width, height, style="F")
            self.set_xy(x, base - height - 4)
            self.cell(width, 4, "–" if value is None and self.unicode else "-" if value is None else f"{value:g}",
                      align="C")
            self.set_xy(x, base + 1)
            self.cell(width, 4, self.text_of(label), align="C")
        if target is not None and top > 0:
            y = base - _CHART_HEIGHT * target / top
            self.set_draw_color(*_TARGET_COLOUR)
            self.line(left - 2, y, left + len(labels) * (width + 6), y)
            self.set_xy(left + len(labels) * (width + 6), y - 2)
            self.cell(30, 4, self.text_of(f"target {target:g}"))
            self.set_draw_color(0, 0, 0)
        self.set_xy(self.l_margin, base + 7)


def review_pdf(pack: dict[str, Any], font_dirs: Sequence[Path] = FONT_DIRS) -> bytes:
    """The review pack as PDF bytes; `font_dirs` are searched for DejaVu Sans."""
    pdf = _Pack(font_dirs)
    pdf.set_title(f"Weekly review {pack['playbook']} {pack['period']}")
    pdf.add_page()
    title, intro = heading(pack)
    pdf.heading(title, 16)
    for line in intro:
        pdf.paragraph(line.replace("`", ""))
    pdf.heading("Outcome")
    pdf.paragraph(outcome_line(pack["outcome"]))
    pdf.heading("This period's figures")
    pdf.grid(["figure", "value"], figure_rows(pack["scorecard"]))
    pdf.heading("Trend")
    trend = pack["trend"]
    weeks = [card["period"] for card in trend]
    pdf.chart("Runs ended per week", weeks, [float(card["throughput"]) for card in trend])
    if pack["outcome"] is not None:
        values = [(card.get("outcome") or {}).get("value") for card in trend]
        pdf.chart(f"{pack['outcome']['name']} per week", weeks, values, target=pack["outcome"]["target"])
    pdf.grid([h for h in TREND_HEADER if h], [[c for i, c in enumerate(row) if TREND_HEADER[i]]
                                             for row in trend_rows(trend)])
    for name, header, rows, empty in sections(pack):
        pdf.heading(name)
        if rows:
            pdf.grid(header, rows)
        else:
            pdf.paragraph(empty)
    return bytes(pdf.output())
