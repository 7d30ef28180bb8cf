"""Alert API: the one listing (every filter, facets, three sorts), the one read (the alert with its
event, related alerts and rule frequency), single and bulk triage changes, comments.

Reading needs any signed-in role; changing needs analyst (or admin).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from api.alerts import export, service
from api.alerts.models import (
    ALL_FACETS,
    AlertDetail,
    AlertPage,
    BulkResult,
    BulkUpdate,
    CommentCreate,
    FacetRead,
    GroupTriageResult,
    NewAlerts,
    TriageEdit,
)
from api.alerts.params import VN_TZ, parse_search
from api.alerts.sla import alert_doc, policy_of
from api.auth.csrf import csrf_protect
from api.deps import Analyst, ClientIp, Reader, StoreDep
from api.media import FILE, file_responses
from api.reports.csvfile import csv_stream
from api.times import Time

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"], dependencies=[Depends(csrf_protect)])


@router.get("", response_model=AlertPage)
def list_alerts(
    request: Request,
    _: Reader,
    store: StoreDep,
    with_facets: Annotated[bool, Query(alias="facets")] = False,
) -> AlertPage:
    """Filters: start, end, severity and status (repeated or comma-separated), rule, unit, system, host,
    user, checklist, technique, assignee, incident, q, origin (live by default | evidence | all), visit,
    group; sort newest|oldest|severity; size, cursor (`api.paging`); facets=true adds the counts per
    value of each filter (counting alerts). collapse=group: one item per alert group (the alerts raised
    on the same events), its members most severe first, `total` counting groups. sla=breached: high
    and critical alerts still unacknowledged past their SLA; each alert says `sla_due_at`,
    `sla_breached`, `sla_overdue` and `sla_late_s` (`api.alerts.sla`)."""
    settings = request.app.state.ctx.settings
    policy, now = policy_of(settings), datetime.now(UTC)
    params = parse_search(request.query_params, settings.query_limits, policy)
    items: list[dict[str, object]]
    if params.collapse == "group":
        groups = service.search_groups(store=store, params=params)
        items = [
            service.group_read(g, lambda a: alert_doc(a, policy, now)).model_dump(mode="json")
            for g in groups.items
        ]
        cursor, total = groups.cursor, groups.total
    else:
        page = service.search(store=store, params=params)
        items = [alert_doc(a, policy, now) for a in page.items]
        cursor, total = page.cursor, page.total
    facets = None
    if with_facets:
        raw = service.facets(store=store, params=params, names=ALL_FACETS)
        facets = {
            k: [FacetRead(value=b.value, count=b.count, label=b.label) for b in v] for k, v in raw.items()
        }
    return AlertPage(items=items, next_cursor=cursor, total=total, facets=facets)


@router.post("/bulk", response_model=BulkResult)
def bulk_update(body: BulkUpdate, actor: Analyst, store: StoreDep, ip: ClientIp) -> BulkResult:
    return service.bulk_update(store=store, ids=body.ids, change=body.update, actor=actor, ip=ip)


@router.get("/news", response_model=NewAlerts)
def new_alerts(
    request: Request,
    _: Reader,
    store: StoreDep,
    since: Annotated[Time, Query(description="when the queue was shown (ISO 8601)")],
) -> NewAlerts:
    """What an open queue polls: how many alerts matching its filters (those of the listing) were
    stored after `since` (on events of the `SOC_QUEUE_NEW_LOOKBACK_H` hours before it), and per
    status how many match every other filter (the queue's tabs)."""
    settings = request.app.state.ctx.settings
    params = parse_search(request.query_params, settings.query_limits, policy_of(settings))
    lookback = timedelta(hours=settings.queue_new_lookback_h)
    return service.news(store=store, params=params, since=since, lookback=lookback)


@router.get(
    "/export.csv",
    response_class=FILE,
    responses=file_responses("text/csv", description="the alerts as CSV (UTF-8 with BOM)"),
)
def export_alerts(request: Request, _: Reader, store: StoreDep) -> StreamingResponse:
    """The alerts the listing's filters select, one row each in its order, as a spreadsheet-safe CSV
    (`api.reports.csvfile`), at most `SOC_ALERT_EXPORT_MAX_ROWS`: `X-Total-Count` says how many
    matched, `X-Export-Rows` how many the file holds."""
    settings = request.app.state.ctx.settings
    policy = policy_of(settings)
    params = parse_search(request.query_params, settings.query_limits, policy)
    total, rows = export.export(store=store, params=params, limit=settings.alert_export_max_rows, sla=policy)
    name = f"canh-bao-{datetime.now(VN_TZ):%Y%m%d-%H%M}.csv"
    return StreamingResponse(
        csv_stream(export.COLUMNS, rows),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Total-Count": str(total),
            "X-Export-Rows": str(min(total, settings.alert_export_max_rows)),
        },
    )


@router.get("/{alert_id}", response_model=AlertDetail)
def read_alert(request: Request, alert_id: str, _: Reader, store: StoreDep) -> AlertDetail:
    """The alert (with its `sla_*` fields), its event, related alerts and rule frequency."""
    return service.detail(store=store, alert_id=alert_id, sla=policy_of(request.app.state.ctx.settings))


@router.patch("/{alert_id}/triage")
def update_alert(
    request: Request, alert_id: str, body: TriageEdit, actor: Analyst, store: StoreDep, ip: ClientIp
) -> dict[str, object]:
    alert = service.update(store=store, alert_id=alert_id, change=body, actor=actor, ip=ip)
    return alert_doc(alert, policy_of(request.app.state.ctx.settings), datetime.now(UTC))


@router.patch("/{alert_id}/group/triage", response_model=GroupTriageResult)
def update_alert_group(
    alert_id: str, body: TriageEdit, actor: Analyst, store: StoreDep, ip: ClientIp
) -> GroupTriageResult:
    """The same triage change on every alert of this alert's group (closing a group closes them all)."""
    return service.update_group(store=store, alert_id=alert_id, change=body, actor=actor, ip=ip)


@router.post("/{alert_id}/comments", status_code=201)
def add_comment(
    alert_id: str, body: CommentCreate, actor: Analyst, store: StoreDep, ip: ClientIp
) -> dict[str, object]:
    change = TriageEdit(comment=body.text)
    alert = service.update(store=store, alert_id=alert_id, change=change, actor=actor, ip=ip)
    return alert.triage.comments[-1].model_dump(mode="json")
