"""Incident API: list, create (from alerts), read with timeline, change, notes, alert membership."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.auth.csrf import csrf_protect
from api.deps import Analyst, ClientIp, Reader, StoreDep
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
from soc_core.store import IncidentQuery

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"], dependencies=[Depends(csrf_protect)])


@router.get("", response_model=ItemPage[IncidentRead])
def list_incidents(
    _: Reader,
    store: StoreDep,
    status: Annotated[list[IncidentStatus] | None, Query()] = None,
    severity: Annotated[list[Severity] | None, Query()] = None,
    owner: str | None = None,
    unit: str | None = None,
    q: str | None = None,
    size: Size = DEFAULT_SIZE,
    cursor: Cursor = None,
) -> ItemPage[IncidentRead]:
    page = service.search(
        store=store,
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
def create_incident(body: IncidentCreate, actor: Analyst, store: StoreDep, ip: ClientIp) -> IncidentRead:
    return IncidentRead.of(service.create(store=store, data=body, actor=actor, ip=ip))


@router.get("/{incident_id}", response_model=IncidentDetail)
def read_incident(incident_id: str, _: Reader, store: StoreDep) -> IncidentDetail:
    return service.detail(store=store, incident_id=incident_id)


@router.patch("/{incident_id}", response_model=IncidentRead)
def update_incident(
    incident_id: str, body: IncidentUpdate, actor: Analyst, store: StoreDep, ip: ClientIp
) -> IncidentRead:
    incident = service.update(store=store, incident_id=incident_id, change=body, actor=actor, ip=ip)
    return IncidentRead.of(incident)


@router.post("/{incident_id}/notes", response_model=IncidentRead, status_code=201)
def add_note(
    incident_id: str, body: NoteCreate, actor: Analyst, store: StoreDep, ip: ClientIp
) -> IncidentRead:
    incident = service.add_note(store=store, incident_id=incident_id, text=body.text, actor=actor, ip=ip)
    return IncidentRead.of(incident)


@router.post("/{incident_id}/alerts", response_model=IncidentRead)
def add_alerts(
    incident_id: str, body: AlertIds, actor: Analyst, store: StoreDep, ip: ClientIp
) -> IncidentRead:
    incident = service.add_alerts(
        store=store, incident_id=incident_id, alert_ids=body.alert_ids, actor=actor, ip=ip
    )
    return IncidentRead.of(incident)


@router.delete("/{incident_id}/alerts/{alert_id}", response_model=IncidentRead)
def remove_alert(
    incident_id: str, alert_id: str, actor: Analyst, store: StoreDep, ip: ClientIp
) -> IncidentRead:
    incident = service.remove_alert(
        store=store, incident_id=incident_id, alert_id=alert_id, actor=actor, ip=ip
    )
    return IncidentRead.of(incident)
