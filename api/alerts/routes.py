"""Alert API: the one listing (every filter, facets, three sorts), the one read (the alert with its
event, related alerts and rule frequency), single and bulk triage changes, comments.

Reading needs any signed-in role; changing needs analyst (or admin).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from api.alerts import service
from api.alerts.models import (
    ALL_FACETS,
    AlertDetail,
    AlertPage,
    BulkResult,
    BulkUpdate,
    CommentCreate,
    FacetRead,
    TriageEdit,
)
from api.alerts.params import parse_search
from api.auth.csrf import csrf_protect
from api.deps import Analyst, ClientIp, Reader, StoreDep

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"], dependencies=[Depends(csrf_protect)])


@router.get("", response_model=AlertPage)
def list_alerts(
    request: Request,
    _: Reader,
    store: StoreDep,
    with_facets: Annotated[bool, Query(alias="facets")] = False,
) -> AlertPage:
    """Filters: start, end, severity and status (repeated or comma-separated), rule, unit, system, host,
    user, checklist, technique, assignee, incident, q; sort newest|oldest|severity; size, cursor
    (`api.paging`); facets=true adds the counts per value of each filter."""
    params = parse_search(request.query_params)
    page = service.search(store=store, params=params)
    facets = None
    if with_facets:
        raw = service.facets(store=store, params=params, names=ALL_FACETS)
        facets = {
            k: [FacetRead(value=b.value, count=b.count, label=b.label) for b in v] for k, v in raw.items()
        }
    return AlertPage(
        items=[a.to_doc() for a in page.items], next_cursor=page.cursor, total=page.total, facets=facets
    )


@router.post("/bulk", response_model=BulkResult)
def bulk_update(body: BulkUpdate, actor: Analyst, store: StoreDep, ip: ClientIp) -> BulkResult:
    return service.bulk_update(store=store, ids=body.ids, change=body.update, actor=actor, ip=ip)


@router.get("/{alert_id}", response_model=AlertDetail)
def read_alert(alert_id: str, _: Reader, store: StoreDep) -> AlertDetail:
    return service.detail(store=store, alert_id=alert_id)


@router.patch("/{alert_id}/triage")
def update_alert(
    alert_id: str, body: TriageEdit, actor: Analyst, store: StoreDep, ip: ClientIp
) -> dict[str, object]:
    return service.update(store=store, alert_id=alert_id, change=body, actor=actor, ip=ip).to_doc()


@router.post("/{alert_id}/comments", status_code=201)
def add_comment(
    alert_id: str, body: CommentCreate, actor: Analyst, store: StoreDep, ip: ClientIp
) -> dict[str, object]:
    change = TriageEdit(comment=body.text)
    alert = service.update(store=store, alert_id=alert_id, change=change, actor=actor, ip=ip)
    return alert.triage.comments[-1].model_dump(mode="json")
