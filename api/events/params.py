"""Turn a query string (the API's or the explorer's URL) into `EventSearchParams`.

The explorer's URL contract, which other pages link to (an alert's "events around it"):

    /events?q=<KQL>&start=<time>&end=<time>

A time is ISO 8601 (`2026-12-05T08:00:00+07:00`, `...Z`; without an offset it is Asia/Ho_Chi_Minh,
the console's zone, which is what a `datetime-local` input sends) or relative to now: `now`,
`now-15m`, `now-24h`, `now-7d` (units s, m, h, d, w). Relative bounds stay relative in links, so a
bookmarked "last 24 hours" moves with the clock. A `q` that cannot be read, a time that cannot be
read or held by a store, or a start not before its end is a 422 that says which parameter and, for
`q`, the line and column.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.exceptions import RequestValidationError

from api.paging import DEFAULT_SIZE, MAX_SIZE
from api.times import OUT_OF_RANGE, check_time
from soc_core.errors import QueryError
from soc_core.kql import DEFAULT_LIMITS, EVENT_FIELDS, Node, QueryLimits, parse_for
from soc_core.store import EventQuery

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
DEFAULT_START = "now-24h"
"""The explorer's range when a link gives none (the API's list keeps "all time")."""
_RELATIVE = re.compile(r"^now(?:\s*-\s*(\d{1,6})\s*([smhdw]))?$", re.IGNORECASE)
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SPACED_OFFSET = re.compile(r"^(\d{4}-\d{2}-\d{2}T[\d:.]+) (\d{2}:?\d{2})$")
"""`...T08:00:00 07:00`: a link's `+07:00` that was not percent-encoded arrives as a space."""
_FILTERS = {"source": "source_id", "unit": "unit_id", "system": "system_id", "host": "host_name"}


def resolve_time(text: str, now: datetime) -> datetime:
    """`text` (ISO 8601, naive = Asia/Ho_Chi_Minh, or `now[-<n><unit>]`) as an aware UTC time;
    ValueError saying what is accepted otherwise, or when no store could hold it (`api.times`)."""
    value = text.strip()
    relative = _RELATIVE.match(value)
    if relative:
        amount, unit = relative.groups()
        try:
            moment = now - timedelta(seconds=int(amount) * _UNIT_S[unit.lower()]) if amount else now
        except OverflowError:
            raise ValueError(OUT_OF_RANGE) from None
    else:
        try:
            moment = datetime.fromisoformat(_SPACED_OFFSET.sub(r"\1+\2", value))
        except ValueError:
            raise ValueError(
                "a time is ISO 8601 (2026-12-05T08:00, 2026-12-05T01:00:00Z) or relative (now-15m,"
                " now-24h, now-7d)"
            ) from None
        check_time(moment)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=VN_TZ)
    check_time(moment)
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class EventSearchParams:
    """A checked event search: the text as typed (for links and the query bar) and what it means."""

    q: str = ""
    kql: Node | None = None
    start_text: str = ""
    end_text: str = ""
    start: datetime | None = None
    end: datetime | None = None
    filters: tuple[tuple[str, str], ...] = ()
    """The API's older exact filters (`source`, `unit`, `system`, `host`), as given."""
    size: int = DEFAULT_SIZE
    cursor: str | None = None

    def to_query(
        self, *, size: int | None = None, cursor: str | None = None, count_total: bool = True
    ) -> EventQuery:
        query = EventQuery(
            start=self.start,
            end=self.end,
            kql=self.kql,
            size=self.size if size is None else size,
            cursor=cursor,
            count_total=count_total,
        )
        for key, value in self.filters:
            setattr(query, _FILTERS[key], value)
        return query

    def bounded(self, now: datetime) -> EventSearchParams:
        """The explorer's and the charts' range: from 24 hours ago unless a start is given, up to
        `now` unless an end is given (the text of an absent end stays empty: "until now")."""
        start, start_text = self.start, self.start_text
        if start is None:
            start, start_text = resolve_time(DEFAULT_START, now), DEFAULT_START
        return replace(self, start=start, start_text=start_text, end=self.end or now)

    @property
    def link_params(self) -> dict[str, str]:
        """The URL contract's parameters as given (relative times stay relative)."""
        out = {"q": self.q, "start": self.start_text, "end": self.end_text}
        out.update(dict(self.filters))
        return {k: v for k, v in out.items() if v}


def _refuse(key: str, message: str, value: object) -> RequestValidationError:
    return RequestValidationError(
        [{"type": "value_error", "loc": ("query", key), "msg": message, "input": value}]
    )


def _size(value: str | None) -> int:
    if value is None or not value.strip():
        return DEFAULT_SIZE
    try:
        size = int(value)
    except ValueError:
        raise _refuse("size", "size is a whole number", value) from None
    if not 1 <= size <= MAX_SIZE:
        raise _refuse("size", f"size is between 1 and {MAX_SIZE}", value)
    return size


def parse_events(
    query: Mapping[str, Any], limits: QueryLimits = DEFAULT_LIMITS, *, now: datetime | None = None
) -> EventSearchParams:
    """`query` is a Starlette QueryParams or a plain mapping; empty values mean "not given". `q` is
    read here, so a query that cannot be read is a 422 before any store is asked."""
    now = now or datetime.now(UTC)
    given = {k: str(v).strip() for k, v in query.items() if str(v).strip()}
    q = given.get("q", "")
    kql = None
    if q:
        try:
            kql = parse_for(q, EVENT_FIELDS, limits)
        except QueryError as exc:
            raise _refuse("q", exc.explain(), q) from None
    bounds: dict[str, datetime | None] = {}
    for key in ("start", "end"):
        text = given.get(key)
        try:
            bounds[key] = resolve_time(text, now) if text else None
        except ValueError as exc:
            raise _refuse(key, str(exc), text) from None
    start, end = bounds["start"], bounds["end"]
    if start is not None and end is not None and start >= end:
        raise _refuse("end", "end must be after start", given["end"])
    cursor = given.get("cursor")
    if cursor is not None and len(cursor) > 1024:
        raise _refuse("cursor", "cursor is at most 1024 characters", cursor)
    return EventSearchParams(
        q=q,
        kql=kql,
        start_text=given.get("start", ""),
        end_text=given.get("end", ""),
        start=start,
        end=end,
        filters=tuple((k, given[k]) for k in _FILTERS if k in given),
        size=_size(given.get("size")),
        cursor=cursor,
    )


MAX_COLUMNS = 40
_COLUMN = re.compile(r"^[A-Za-z_@][A-Za-z0-9_@.\-]{0,199}$")


def parse_columns(value: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    """`columns=host.name,user.name`: dotted field names, at most `MAX_COLUMNS`, `@timestamp` first."""
    if value is None or not value.strip():
        return default
    names = [c.strip() for c in value.split(",") if c.strip()]
    wrong = [c for c in names if not _COLUMN.match(c)]
    if wrong:
        raise _refuse("columns", f"not a field name: {wrong[0][:80]!r}", value)
    names = ["@timestamp", *dict.fromkeys(c for c in names if c != "@timestamp")]
    if len(names) > MAX_COLUMNS:
        raise _refuse("columns", f"at most {MAX_COLUMNS} columns", value)
    return tuple(names)
