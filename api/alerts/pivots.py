"""Pivots from an alert to the event explorer: the events around it on the same host, user or
source IP, as links in the explorer's URL contract `/events?q=<KQL>&start=<ISO 8601>&end=<ISO 8601>`.

The window runs from `minutes` before the alert's first evidence to `minutes` after its last (15 by
default, editable on the alert page). Values go into the KQL as quoted phrases, escaped the way the
parser reads them back (`kql_phrase`), so a host named `a"b` or a path with backslashes is searched
as itself; the field names are the events' (`soc_core.kql.EVENT_FIELDS`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from pydantic import BaseModel, Field

from soc_core.alert import Alert
from soc_core.event import flatten

EXPLORER = "/events"
AROUND_MINUTES = 15
MAX_AROUND_MINUTES = 7 * 24 * 60
"""The widest window a pivot asks for (a week either side); the explorer pages whatever it finds."""
PIVOT_FIELDS = {"host": "host.name", "user": "user.name", "source_ip": "source.ip"}
"""Pivot name -> the event field it searches."""


class Pivot(BaseModel):
    by: str = Field(description="host, user or source_ip")
    field: str = Field(description="the event field searched")
    value: str
    url: str = Field(description="the event explorer on that value around the alert")


def kql_phrase(value: str) -> str:
    """`value` as a KQL quoted phrase: `"` and `\\` escaped, nothing else special inside quotes."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def iso(moment: datetime) -> str:
    """The explorer's times: ISO 8601 in UTC with `Z`, to the second."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def explorer_url(query: str, start: datetime, end: datetime) -> str:
    return f"{EXPLORER}?{urlencode({'q': query, 'start': iso(start), 'end': iso(end)})}"


def pivot_values(alert: Alert, event: dict[str, Any]) -> dict[str, str]:
    """The alert's host, user and source IP as its event records them (the alert's own host and user
    when the event has none), by pivot name; absent ones left out."""
    flat = flatten(event)
    fallback = {"host": alert.host_name, "user": alert.user_name}
    out: dict[str, str] = {}
    for by, field in PIVOT_FIELDS.items():
        value = flat.get(field)
        value = value if isinstance(value, str | int) and str(value).strip() else fallback.get(by)
        if value:
            out[by] = str(value)
    return out


def around(alert: Alert, span: timedelta) -> tuple[datetime, datetime]:
    """From `span` before the alert's first evidence to `span` after its last (repeats included)."""
    first = min(alert.timestamp, alert.first_seen or alert.timestamp)
    last = max(alert.timestamp, alert.last_seen or alert.timestamp)
    return first - span, last + span


def pivots(alert: Alert, event: dict[str, Any], minutes: int = AROUND_MINUTES) -> list[Pivot]:
    start, end = around(alert, timedelta(minutes=minutes))
    return [
        Pivot(
            by=by,
            field=PIVOT_FIELDS[by],
            value=value,
            url=explorer_url(f"{PIVOT_FIELDS[by]}:{kql_phrase(value)}", start, end),
        )
        for by, value in pivot_values(alert, event).items()
    ]
