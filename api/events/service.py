"""The event explorer's reads: a page of matches, the histogram, the field sidebar, and everything at once.

Counts are exact where the analyst reads a number about the whole query (the total, each bar of the
histogram); the field sidebar's top values come from a sample, the newest `sample_size` matches, as
in Kibana Discover: reading every match's fields to count values is what makes a page slow over
millions of events, and the sample is what the analyst is looking at anyway. Over Elasticsearch
`explore` asks the three questions at once, so the page waits for the slowest, not the sum.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from api.events.params import EventSearchParams
from soc_core.event import Event
from soc_core.kql import EVENT_FIELDS, Kind
from soc_core.store import MAX_HISTOGRAM_BUCKETS, EventStore, HistogramBucket, Page

TARGET_BARS = 60
"""About as many bars as a chart 1,000 pixels wide shows legibly (Kibana aims at 50 to 100)."""
NICE_INTERVALS = (
    1,
    5,
    10,
    30,
    60,
    5 * 60,
    10 * 60,
    30 * 60,
    3600,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86400,
    7 * 86400,
    30 * 86400,
)
VN_OFFSET_S = -7 * 3600
"""Buckets of a day (or 3, 6, 12 hours) start at midnight in Asia/Ho_Chi_Minh, not in UTC."""
TOP_VALUES = 5
"""Values listed per field in the sidebar (more are a click on "filter in" away)."""


def pick_interval(span_s: float) -> int:
    """The first round interval that draws at most `TARGET_BARS` bars over `span_s` seconds, or
    for a span longer than 60 round months, whatever draws exactly that many."""
    for interval in NICE_INTERVALS:
        if span_s / interval <= TARGET_BARS:
            return interval
    return math.ceil(span_s / TARGET_BARS)


def bucket_floor(moment: datetime, interval_s: int, offset_s: int = VN_OFFSET_S) -> datetime:
    """The start of the bucket `moment` falls in (the store's `k * interval + offset` grid)."""
    offset_s %= interval_s
    seconds = math.floor(moment.timestamp())
    return datetime.fromtimestamp((seconds - offset_s) // interval_s * interval_s + offset_s, UTC)


@dataclass(frozen=True)
class Histogram:
    """Matches per bucket over [start, end), every bucket present (empty ones at 0)."""

    start: datetime
    end: datetime
    interval_s: int
    buckets: list[HistogramBucket]

    @property
    def total(self) -> int:
        return sum(b.count for b in self.buckets)


def histogram(
    *, store: EventStore, params: EventSearchParams, now: datetime, interval_s: int | None = None
) -> Histogram:
    """`params` must be `bounded`; `interval_s` None picks a round one (`pick_interval`)."""
    assert params.start is not None and params.end is not None, "bounded() first"
    start, end = params.start, params.end
    interval = interval_s or pick_interval((end - start).total_seconds())
    found = {b.start: b.count for b in store.event_histogram(params.to_query(), interval, VN_OFFSET_S)}
    buckets = []
    at = bucket_floor(start, interval)
    step = timedelta(seconds=interval)
    while at < end:
        buckets.append(HistogramBucket(at, found.get(at, 0)))
        at += step
    return Histogram(start, end, interval, buckets)


def histogram_bucket_limit(start: datetime, end: datetime, interval_s: int) -> str | None:
    """Why a histogram cannot be drawn at this interval, or None (checked before any store is asked)."""
    if (end - start).total_seconds() / interval_s > MAX_HISTOGRAM_BUCKETS:
        return f"at most {MAX_HISTOGRAM_BUCKETS} bars: choose a larger interval or a shorter range"
    return None


# -- the field sidebar ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldValues:
    """One field of the sample: in how many of its events, and its most frequent values."""

    name: str
    present: int
    top: list[tuple[str, int]]
    kind: Kind | None
    """What a search may do with it; None: the stores do not index it (shown, not filterable)."""

    @property
    def searchable(self) -> bool:
        return self.kind is not None


@dataclass(frozen=True)
class FieldSummary:
    sample: int
    fields: list[FieldValues] = field(default_factory=list)


def cell_text(value: Any) -> str | None:
    """A field's value as the sidebar, the table and the CSV export show it (None: no value)."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        parts = [cell_text(v) for v in value]
        return ", ".join(p for p in parts if p is not None) or None
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _values(value: Any) -> Iterator[str]:
    """The values a field holds for counting: each element of a list on its own."""
    for item in value if isinstance(value, list) else [value]:
        text = cell_text(item)
        if text is not None:
            yield text


def summarize(events: Iterable[Event], top: int = TOP_VALUES) -> FieldSummary:
    """Per field of `events`: how many have it and its `top` most frequent values (ties by value)."""
    present: Counter[str] = Counter()
    counts: dict[str, Counter[str]] = {}
    sample = 0
    for event in events:
        sample += 1
        for name, value in event.flat().items():
            values = set(_values(value))
            if not values:
                continue
            present[name] += 1
            counts.setdefault(name, Counter()).update(values)
    fields = [
        FieldValues(
            name,
            present[name],
            sorted(counts[name].items(), key=lambda kv: (-kv[1], kv[0]))[:top],
            EVENT_FIELDS.kind(name),
        )
        for name in sorted(present)
    ]
    return FieldSummary(sample, fields)


def field_summary(
    *, store: EventStore, params: EventSearchParams, sample_size: int, top: int = TOP_VALUES
) -> FieldSummary:
    return summarize(store.search_events(params.to_query(size=sample_size, count_total=False)).items, top)


# -- the whole page -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Exploration:
    page: Page[Event]
    histogram: Histogram
    fields: FieldSummary


def explore(
    *, store: EventStore, params: EventSearchParams, now: datetime, sample_size: int, parallel: bool
) -> Exploration:
    """The explorer page's three reads (`params` bounded): the page with its exact total, the
    histogram and the sidebar's sample. `parallel` asks them at once, for a store that answers
    requests side by side (Elasticsearch); SQLite's one connection answers one at a time, and there
    threads only add their switching (measured: no faster, up to a fifth slower)."""
    if not parallel:
        return Exploration(
            store.search_events(params.to_query(cursor=params.cursor)),
            histogram(store=store, params=params, now=now),
            field_summary(store=store, params=params, sample_size=sample_size),
        )
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="explore") as pool:
        page = pool.submit(store.search_events, params.to_query(cursor=params.cursor))
        bars = pool.submit(histogram, store=store, params=params, now=now)
        fields = pool.submit(field_summary, store=store, params=params, sample_size=sample_size)
        return Exploration(page.result(), bars.result(), fields.result())


# -- export ---------------------------------------------------------------------------------------

EXPORT_CHUNK = 1_000
"""Events read per store request while exporting: one request per thousand rows written."""


@dataclass
class ExportPlan:
    """What an export will write: `rows` of the `total` matches (at most the limit), then `events`."""

    total: int
    rows: int
    events: Iterator[Event]


def export_events(*, store: EventStore, params: EventSearchParams, limit: int) -> ExportPlan:
    """The matches newest first, read a chunk at a time by cursor as the response is written (memory
    stays one chunk however large the export); the first chunk is read now, so the total is known
    before the first byte is sent and a store error is still an error answer."""
    first = store.search_events(params.to_query(size=min(EXPORT_CHUNK, limit)))

    def events() -> Iterator[Event]:
        page, written = first, 0
        while True:
            yield from page.items[: limit - written]
            written += min(len(page.items), limit - written)
            if page.cursor is None or written >= limit:
                return
            page = store.search_events(
                params.to_query(
                    size=min(EXPORT_CHUNK, limit - written), cursor=page.cursor, count_total=False
                )
            )

    return ExportPlan(first.total, min(first.total, limit), events())
