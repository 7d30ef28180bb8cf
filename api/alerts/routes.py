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
from api.auth.deps import PROVINCE_WIDE, Principal, Role, require_roles
from soc_core.store import Store

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"], dependencies=[Depends(csrf_protect)])
Reader = Annotated[Principal, Depends(require_roles(*PROVINCE_WIDE))]
Analyst = Annotated[Principal, Depends(require_roles(Role.ANALYST))]


def _store(request: Request) -> Store:
    store: Store = request.app.state.ctx.store
    return store


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


@router.get("", response_model=AlertPage)
def list_alerts(
    request: Request,
    _: Reader,
    with_facets: Annotated[bool, Query(alias="facets")] = False,
) -> AlertPage:
    """Filters: start, end, severity and status (repeated or comma-separated), rule, unit, system, host,
    user, checklist, technique, assignee, incident, q; sort newest|oldest|severity; size, cursor
    (`api.paging`); facets=true adds the counts per value of each filter."""
    params = parse_search(request.query_params)
    store = _store(request)
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
def bulk_update(request: Request, body: BulkUpdate, actor: Analyst) -> BulkResult:
    return service.bulk_update(
        store=_store(request), ids=body.ids, change=body.update, actor=actor, ip=_ip(request)
    )


@router.get("/{alert_id}", response_model=AlertDetail)
def read_alert(request: Request, alert_id: str, _: Reader) -> AlertDetail:
    return service.detail(store=_store(request), alert_id=alert_id)


@router.patch("/{alert_id}/triage")
def update_alert(request: Request, alert_id: str, body: TriageEdit, actor: Analyst) -> dict[str, object]:
    alert = service.update(
        store=_store(request), alert_id=alert_id, change=body, actor=actor, ip=_ip(request)
    )
    return alert.to_doc()


@router.post("/{alert_id}/comments", status_code=201)
def add_comment(request: Request, alert_id: str, body: CommentCreate, actor: Analyst) -> dict[str, object]:
    alert = service.update(
        store=_store(request),
        alert_id=alert_id,
        change=TriageEdit(comment=body.text),
        actor=actor,
        ip=_ip(request),
    )
    return alert.triage.comments[-1].model_dump(mode="json")
