"""Report periods on the Vietnamese calendar: a week runs Monday 00:00 to Monday 00:00 (UTC+7), a
month from its first day to the next month's first day. A report is due once its period ended."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal

from soc_core.inspections import vn_day_start, vn_today

ReportKind = Literal["weekly", "monthly"]
KINDS: tuple[ReportKind, ...] = ("weekly", "monthly")


def period_of(kind: ReportKind, day: date) -> tuple[date, date]:
    """The week or month holding `day`, as its first day and the first day after it."""
    if kind == "weekly":
        first = day - timedelta(days=day.weekday())
        return first, first + timedelta(days=7)
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following


def last_complete(kind: ReportKind, now: datetime) -> tuple[date, date]:
    """The latest week or month that has ended at `now`."""
    current, _ = period_of(kind, vn_today(now))
    return period_of(kind, current - timedelta(days=1))


def bounds(first: date, following: date) -> tuple[datetime, datetime]:
    """The period as UTC instants, the end exclusive."""
    return vn_day_start(first), vn_day_start(following)


def period_label(kind: ReportKind, first: date) -> str:
    """`tuần 23 năm 2025`, `tháng 06/2025`: how titles and mail subjects name the period."""
    if kind == "weekly":
        year, week, _ = first.isocalendar()
        return f"tuần {week} năm {year}"
    return f"tháng {first:%m/%Y}"
