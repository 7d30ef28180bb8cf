"""The alert queue (filters, facets, bulk actions) and the alert detail with its triage form.

The queue shows one row per alert group (the rules that matched the same events) when ordered by
time; a row's checkbox and the detail's "whole group" box triage every member (`api.alerts.service.
update_group` says what closing a group means). Ordered by severity, it lists alerts one by one.
It shows live telemetry unless `origin` asks for inspection evidence (`visit` narrows it to a visit).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.alerts import service as alerts
from api.alerts.errors import TriageError
from api.alerts.models import ALL_FACETS, OPEN_STATUSES, AlertSearchParams, TriageEdit
from api.alerts.params import parse_search
from api.alerts.pivots import AROUND_MINUTES, MAX_AROUND_MINUTES, pivots
from api.alerts.sla import policy_of
from api.auth.deps import Principal
from api.errors import InvalidChange
from api.i18n import N_
from api.incidents import service as incidents
from api.incidents.models import IncidentCreate
from soc_console.i18n import locale_of, translations
from soc_console.pages.common import (
    Analyst,
    Reader,
    app_context,
    client_ip,
    local_path,
    render,
    see_other,
    url_with,
)
from soc_console.pages.forms import choice
from soc_core.alert import Alert, AlertStatus, Incident, Severity
from soc_core.sla import SlaState, sla_state
from soc_core.store import IncidentQuery, Page, Store

router = APIRouter()

BULK_STATUS = {
    "acknowledge": AlertStatus.ACKNOWLEDGED,
    "in_progress": AlertStatus.IN_PROGRESS,
    "resolve": AlertStatus.RESOLVED,
    "false_positive": AlertStatus.FALSE_POSITIVE,
    "reopen": AlertStatus.NEW,
}


def _open_incidents(store: Store) -> list[Incident]:
    """The incidents the queue and the detail offer to add alerts to."""
    return incidents.search(store=store, query=IncidentQuery(status=["new", "in_progress"], size=50)).items


STATUS_TABS = ("open", *(s.value for s in AlertStatus), "all")
"""The queue's tabs, in the order of an alert's life; `open` (the default) is new to in progress."""


def _queue_params(request: Request) -> tuple[AlertSearchParams, dict[str, str], str, str]:
    """The console's filter form: `status` is one value (open / all / a status), dates are local days;
    rows are alert groups unless ordered by severity (or `collapse=none` asks for single alerts).
    Also the same filters as the JSON API reads them (the poll and the CSV export)."""
    raw = {k: v for k, v in request.query_params.multi_items() if v.strip()}
    status_choice = raw.pop("status", "open")
    query: dict[str, Any] = dict(raw)
    if query.get("sort") == "severity":
        query["collapse"] = "none"  # a group has no one severity to be sorted under
    else:
        query.setdefault("collapse", "group")
    if status_choice == "open":
        query["status"] = ",".join(s.value for s in OPEN_STATUSES)
    elif status_choice != "all":
        query["status"] = status_choice
    severity = request.query_params.getlist("severity")
    if severity:
        query["severity"] = ",".join(severity)
    settings = request.app.state.ctx.settings
    params = parse_search(query, settings.query_limits, policy_of(settings))
    api_query = urlencode({k: v for k, v in query.items() if k not in ("cursor", "done", "collapse")})
    return params, raw, status_choice, api_query


def _sla_of(request: Request) -> Callable[[Alert], SlaState | None]:
    """Each row's SLA as of the page's time: the badge says how late (`soc_core.sla`)."""
    policy, now = policy_of(app_context(request).settings), datetime.now(UTC)
    return lambda alert: sla_state(alert, policy, now)


@router.get("/alerts", response_class=HTMLResponse)
def alert_queue(request: Request, principal: Reader) -> HTMLResponse:
    ctx = app_context(request)
    params, raw, status_choice, api_query = _queue_params(request)
    raw.pop("cursor", None)
    if status_choice != "open":
        raw["status"] = status_choice
    grouped = params.collapse == "group"
    page: Page[Any] = (
        alerts.search_groups(store=ctx.store, params=params)
        if grouped
        else alerts.search(store=ctx.store, params=params)
    )
    facets = alerts.facets(store=ctx.store, params=params, names=ALL_FACETS, size=8)
    counts = alerts.status_counts(store=ctx.store, params=params)
    unfiltered = {k: v for k, v in raw.items() if k not in ("status", "done")}
    tabs = [
        (value, url_with("/alerts", unfiltered, status=None if value == "open" else value), counts[value])
        for value in STATUS_TABS
    ]
    registry = ctx.registry.registry
    names = {
        "unit": {u.id: u.name for u in registry.units},
        "system": {s.id: s.name for s in registry.systems},
    }
    facet_links = {
        name: [
            (b, url_with("/alerts", raw, **{name: b.value}), names.get(name, {}).get(b.value) or b.label)
            for b in buckets
        ]
        for name, buckets in facets.items()
        if name != "status"  # the tabs
    }
    return render(
        request,
        "alerts.html",
        nav="alerts",
        page=page,
        grouped=grouped,
        origin=params.to_search().origin,
        params=params,
        raw=raw,
        status_choice=status_choice,
        tabs=tabs,
        api_query=api_query,
        shown_at=datetime.now(UTC).isoformat(),
        poll_s=ctx.settings.queue_poll_s,
        facet_links=facet_links,
        names=names,
        here=url_with("/alerts", raw, cursor=params.cursor),
        next_url=url_with("/alerts", raw, cursor=page.cursor) if page.cursor else None,
        first_url=url_with("/alerts", raw) if params.cursor else None,
        top_url=url_with("/alerts", {k: v for k, v in raw.items() if k != "done"}),
        clear_url={k: url_with("/alerts", {**raw, k: ""}) for k in raw},
        open_incidents=_open_incidents(ctx.store),
        severities=list(Severity),
        statuses=list(AlertStatus),
        sla_of=_sla_of(request),
        principal=principal,
    )


@router.post("/alerts/bulk")
def alert_bulk(
    request: Request,
    actor: Analyst,
    action: Annotated[str, Form()],
    ids: Annotated[list[str], Form()],
    back: Annotated[str, Form()] = "/alerts",
    assignee: Annotated[str, Form(max_length=64)] = "",
    tag: Annotated[str, Form(max_length=64)] = "",
    title: Annotated[str, Form(max_length=300)] = "",
    incident_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    store = app_context(request).store
    back = local_path(back, "/alerts")
    ip = client_ip(request)
    ids = [i for value in ids for i in value.split(",") if i]  # a group row selects all its members
    if action == "incident_new":
        incident = incidents.create(
            store=store,
            data=IncidentCreate(
                title=title.strip() or translations(locale_of(request)).gettext(N_("Incident")), alert_ids=ids
            ),
            actor=actor,
            ip=ip,
        )
        return see_other(f"/incidents/{incident.id}")
    if action == "incident_add" and incident_id:
        incidents.add_alerts(store=store, incident_id=incident_id, alert_ids=ids, actor=actor, ip=ip)
        return see_other(f"/incidents/{incident_id}")
    change = _bulk_change(action, actor=actor, assignee=assignee, tag=tag)
    result = alerts.bulk_update(store=store, ids=ids, change=change, actor=actor, ip=ip)
    sep = "&" if "?" in back else "?"
    return see_other(f"{back}{sep}done={len(result.updated)}")


def _bulk_change(action: str, *, actor: Principal, assignee: str, tag: str) -> TriageEdit:
    if action in BULK_STATUS:
        update = TriageEdit(status=BULK_STATUS[action])
        if action == "acknowledge":
            update.assignee = actor.username
        return update
    if action == "assign_me":
        return TriageEdit(assignee=actor.username)
    if action == "assign":
        return TriageEdit(assignee=assignee)
    if action == "tag":
        return TriageEdit(add_tags=[tag])
    raise TriageError("unknown action", action=action)


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_page(request: Request, alert_id: str, principal: Reader) -> HTMLResponse:
    ctx = app_context(request)
    alert = alerts.get(store=ctx.store, alert_id=alert_id)
    incident = None
    if alert.triage.incident_id:
        got = ctx.store.get_incident_versioned(alert.triage.incident_id)
        incident = got[0] if got else None
    return render(
        request,
        "alert.html",
        nav="alerts",
        alert=alert,
        detail=alerts.detail(store=ctx.store, alert_id=alert_id, sla=policy_of(ctx.settings)),
        sla=_sla_of(request)(alert),
        incident=incident,
        open_incidents=_open_incidents(ctx.store),
        statuses=list(AlertStatus),
        q=request.query_params.get("q"),
        around_minutes=AROUND_MINUTES,
        max_around_minutes=MAX_AROUND_MINUTES,
        principal=principal,
    )


@router.get("/alerts/{alert_id}/around")
def events_around(
    request: Request,
    alert_id: str,
    _: Reader,
    by: Annotated[str, Query(pattern="^(host|user|source_ip)$")] = "host",
    minutes: Annotated[int, Query(ge=1, le=MAX_AROUND_MINUTES)] = AROUND_MINUTES,
) -> Response:
    """The alert page's "events around it" form: the explorer on that value, ± the chosen minutes."""
    ctx = app_context(request)
    alert = alerts.get(store=ctx.store, alert_id=alert_id)
    for pivot in pivots(alert, alerts.event_of(store=ctx.store, alert=alert) or {}, minutes):
        if pivot.by == by:
            return see_other(pivot.url)
    raise InvalidChange("the alert's event has no such value", by=by, alert_id=alert_id)


@router.post("/alerts/{alert_id}")
def alert_change(
    request: Request,
    alert_id: str,
    actor: Analyst,
    status: Annotated[str, Form()] = "",
    assignee: Annotated[str | None, Form(max_length=64)] = None,
    add_tag: Annotated[str, Form(max_length=64)] = "",
    remove_tag: Annotated[str, Form(max_length=64)] = "",
    comment: Annotated[str, Form(max_length=10_000)] = "",
    assign_me: Annotated[str, Form()] = "",
    scope: Annotated[str, Form()] = "",
) -> Response:
    store = app_context(request).store
    change = TriageEdit(
        status=choice(AlertStatus, status, field="status"),
        assignee=actor.username if assign_me else assignee,
        add_tags=[add_tag] if add_tag.strip() else [],
        remove_tags=[remove_tag] if remove_tag.strip() else [],
        comment=comment or None,
    )
    if change.status is AlertStatus.ACKNOWLEDGED and change.assignee is None:
        current = alerts.get(store=store, alert_id=alert_id)
        if not current.triage.assignee:
            change.assignee = actor.username
    if scope == "group":
        alerts.update_group(store=store, alert_id=alert_id, change=change, actor=actor, ip=client_ip(request))
    else:
        alerts.update(store=store, alert_id=alert_id, change=change, actor=actor, ip=client_ip(request))
    return see_other(f"/alerts/{alert_id}")
