"""The times and days the API accepts: within 1900-01-01 .. 9998-12-31, a 422 problem beyond.

Python's `datetime` spans years 1 to 9999, but a time near either end cannot be moved to UTC (the
stores write UTC: `0001-01-01T00:00+14:00` is in year 0, `9999-12-31T23:59-14:00` in year 10000),
nor a day shifted by the margins the API adds (a self-assessment due 7 days before a visit), and
`strftime` writes years before 1000 without their leading zeros, so such a time would compare wrongly
as text in SQLite. Every time or day a caller sends (query filters, body fields, console forms) is
checked here first, so none of this reaches a store as a server error.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import AfterValidator

FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(9998, 12, 31)
OUT_OF_RANGE = f"dates are between {FIRST_DAY.isoformat()} and {LAST_DAY.isoformat()}"


def check_day(value: date) -> date:
    """`value`, or ValueError (pydantic's 422) when it is outside the range every store can hold."""
    day = value.date() if isinstance(value, datetime) else value
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(OUT_OF_RANGE)
    return value


def check_time(value: datetime) -> datetime:
    """Its calendar day as written, before any zone conversion (which could itself overflow)."""
    check_day(value.date())
    return value


#: A time a caller sends (a filter bound, a deadline, a moment something happened).
Time = Annotated[datetime, AfterValidator(check_time)]
#: A calendar day a caller sends.
Day = Annotated[date, AfterValidator(check_day)]
