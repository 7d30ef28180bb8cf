"""Incidents: the list with its status filter, creation, and the detail with notes and changes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from api.incidents import service as incidents
from api.incidents.models import IncidentCreate, IncidentUpdate
from soc_console.pages.common import Analyst, Reader, app_context, client_ip, render, see_other, url_with
from soc_console.pages.forms import choice
from soc_core.alert import IncidentStatus, Severity
from soc_core.store import IncidentQuery

router = APIRouter()


@router.get("/incidents", response_class=HTMLResponse)
def incident_list(
    request: Request, principal: Reader, status: str = "open", cursor: str | None = None
) -> HTMLResponse:
    chosen = None if status in ("open", "all") else choice(IncidentStatus, status, field="status")
    statuses = ["new", "in_progress"] if status == "open" else [chosen.value] if chosen else []
    page = incidents.search(
        store=app_context(request).store, query=IncidentQuery(status=statuses, size=50, cursor=cursor)
    )
    return render(
        request,
        "incidents.html",
        nav="incidents",
        page=page,
        status=status,
        statuses=list(IncidentStatus),
        next_url=url_with("/incidents", {"status": status}, cursor=page.cursor) if page.cursor else None,
        principal=principal,
    )


@router.post("/incidents")
def incident_create(
    request: Request,
    actor: Analyst,
    title: Annotated[str, Form(min_length=1, max_length=300)],
    severity: Annotated[str, Form()] = "",
    description: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    incident = incidents.create(
        store=app_context(request).store,
        data=IncidentCreate(
            title=title,
            severity=choice(Severity, severity, field="severity"),
            description=description or None,
        ),
        actor=actor,
        ip=client_ip(request),
    )
    return see_other(f"/incidents/{incident.id}")


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
def incident_page(request: Request, incident_id: str, principal: Reader) -> HTMLResponse:
    ctx = app_context(request)
    registry = ctx.registry.registry
    return render(
        request,
        "incident.html",
        nav="incidents",
        incident=incidents.get(store=ctx.store, incident_id=incident_id),
        detail=incidents.detail(store=ctx.store, incident_id=incident_id),
        unit_names={u.id: u.name for u in registry.units},
        system_names={s.id: s.name for s in registry.systems},
        statuses=list(IncidentStatus),
        severities=list(Severity),
        principal=principal,
    )


@router.post("/incidents/{incident_id}")
def incident_change(
    request: Request,
    incident_id: str,
    actor: Analyst,
    status: Annotated[str, Form()] = "",
    severity: Annotated[str, Form()] = "",
    owner: Annotated[str | None, Form(max_length=64)] = None,
    title: Annotated[str, Form(max_length=300)] = "",
    note: Annotated[str, Form(max_length=20_000)] = "",
    remove_alert: Annotated[str, Form()] = "",
) -> Response:
    store = app_context(request).store
    ip = client_ip(request)
    if remove_alert:
        incidents.remove_alert(
            store=store, incident_id=incident_id, alert_id=remove_alert, actor=actor, ip=ip
        )
    if note.strip():
        incidents.add_note(store=store, incident_id=incident_id, text=note, actor=actor, ip=ip)
    change = IncidentUpdate(
        status=choice(IncidentStatus, status, field="status"),
        severity=choice(Severity, severity, field="severity"),
        owner=owner,
        title=title or None,
    )
    if change.model_dump(exclude_none=True):
        incidents.update(store=store, incident_id=incident_id, change=change, actor=actor, ip=ip)
    return see_other(f"/incidents/{incident_id}")
