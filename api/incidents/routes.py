"""Incident API: list, create (from alerts), read with timeline, change, notes, alert membership."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from api.alerts.sla import policy_of
from api.auth.csrf import csrf_protect
from api.deps import Analyst, ClientIp, Reader, StoreDep, app_context
from api.incidents import casework, service
from api.incidents.models import (
    AlertIds,
    IncidentCreate,
    IncidentDetail,
    IncidentRead,
    IncidentUpdate,
    NoteCreate,
    ObservableCreate,
    ObservableRead,
    TaskCreate,
    TaskUpdate,
)
from api.incidents.sla import per_incident
from api.inspections.deps import post_upload
from api.media import FILE, file_responses
from api.paging import DEFAULT_SIZE, Cursor, ItemPage, Size, from_store
from soc_core.alert import IncidentAttachment, IncidentStatus, Severity
from soc_core.settings import Settings
from soc_core.store import IncidentQuery


def _settings(request: Request) -> Settings:
    return app_context(request).settings


SettingsDep = Annotated[Settings, Depends(_settings)]

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"], dependencies=[Depends(csrf_protect)])


@router.get("", response_model=ItemPage[IncidentRead])
def list_incidents(
    request: Request,
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
    policy = policy_of(app_context(request).settings)
    summaries = per_incident(store, page.items, policy, datetime.now(UTC))
    return from_store(page, lambda inc: IncidentRead.of(inc).model_copy(update={"sla": summaries[inc.id]}))


@router.post("", response_model=IncidentRead, status_code=201)
def create_incident(body: IncidentCreate, actor: Analyst, store: StoreDep, ip: ClientIp) -> IncidentRead:
    return IncidentRead.of(service.create(store=store, data=body, actor=actor, ip=ip))


@router.get("/{incident_id}", response_model=IncidentDetail)
def read_incident(incident_id: str, _: Reader, store: StoreDep, settings: SettingsDep) -> IncidentDetail:
    return service.detail(
        store=store,
        incident_id=incident_id,
        max_extracted=settings.incident_max_extracted,
        sla=policy_of(settings),
    )


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


# -- case work: tasks, observables, attachments (api.incidents.casework) ---------------------------


@router.post("/{incident_id}/tasks", response_model=IncidentRead, status_code=201)
def add_task(
    incident_id: str,
    body: TaskCreate,
    actor: Analyst,
    store: StoreDep,
    ip: ClientIp,
    response: Response,
    settings: SettingsDep,
) -> IncidentRead:
    """The new task is the last of `incident.tasks`; its id is also in the Location header."""
    incident, task = casework.add_task(
        store=store, incident_id=incident_id, data=body, limit=settings.incident_max_items, actor=actor, ip=ip
    )
    response.headers["Location"] = f"/api/v1/incidents/{incident_id}/tasks/{task.id}"
    return IncidentRead.of(incident)


@router.patch("/{incident_id}/tasks/{task_id}", response_model=IncidentRead)
def update_task(
    incident_id: str, task_id: str, body: TaskUpdate, actor: Analyst, store: StoreDep, ip: ClientIp
) -> IncidentRead:
    incident = casework.update_task(
        store=store, incident_id=incident_id, task_id=task_id, change=body, actor=actor, ip=ip
    )
    return IncidentRead.of(incident)


@router.delete("/{incident_id}/tasks/{task_id}", response_model=IncidentRead)
def remove_task(
    incident_id: str, task_id: str, actor: Analyst, store: StoreDep, ip: ClientIp
) -> IncidentRead:
    """The task goes; the timeline says who removed which task (`task_removed`)."""
    return IncidentRead.of(
        casework.remove_task(store=store, incident_id=incident_id, task_id=task_id, actor=actor, ip=ip)
    )


@router.get("/{incident_id}/observables", response_model=list[ObservableRead])
def list_observables(
    incident_id: str, _: Reader, store: StoreDep, settings: SettingsDep
) -> list[ObservableRead]:
    """Extracted from the alerts' events (less the dismissed) and added by hand, with their searches."""
    return service.detail(
        store=store, incident_id=incident_id, max_extracted=settings.incident_max_extracted
    ).observables


@router.post("/{incident_id}/observables", response_model=IncidentRead, status_code=201)
def add_observable(
    incident_id: str,
    body: ObservableCreate,
    actor: Analyst,
    store: StoreDep,
    ip: ClientIp,
    settings: SettingsDep,
) -> IncidentRead:
    incident = casework.add_observable(
        store=store, incident_id=incident_id, data=body, limit=settings.incident_max_items, actor=actor, ip=ip
    )
    return IncidentRead.of(incident)


@router.delete("/{incident_id}/observables/{observable_id}", response_model=IncidentRead)
def remove_observable(
    incident_id: str, observable_id: str, actor: Analyst, store: StoreDep, ip: ClientIp, settings: SettingsDep
) -> IncidentRead:
    incident = casework.remove_observable(
        store=store,
        incident_id=incident_id,
        observable=observable_id,
        max_extracted=settings.incident_max_extracted,
        actor=actor,
        ip=ip,
    )
    return IncidentRead.of(incident)


async def upload_attachment(
    request: Request, incident_id: str, upload: UploadFile, actor: Analyst, ip: str | None
) -> tuple[IncidentAttachment, bool]:
    """Keep the upload like inspection evidence, off the event loop; the console's form uses it too."""
    ctx = app_context(request)
    folder, limit = Path(ctx.settings.data_dir), ctx.settings.ingest.max_upload_bytes
    _, attachment, created = await run_in_threadpool(
        lambda: casework.add_attachment(
            store=ctx.store,
            incident_id=incident_id,
            source=upload.file,
            filename=upload.filename or "attachment",
            data_dir=folder,
            max_bytes=limit,
            limit=ctx.settings.incident_max_items,
            actor=actor,
            ip=ip,
        )
    )
    return attachment, created


@post_upload(router, "/{incident_id}/attachments", response_model=IncidentAttachment, status_code=201)
async def add_attachment(
    request: Request, response: Response, incident_id: str, actor: Analyst, ip: ClientIp, file: UploadFile
) -> IncidentAttachment:
    """201 with the new attachment; 200 with the one already there when the incident holds these bytes."""
    attachment, created = await upload_attachment(request, incident_id, file, actor, ip)
    if not created:
        response.status_code = 200
    return attachment


@router.get(
    "/{incident_id}/attachments/{attachment_id}/content",
    response_class=FILE,
    responses=file_responses("application/octet-stream", description="the file as received"),
)
async def attachment_content(
    request: Request, incident_id: str, attachment_id: str, _: Reader, store: StoreDep
) -> FileResponse:
    """The file as it was received, after checking it still matches its SHA-256."""
    folder = Path(app_context(request).settings.data_dir)
    path, att = await run_in_threadpool(
        lambda: casework.open_attachment(
            store=store, incident_id=incident_id, attachment_id=attachment_id, data_dir=folder
        )
    )
    return FileResponse(
        path,
        media_type="application/octet-stream",
        filename=att.filename,
        headers={"X-Content-SHA256": att.sha256},
    )


@router.delete("/{incident_id}/attachments/{attachment_id}", response_model=IncidentRead)
def remove_attachment(
    incident_id: str, attachment_id: str, actor: Analyst, store: StoreDep, ip: ClientIp
) -> IncidentRead:
    """The incident no longer lists the file (`attachment_removed` in the timeline); its bytes stay in
    the content-addressed evidence folder, which other records may share."""
    incident = casework.remove_attachment(
        store=store, incident_id=incident_id, attachment_id=attachment_id, actor=actor, ip=ip
    )
    return IncidentRead.of(incident)
