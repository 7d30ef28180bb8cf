"""Server-rendered SVG charts: no script needed, so they pass the strict CSP and print well."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

VN = ZoneInfo("Asia/Ho_Chi_Minh")


@dataclass(frozen=True)
class LineChart:
    width: int
    height: int
    path: str
    x_labels: list[tuple[float, str, str]]  # (x, text, SVG text-anchor)
    y_labels: list[tuple[float, str]]
    empty: bool
    last_value: float | None


def line_chart(
    points: list[tuple[datetime, float]], *, width: int = 720, height: int = 220, y_max: float = 100.0
) -> LineChart:
    """A polyline of (time, percent) scaled into a width×height box with a left/bottom margin."""
    left, bottom, top, right = 40, 24, 10, 10
    plot_w, plot_h = width - left - right, height - top - bottom
    y_labels = [(top + plot_h - plot_h * v / y_max, f"{v:g}%") for v in (0, 25, 50, 75, 100)]
    if len(points) < 2:
        return LineChart(width, height, "", [], y_labels, True, points[-1][1] if points else None)
    t0, t1 = points[0][0].timestamp(), points[-1][0].timestamp()
    span = max(t1 - t0, 1.0)

    def xy(at: datetime, value: float) -> tuple[float, float]:
        x = left + plot_w * (at.timestamp() - t0) / span
        y = top + plot_h - plot_h * max(0.0, min(value, y_max)) / y_max
        return round(x, 1), round(y, 1)

    path = "M" + " L".join(f"{x},{y}" for x, y in (xy(at, v) for at, v in points))
    fmt = "%d/%m %H:%M" if span < 3 * 86400 else "%d/%m"
    anchors = ["start", "middle", "middle", "middle", "end"]
    x_labels = [
        (left + plot_w * i / 4, datetime.fromtimestamp(t0 + span * i / 4, VN).strftime(fmt), anchors[i])
        for i in range(5)
    ]
    return LineChart(width, height, path, x_labels, y_labels, False, points[-1][1])
