"""Read API over the store: events, dead letters and source activity (alerts: `api.alerts`).

Thin routes: parse the query, call the store, return JSON. Paging is by the store's cursor
(`search_after` in Elasticsearch, keyset in SQLite) so deep pages stay fast (`api.paging`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request

from api.deps import app_context
from api.paging import DEFAULT_SIZE, Cursor, ItemPage, Size, check_store_cursor, from_store
from api.times import Time
from soc_core.event import Event
from soc_core.records import DeadLetter
from soc_core.store import DeadLetterQuery, EventQuery

router = APIRouter(prefix="/api/v1")


@router.get("/events")
def list_events(
    request: Request,
    start: Time | None = None,
    end: Time | None = None,
    source: str | None = None,
    unit: str | None = None,
    system: str | None = None,
    host: str | None = None,
    q: str | None = None,
    size: Size = DEFAULT_SIZE,
    cursor: Cursor = None,
) -> ItemPage[dict[str, Any]]:
    check_store_cursor(cursor)
    page = app_context(request).store.search_events(
        EventQuery(
            start=start,
            end=end,
            source_id=source,
            unit_id=unit,
            system_id=system,
            host_name=host,
            text=q,
            size=size,
            cursor=cursor,
        )
    )
    return from_store(page, Event.to_doc)


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
