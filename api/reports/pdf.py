"""PDF building blocks shared by the Vietnamese reports (coverage, unit dossier).

reportlab's built-in fonts cannot draw Vietnamese; DejaVu Sans (Debian's fonts-dejavu-core) can,
so it is registered once and used for every paragraph and table.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Table, TableStyle

from soc_core.errors import ConfigError

FONT_DIRS = [Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/local/share/fonts/dejavu")]


@cache
def register_fonts() -> tuple[str, str]:
    """Register DejaVu Sans (regular, bold) and return their names."""
    for folder in FONT_DIRS:
        regular, bold = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"
        if regular.exists() and bold.exists():
            pdfmetrics.registerFont(TTFont("DejaVuSans", str(regular)))
            pdfmetrics.registerFont(TTFont("DejaVuSans-Bold", str(bold)))
            return "DejaVuSans", "DejaVuSans-Bold"
    raise ConfigError(
        "DejaVu Sans not found: install the Debian package fonts-dejavu-core",
        searched=",".join(map(str, FONT_DIRS)),
    )


@cache
def styles() -> dict[str, ParagraphStyle]:
    regular, bold = register_fonts()
    base = getSampleStyleSheet()
    return {
        "title": ParagraphStyle("title", parent=base["Title"], fontName=bold, fontSize=15, leading=19),
        "h2": ParagraphStyle(
            "h2", parent=base["Heading2"], fontName=bold, fontSize=12, leading=15, spaceBefore=8
        ),
        "body": ParagraphStyle("body", parent=base["BodyText"], fontName=regular, fontSize=9.5, leading=12.5),
        "small": ParagraphStyle("small", parent=base["BodyText"], fontName=regular, fontSize=8, leading=10),
        "center": ParagraphStyle("center", parent=base["BodyText"], fontName=bold, fontSize=10, alignment=1),
    }


def table(rows: list[list[str]], widths: list[float] | None = None) -> Table:
    """A grid table with a shaded header row, in the report font."""
    regular, bold = register_fonts()
    t = Table(rows, colWidths=widths, repeatRows=1)
    t.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), regular),
                ("FONTNAME", (0, 0), (-1, 0), bold),
                ("FONTSIZE", (0, 0), (-1, -1), 8.5),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e6ebf2")),
                ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#8a94a6")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return t
