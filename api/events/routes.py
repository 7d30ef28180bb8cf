"""Read API over the store: events (the explorer's list, histogram, field values and exports), dead
letters and source activity (alerts: `api.alerts`).

Thin routes: parse the query (`api.events.params`), call the store or `api.events.service`,
return JSON. Paging is by the store's cursor (`search_after` in Elasticsearch, keyset in SQLite)
so deep pages stay fast (`api.paging`); exports stream (`api.events.export`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse

from api.deps import app_context
from api.events import service
from api.events.export import DEFAULT_COLUMNS, csv_chunks, ndjson_chunks
from api.events.models import FieldsRead, HistogramRead
from api.events.params import VN_TZ, EventSearchParams, parse_columns, parse_events
from api.media import FILE, file_responses
from api.paging import DEFAULT_SIZE, Cursor, ItemPage, Size, check_store_cursor, from_store
from api.times import Time
from soc_core.event import Event
from soc_core.records import DeadLetter
from soc_core.store import DeadLetterQuery

router = APIRouter(prefix="/api/v1")


TIME = "ISO 8601 (naive: Asia/Ho_Chi_Minh) or relative: now, now-15m, now-24h, now-7d"


def _params(
    request: Request,
    q: Annotated[
        str | None,
        Query(
            description='KQL: host.name:ws* and not event.code:4624, "đã xóa", netsh*; free text ignores'
            " case and diacritics; a query that cannot be read is a 422 naming its line and column"
        ),
    ] = None,
    start: Annotated[str | None, Query(description=TIME)] = None,
    end: Annotated[str | None, Query(description=TIME)] = None,
    source: Annotated[str | None, Query(description="exact soc.source.id")] = None,
    unit: Annotated[str | None, Query(description="exact soc.unit.id")] = None,
    system: Annotated[str | None, Query(description="exact soc.system.id")] = None,
    host: Annotated[str | None, Query(description="exact host.name")] = None,
    size: Size = DEFAULT_SIZE,
    cursor: Cursor = None,
) -> EventSearchParams:
    """The event filters every route here shares, documented once (read by `parse_events`)."""
    given = {"q": q, "start": start, "end": end, "source": source, "unit": unit, "system": system}
    given |= {"host": host, "size": str(size), "cursor": cursor}
    limits = app_context(request).settings.query_limits
    params = parse_events({k: v for k, v in given.items() if v is not None}, limits)
    check_store_cursor(params.cursor)
    return params


Filters = Annotated[EventSearchParams, Depends(_params)]


@router.get("/events")
def list_events(request: Request, params: Filters) -> ItemPage[dict[str, Any]]:
    """Events newest first, by cursor (`api.paging`); `total` counts every match."""
    page = app_context(request).store.search_events(params.to_query(cursor=params.cursor))
    return from_store(page, Event.to_doc)


@router.get("/events/histogram", response_model=HistogramRead)
def event_histogram(
    request: Request,
    params: Filters,
    interval: Annotated[int | None, Query(ge=1, description="seconds per bar; unset: about 60 bars")] = None,
) -> HistogramRead:
    """Matches per time bucket over [start, end) (the list's filters; start defaults to now-24h, end to
    now), every bucket listed; days start at midnight in Asia/Ho_Chi_Minh. Exact counts."""
    now = datetime.now(UTC)
    params = params.bounded(now)
    assert params.start is not None and params.end is not None
    if interval is not None and (why := service.histogram_bucket_limit(params.start, params.end, interval)):
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("query", "interval"), "msg": why, "input": interval}]
        )
    store = app_context(request).store
    return HistogramRead.of(service.histogram(store=store, params=params, now=now, interval_s=interval))


@router.get("/events/fields", response_model=FieldsRead)
def event_fields(
    request: Request,
    params: Filters,
    top: Annotated[int, Query(ge=1, le=50, description="values listed per field")] = service.TOP_VALUES,
) -> FieldsRead:
    """Each field of the newest matches (the list's filters; start defaults to now-24h) with its most
    frequent values: a sample of `SOC_EXPLORER_SAMPLE_SIZE` events, not every match."""
    ctx = app_context(request)
    params = params.bounded(datetime.now(UTC))
    sample = ctx.settings.explorer_sample_size
    return FieldsRead.of(service.field_summary(store=ctx.store, params=params, sample_size=sample, top=top))


@router.get(
    "/events/export",
    response_class=FILE,
    responses=file_responses(
        "text/csv", "application/x-ndjson", description="the matches as CSV (UTF-8 with BOM) or NDJSON"
    ),
)
def export_events(
    request: Request,
    params: Filters,
    columns: Annotated[str | None, Query(description="CSV columns: field names, comma-separated")] = None,
    format: Annotated[Literal["csv", "ndjson"], Query(description="csv (UTF-8 with BOM) or ndjson")] = "csv",
) -> StreamingResponse:
    """The matches of the list's filters (no default range: as the list), newest first, streamed: CSV of
    `columns` (comma-separated field names; the explorer's defaults otherwise) or NDJSON of whole
    documents. At most `SOC_EXPLORER_EXPORT_MAX_ROWS` rows; `X-Total-Count` says how many matched and
    `X-Export-Rows` how many are written."""
    ctx = app_context(request)
    chosen = parse_columns(columns, DEFAULT_COLUMNS)
    plan = service.export_events(store=ctx.store, params=params, limit=ctx.settings.explorer_export_max_rows)
    stamp = datetime.now(VN_TZ).strftime("%Y%m%d-%H%M")
    headers = {
        "Content-Disposition": f'attachment; filename="events-{stamp}.{format}"',
        "X-Total-Count": str(plan.total),
        "X-Export-Rows": str(plan.rows),
        "Cache-Control": "no-store",
    }
    if format == "csv":
        body = csv_chunks(chosen, plan.events)
        return StreamingResponse(body, media_type="text/csv; charset=utf-8", headers=headers)
    return StreamingResponse(ndjson_chunks(plan.events), media_type="application/x-ndjson", headers=headers)


@router.get("/events/{event_id}")
def get_event(request: Request, event_id: str) -> dict[str, Any]:
    event = app_context(request).store.get_event(event_id)
    if event is None:
        raise HTTPException(404, f"no event {event_id}")
    return event.to_doc()


@router.get("/deadletters")
def list_deadletters(
    request: Request,
    source: str | None = None,
    format: str | None = None,
    stage: str | None = None,
    start: Time | None = None,
    end: Time | None = None,
    size: Size = DEFAULT_SIZE,
    cursor: Cursor = None,
) -> ItemPage[dict[str, Any]]:
    check_store_cursor(cursor)
    page = app_context(request).store.list_deadletters(
        DeadLetterQuery(
            source_id=source,
            format_tried=format,
            stage=stage,
            start=start,
            end=end,
            size=size,
            cursor=cursor,
        )
    )
    return from_store(page, _deadletter_doc)


def _deadletter_doc(deadletter: DeadLetter) -> dict[str, Any]:
    return deadletter.model_dump(mode="json")


@router.get("/sources/activity")
def source_activity(request: Request) -> dict[str, Any]:
    activity = app_context(request).store.source_activity()
    return {sid: {"events": a.events, "last_ingested": a.last_ingested} for sid, a in activity.items()}
