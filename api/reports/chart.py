"""Bar charts for the Vietnamese reports: one reportlab drawing, placed in the PDF as vectors and in
the DOCX as a PNG (pypdfium2 renders the drawing's own one-page PDF), so both show the same chart."""

from __future__ import annotations

import io
from collections.abc import Sequence

import pypdfium2
from reportlab.graphics import renderPDF
from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.units import cm

from api.reports.pdf import register_fonts

PALETTE = ["#3b82c4", "#e0a526", "#d9582b", "#a3162b"]
"""Severity colours from low to critical."""
MAX_LABEL = 18


def _short(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def bar_chart(
    categories: Sequence[str], series: Sequence[tuple[str, Sequence[int]]], width_cm: float
) -> Drawing:
    """Grouped bars: one group per category (a unit), one bar per series (a severity), a legend below."""
    regular, _bold = register_fonts()
    width, height = width_cm * cm, 5.2 * cm
    d = Drawing(width, height)
    chart = VerticalBarChart()
    chart.x, chart.y = 1.2 * cm, 1.5 * cm
    chart.width, chart.height = width - 1.6 * cm, height - 1.8 * cm
    chart.data = [list(values) or [0] for _name, values in series] or [[0]]
    chart.categoryAxis.categoryNames = [_short(c) for c in categories] or ["—"]
    chart.categoryAxis.labels.fontName = regular
    chart.categoryAxis.labels.fontSize = 7
    chart.categoryAxis.labels.angle = 20 if len(categories) > 4 else 0
    chart.categoryAxis.labels.boxAnchor = "ne" if len(categories) > 4 else "n"
    chart.valueAxis.labels.fontName = regular
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.valueMin = 0
    top = max((v for _n, values in series for v in values), default=0)
    chart.valueAxis.valueMax = max(4, top + 1)
    chart.valueAxis.valueStep = max(1, (top + 4) // 5)
    chart.groupSpacing = 6
    for i in range(len(chart.data)):
        chart.bars[i].fillColor = colors.HexColor(PALETTE[i % len(PALETTE)])
        chart.bars[i].strokeWidth = 0.3
    d.add(chart)
    legend = Legend()
    legend.x, legend.y = 1.2 * cm, 0.25 * cm
    legend.fontName, legend.fontSize = regular, 7.5
    legend.alignment = "right"
    legend.columnMaximum = 1
    legend.deltax = 2.8 * cm
    legend.colorNamePairs = [
        (colors.HexColor(PALETTE[i % len(PALETTE)]), name) for i, (name, _v) in enumerate(series)
    ]
    d.add(legend)
    return d


def chart_png(drawing: Drawing, dpi: int = 150) -> bytes:
    """The drawing as a PNG, rendered by PDFium from the drawing's own PDF."""
    pdf = renderPDF.drawToString(drawing)
    document = pypdfium2.PdfDocument(pdf)
    try:
        image = document[0].render(scale=dpi / 72).to_pil()
    finally:
        document.close()
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
