"""The event explorer (`/events`) and one event's document (`/events/<id>`).

One request renders the whole page: the page of matches with its exact total, the histogram and the
field sidebar (`api.events.service.explore`; at once in distributed mode). The URL is the state,
so a view can be bookmarked, shared and linked from other pages (`api.events.params` has the
contract: `q`, `start`, `end`; `columns` picks the table's columns). Clicking a value filters in or
out by adding a clause to the query as typed (`soc_console.explorer`); a bar of the histogram zooms
into its time range. An event's whole document opens under its row (fetched by `static/explorer.js`
from `/events/<id>?fragment=1`), or as a page of its own without script. A query that cannot be read
is shown above the results with where it went wrong, not as a bare error page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response

from api.errors import NotFound
from api.events import service
from api.events.export import DEFAULT_COLUMNS
from api.events.params import VN_TZ, EventSearchParams, parse_columns, parse_events
from api.paging import check_store_cursor
from soc_console.bars import bar_chart
from soc_console.explorer import ANYWHERE, FIELD_NAME, add_clause, clause, marked, quoted, terms
from soc_console.pages.common import Reader, app_context, render, see_other, url_with
from soc_core.event import Event
from soc_core.kql import EVENT_FIELDS
from soc_core.kql.highlight import Term
from soc_core.settings import Mode

router = APIRouter()

QUICK_RANGES = ("now-15m", "now-1h", "now-4h", "now-24h", "now-7d", "now-30d")
"""The picker's relative ranges (their labels are in the template)."""
ACTIONS = ("add", "pivot", "toggle")
"""The value buttons' parameters (`View.after_action`); the answer is a redirect to the plain URL."""
FALLBACK = "event.original"
"""Shown, muted, in the message column of an event without a message."""


class View:
    """The links of one explorer view: the same query, range and columns with one change."""

    def __init__(self, params: EventSearchParams, columns: tuple[str, ...]) -> None:
        self.params = params
        self.columns = columns
        self.base = params.link_params
        extra = [c for c in columns if c != "@timestamp"]
        if tuple(columns) != DEFAULT_COLUMNS:
            self.base["columns"] = ",".join(extra)

    def url(self, **changes: str | None) -> str:
        return url_with("/events", self.base, **changes)

    def filter(self, field: str, value: str, *, exclude: bool = False) -> str | None:
        """The clause a value's filter-in (or -out) button adds; None where a query cannot name the field."""
        if EVENT_FIELDS.kind(field) is None or not FIELD_NAME.match(field):
            return None
        return clause(field, value, exclude=exclude)

    @staticmethod
    def everywhere(value: str) -> str:
        """The query a value's "search this everywhere" button runs: the value as free text."""
        return quoted(value)

    @staticmethod
    def alerts_with(value: str) -> str:
        return url_with("/alerts", {"q": quoted(value), "status": "all"})

    def toggled(self, field: str) -> str:
        """The `columns` parameter with `field` added or removed."""
        shown = [c for c in self.columns if c != "@timestamp"]
        chosen = [c for c in shown if c != field] if field in shown else [*shown, field]
        return ",".join(chosen) or "@timestamp"

    def after_action(self, action: str, value: str) -> str:
        """Where a value's button leads (`add` a clause, `pivot` to a new query, `toggle` a column):
        the page's buttons submit one small form instead of each carrying a whole URL."""
        if action == "add":
            return self.url(q=add_clause(self.params.q, self.params.kql, value), cursor=None)
        if action == "pivot":
            return self.url(q=value, cursor=None)
        return self.url(columns=self.toggled(value), cursor=None)

    def range(self, start: datetime, end: datetime) -> str:
        return self.url(start=_local_iso(start), end=_local_iso(end))

    def export(self, fmt: str) -> str:
        """The API export of exactly this view: the range as the instants shown, not "now-24h"."""
        assert self.params.start is not None and self.params.end is not None
        query = {
            **self.params.link_params,
            "start": _utc_iso(self.params.start),
            "end": _utc_iso(self.params.end),
        }
        return url_with("/api/v1/events/export", query, format=fmt, columns=",".join(self.columns))


def _local_iso(moment: datetime) -> str:
    """A time as the URL carries it: local (Asia/Ho_Chi_Minh) and naive, as a datetime-local input."""
    return moment.astimezone(VN_TZ).replace(tzinfo=None).isoformat(timespec="seconds")


def _utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _cell(flat: dict[str, Any], field: str, found: list[Term]) -> tuple[Any, bool]:
    """A table cell (marked text) and whether it fell back to the raw record."""
    text = service.cell_text(flat.get(field))
    if text is None and field == "message":
        raw = service.cell_text(flat.get(FALLBACK))
        return (marked(ANYWHERE, raw[:300], found), True) if raw else ("", False)
    return marked(field, text, found), False


def _rows(events: list[Event], columns: tuple[str, ...], found: list[Term]) -> list[dict[str, Any]]:
    rows = []
    for event in events:
        flat = event.flat()
        rows.append(
            {
                "id": event.id,
                "time": event.timestamp,
                "cells": [_cell(flat, c, found) for c in columns if c != "@timestamp"],
            }
        )
    return rows


def _parse(request: Request, now: datetime) -> tuple[EventSearchParams | None, str | None]:
    """The view asked for, or None and what is wrong with it (shown on the page)."""
    try:
        params = parse_events(request.query_params, app_context(request).settings.query_limits, now=now)
    except RequestValidationError as exc:
        first = exc.errors()[0]
        return None, f"{first['loc'][-1]}: {first['msg']}"
    return params.bounded(now), None


@router.get("/events", response_class=HTMLResponse)
def explorer(request: Request, principal: Reader) -> Response:
    ctx = app_context(request)
    now = datetime.now(UTC)
    params, error = _parse(request, now)
    columns = parse_columns(request.query_params.get("columns"), DEFAULT_COLUMNS)
    if params is None:
        return render(
            request,
            "events.html",
            nav="events",
            status_code=422,
            error=error,
            q=request.query_params.get("q", ""),
            start_text=request.query_params.get("start", ""),
            end_text=request.query_params.get("end", ""),
            columns=columns,
            quick_ranges=QUICK_RANGES,
        )
    view = View(params, columns)
    for action in ACTIONS:
        if value := request.query_params.get(action, "").strip():
            return see_other(view.after_action(action, value))
    check_store_cursor(params.cursor)
    found = service.explore(
        store=ctx.store,
        params=params,
        now=now,
        sample_size=ctx.settings.explorer_sample_size,
        parallel=ctx.settings.mode is Mode.DISTRIBUTED,
    )
    bars = found.histogram
    chart = bar_chart([(b.start, b.count) for b in bars.buckets], bars.interval_s, view.range)
    listed = [f for f in found.fields.fields if f.name != FALLBACK]  # raw records: every value unique
    selected = [f for f in listed if f.name in columns]
    available = [f for f in listed if f.name not in columns]
    page = found.page
    assert params.start is not None and params.end is not None
    return render(
        request,
        "events.html",
        nav="events",
        error=None,
        q=params.q,
        start_text=params.start_text,
        end_text=params.end_text,
        start_local=_local_iso(params.start)[:16],
        end_local=_local_iso(params.end)[:16],
        start=params.start,
        end=params.end,
        columns=columns,
        quick_ranges=QUICK_RANGES,
        view=view,
        page=page,
        rows=_rows(page.items, columns, terms(params.kql)),
        chart=chart,
        interval_s=bars.interval_s,
        sample=found.fields.sample,
        selected_fields=selected,
        available_fields=available,
        export_rows=min(page.total, ctx.settings.explorer_export_max_rows),
        export_limit=ctx.settings.explorer_export_max_rows,
        next_url=view.url(cursor=page.cursor) if page.cursor else None,
        first_url=view.url() if params.cursor else None,
        principal=principal,
    )


@router.get("/events/{event_id}", response_class=HTMLResponse)
def event_page(request: Request, event_id: str, principal: Reader) -> HTMLResponse:
    """One event's whole document: every field with its filter links (for the explorer view in the
    query string), the document as JSON and the original record; `fragment=1` is the part the
    explorer opens under a row."""
    ctx = app_context(request)
    event = ctx.store.get_event(event_id)
    if event is None:
        raise NotFound(f"no event {event_id}")
    now = datetime.now(UTC)
    params, _error = _parse(request, now)
    view = View(
        params or EventSearchParams().bounded(now),
        parse_columns(request.query_params.get("columns"), DEFAULT_COLUMNS),
    )
    flat = event.flat()
    fields = [
        (name, text)
        for name, value in sorted(flat.items())
        if name != FALLBACK and (text := service.cell_text(value)) is not None
    ]
    doc = orjson.dumps(event.to_doc(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
    fragment = request.query_params.get("fragment") == "1"
    return render(
        request,
        "_event_document.html" if fragment else "event.html",
        nav="events",
        event=event,
        fields=fields,
        original=service.cell_text(flat.get(FALLBACK)),
        doc=doc,
        view=view,
        found=terms(view.params.kql),
        marked=marked,
        principal=principal,
    )
