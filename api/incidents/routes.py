"""Incident API: list, create (from alerts), read with timeline, change, notes, alert membership."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from api.auth.csrf import csrf_protect
from api.auth.deps import PROVINCE_WIDE, Principal, Role, require_roles
from api.incidents import service
from api.incidents.models import (
    AlertIds,
    IncidentCreate,
    IncidentDetail,
    IncidentRead,
    IncidentUpdate,
    NoteCreate,
)
from api.paging import DEFAULT_SIZE, Cursor, ItemPage, Size, from_store
from soc_core.alert import IncidentStatus, Severity
from soc_core.store import IncidentQuery, Store

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"], dependencies=[Depends(csrf_protect)])
Reader = Annotated[Principal, Depends(require_roles(*PROVINCE_WIDE))]
Analyst = Annotated[Principal, Depends(require_roles(Role.ANALYST))]


def _store(request: Request) -> Store:
    store: Store = request.app.state.ctx.store
    return store


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


@router.get("", response_model=ItemPage[IncidentRead])
def list_incidents(
    request: Request,
    _: Reader,
    status: Annotated[list[IncidentStatus] | None, Query()] = None,
    severity: Annotated[list[Severity] | None, Query()] = None,
    owner: str | None = None,
    unit: str | None = None,
    q: str | None = None,
    size: Size = DEFAULT_SIZE,
    cursor: Cursor = None,
) -> ItemPage[IncidentRead]:
    page = service.search(
        store=_store(request),
        query=IncidentQuery(
            status=[s.value for s in status or []],
            severity=[s.value for s in severity or []],
            owner=owner,
            unit_id=unit,
            text=q,
            size=size,
            cursor=cursor,
        ),
    )
    return from_store(page, IncidentRead.of)


@router.post("", response_model=IncidentRead, status_code=201)
def create_incident(request: Request, body: IncidentCreate, actor: Analyst) -> IncidentRead:
    return IncidentRead.of(service.create(store=_store(request), data=body, actor=actor, ip=_ip(request)))


@router.get("/{incident_id}", response_model=IncidentDetail)
def read_incident(request: Request, incident_id: str, _: Reader) -> IncidentDetail:
    return service.detail(store=_store(request), incident_id=incident_id)


@router.patch("/{incident_id}", response_model=IncidentRead)
def update_incident(request: Request, incident_id: str, body: IncidentUpdate, actor: Analyst) -> IncidentRead:
    incident = service.update(
        store=_store(request), incident_id=incident_id, change=body, actor=actor, ip=_ip(request)
    )
    return IncidentRead.of(incident)


@router.post("/{incident_id}/notes", response_model=IncidentRead, status_code=201)
def add_note(request: Request, incident_id: str, body: NoteCreate, actor: Analyst) -> IncidentRead:
    incident = service.add_note(
        store=_store(request), incident_id=incident_id, text=body.text, actor=actor, ip=_ip(request)
    )
    return IncidentRead.of(incident)


@router.post("/{incident_id}/alerts", response_model=IncidentRead)
def add_alerts(request: Request, incident_id: str, body: AlertIds, actor: Analyst) -> IncidentRead:
    incident = service.add_alerts(
        store=_store(request), incident_id=incident_id, alert_ids=body.alert_ids, actor=actor, ip=_ip(request)
    )
    return IncidentRead.of(incident)


@router.delete("/{incident_id}/alerts/{alert_id}", response_model=IncidentRead)
def remove_alert(request: Request, incident_id: str, alert_id: str, actor: Analyst) -> IncidentRead:
    incident = service.remove_alert(
        store=_store(request), incident_id=incident_id, alert_id=alert_id, actor=actor, ip=_ip(request)
    )
    return IncidentRead.of(incident)
