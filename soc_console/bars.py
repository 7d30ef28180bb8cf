"""A server-rendered SVG bar chart of counts over time (the explorer's histogram), like `charts.py`:
no script, so it passes the strict CSP; each bar is a link that zooms into its own time range."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

VN = ZoneInfo("Asia/Ho_Chi_Minh")


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    count: int
    label: str
    """Its time range in Asia/Ho_Chi_Minh, for the tooltip."""
    href: str


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    bars: list[Bar]
    x_labels: list[tuple[float, str, str]]  # (x, text, SVG text-anchor)
    y_labels: list[tuple[float, int]]  # (y, count): the axis' 0 and its top
    left: int
    bottom: float


def _format(interval_s: int, span_s: float) -> str:
    if interval_s >= 86400:
        return "%d/%m/%Y"
    return "%H:%M:%S" if interval_s < 60 else ("%H:%M" if span_s <= 86400 else "%d/%m %H:%M")


def bar_chart(
    buckets: Sequence[tuple[datetime, int]],
    interval_s: int,
    href: Callable[[datetime, datetime], str],
    *,
    width: int = 960,
    height: int = 130,
) -> BarChart:
    """One bar per bucket (every bucket of the range, zeros included, in order), scaled into a
    width×height box with room for the axes; `href(start, end)` is where a bar's link goes."""
    left, right, top, bottom_margin = 48, 8, 8, 20
    plot_w, plot_h = width - left - right, height - top - bottom_margin
    bottom = top + plot_h
    peak = max((count for _, count in buckets), default=0)
    scale = max(peak, 1)
    slot = plot_w / max(len(buckets), 1)
    gap = 1.0 if slot > 4 else 0.0
    step = timedelta(seconds=interval_s)
    span = interval_s * len(buckets)
    fmt = _format(interval_s, span)
    bars = []
    for n, (start, count) in enumerate(buckets):
        if count == 0:
            continue
        h = max(plot_h * count / scale, 1.0)
        local = start.astimezone(VN)
        label = f"{local.strftime('%d/%m/%Y %H:%M:%S')} – {(local + step).strftime(fmt)}"
        bars.append(
            Bar(
                round(left + n * slot, 2),
                round(bottom - h, 2),
                round(max(slot - gap, 0.5), 2),
                round(h, 2),
                count,
                label,
                href(start, start + step),
            )
        )
    x_labels: list[tuple[float, str, str]] = []
    if buckets:
        ticks = min(5, len(buckets))
        for i in range(ticks):
            n = round(i * (len(buckets) - 1) / max(ticks - 1, 1))
            anchor = "start" if i == 0 else ("end" if i == ticks - 1 and ticks > 1 else "middle")
            text = buckets[n][0].astimezone(VN).strftime(fmt)
            x_labels.append(
                (round(left + n * slot + (0 if anchor == "start" else slot / 2), 1), text, anchor)
            )
    y_labels = [(bottom, 0), (float(top), peak)] if peak else []
    return BarChart(width, height, bars, x_labels, y_labels, left, bottom)


def sparkline(buckets: Sequence[tuple[datetime, int]], *, bar: int = 6, height: int = 18) -> BarChart:
    """A tiny chart for a table cell (the rules listing's alerts per day): one bar per bucket, zeros
    included as a one-pixel tick, scaled to the row's own maximum, no axes and no links."""
    peak = max(max((c for _, c in buckets), default=0), 1)

    def tall(count: int) -> float:
        return max(1.0, round((height - 1) * count / peak, 1))

    bars = [
        Bar(
            float(i * bar),
            height - tall(c),
            float(bar - 1),
            tall(c),
            c,
            start.astimezone(VN).strftime("%d/%m/%Y"),
            "",
        )
        for i, (start, c) in enumerate(buckets)
    ]
    return BarChart(len(buckets) * bar, height, bars, [], [], 0, float(height))
