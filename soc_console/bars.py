"""Server-rendered SVG bar charts of counts over time (the rules pages' alerts per day).

Geometry only: the templates draw the SVG, so no script or inline style is needed under the strict
CSP, and the numbers stay in the page as text (`<title>` per bar) for a screen reader or a tester.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

VN = ZoneInfo("Asia/Ho_Chi_Minh")


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    start: datetime
    count: int

    @property
    def day(self) -> str:
        """The bucket's day as the console writes dates (dd/mm/yyyy, Asia/Ho_Chi_Minh)."""
        return self.start.astimezone(VN).strftime("%d/%m/%Y")


@dataclass(frozen=True, slots=True)
class BarChart:
    width: int
    height: int
    bars: list[Bar]
    x_labels: list[tuple[float, str]]  # (x of the label's centre, dd/mm in Asia/Ho_Chi_Minh)
    y_labels: list[tuple[float, int]]  # (y, count) for the grid lines
    baseline: float
    total: int


def nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 × 10^k at or above `value` (at least 1): round numbers on the axis."""
    if value <= 1:
        return 1
    power = int(10 ** math.floor(math.log10(value)))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    raise AssertionError("unreachable: 10 × power is always at or above value")


def bar_chart(
    buckets: Sequence[tuple[datetime, int]], *, width: int = 720, height: int = 200, labels: int = 6
) -> BarChart:
    """One bar per bucket, scaled to a round maximum, with about `labels` dates under the axis."""
    left, right, top, bottom = 40, 8, 10, 22
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = nice_ceiling(max((c for _, c in buckets), default=0))
    slot = plot_w / max(len(buckets), 1)
    gap = min(2.0, slot / 4)
    baseline = top + plot_h
    bars = [
        Bar(
            x=round(left + i * slot + gap / 2, 1),
            y=round(baseline - plot_h * count / peak, 1),
            width=round(slot - gap, 1),
            height=round(plot_h * count / peak, 1),
            start=start,
            count=count,
        )
        for i, (start, count) in enumerate(buckets)
    ]
    every = max(1, math.ceil(len(buckets) / labels))
    x_labels = [
        (round(b.x + b.width / 2, 1), b.start.astimezone(VN).strftime("%d/%m"))
        for i, b in enumerate(bars)
        if (len(bars) - 1 - i) % every == 0  # today is always labelled
    ]
    y_labels = [(round(baseline - plot_h * v / peak, 1), v) for v in sorted({0, peak // 2, peak})]
    return BarChart(width, height, bars, x_labels, y_labels, baseline, sum(c for _, c in buckets))


def sparkline(buckets: Sequence[tuple[datetime, int]], *, bar: int = 6, height: int = 18) -> BarChart:
    """A tiny bar chart for a table cell: no axes, scaled to the row's own maximum, zeros as a tick."""
    peak = max(max((c for _, c in buckets), default=0), 1)

    def tall(count: int) -> float:
        return max(1.0, round((height - 1) * count / peak, 1))

    bars = [
        Bar(float(i * bar), height - tall(c), float(bar - 1), tall(c), start, c)
        for i, (start, c) in enumerate(buckets)
    ]
    return BarChart(len(buckets) * bar, height, bars, [], [], float(height), sum(c for _, c in buckets))
