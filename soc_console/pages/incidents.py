"""Incidents: the list with its status filter, creation, and the detail with notes and changes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ValidationError

from api.alerts.sla import policy_of
from api.errors import InvalidChange
from api.i18n import N_
from api.incidents import casework
from api.incidents import service as incidents
from api.incidents.models import IncidentCreate, IncidentUpdate, ObservableCreate, TaskCreate, TaskUpdate
from api.incidents.routes import upload_attachment
from api.incidents.sla import per_incident
from api.inspections.deps import post_upload
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
    ctx = app_context(request)
    page = incidents.search(store=ctx.store, query=IncidentQuery(status=statuses, size=50, cursor=cursor))
    return render(
        request,
        "incidents.html",
        nav="incidents",
        page=page,
        sla=per_incident(ctx.store, page.items, policy_of(ctx.settings), datetime.now(UTC)),
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
        detail=incidents.detail(
            store=ctx.store,
            incident_id=incident_id,
            max_extracted=ctx.settings.incident_max_extracted,
            sla=policy_of(ctx.settings),
        ),
        users=sorted(u.username for u in ctx.store.list_users() if u.active),
        observable_types=OBSERVABLE_TYPES,
        observable_labels=OBSERVABLE_LABELS,
        field_labels=FIELD_LABELS,
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


# -- case work: tasks, observables, attachments ----------------------------------------------------

OBSERVABLE_TYPES = ["ip", "domain", "hash", "user", "host"]
OBSERVABLE_LABELS = {
    "ip": N_("IP address"),
    "domain": N_("Domain"),
    "hash": N_("File hash"),
    "user": N_("User"),
    "host": N_("Host"),
}
FIELD_LABELS = {
    "title": N_("Title"),
    "description": N_("Description"),
    "severity": N_("Severity"),
    "status": N_("Status"),
    "owner": N_("Owner"),
    "unit_ids": N_("Units"),
    "system_ids": N_("Systems"),
    "assignee": N_("Assignee"),
    "due": N_("Due"),
}
"""What the timeline calls a changed field, in the console's language."""
Body = TypeVar("Body", bound=BaseModel)


def _read(kind: type[Body], fields: dict[str, Any]) -> Body:
    """The form as its API body: what the body refuses is the sender's error (422), as in the API."""
    try:
        return kind.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidChange(f"invalid {where}: {first['msg']}") from exc


def _back(incident_id: str, anchor: str) -> Response:
    return see_other(f"/incidents/{quote(incident_id)}#{anchor}")


@router.post("/incidents/{incident_id}/tasks")
def task_add(
    request: Request,
    incident_id: str,
    actor: Analyst,
    title: Annotated[str, Form(max_length=500)],
    assignee: Annotated[str, Form(max_length=64)] = "",
    due: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    body = _read(TaskCreate, {"title": title, "assignee": assignee or None, "due": due or None})
    store, ip = app_context(request).store, client_ip(request)
    limit = app_context(request).settings.incident_max_items
    casework.add_task(store=store, incident_id=incident_id, data=body, limit=limit, actor=actor, ip=ip)
    return _back(incident_id, "tasks")


@router.post("/incidents/{incident_id}/tasks/{task_id}")
def task_change(
    request: Request,
    incident_id: str,
    task_id: str,
    actor: Analyst,
    done: Annotated[str, Form(max_length=5)] = "",
    assignee: Annotated[str | None, Form(max_length=64)] = None,
    due: Annotated[str | None, Form(max_length=10)] = None,
) -> Response:
    """`done` is "true" or "false"; an empty `due` removes the due day, an empty `assignee` the assignee."""
    body = _read(
        TaskUpdate,
        {
            "done": done or None,
            "assignee": assignee,
            "due": due or None,
            "clear_due": due == "",
        },
    )
    store, ip = app_context(request).store, client_ip(request)
    casework.update_task(
        store=store, incident_id=incident_id, task_id=task_id, change=body, actor=actor, ip=ip
    )
    return _back(incident_id, "tasks")


@router.post("/incidents/{incident_id}/tasks/{task_id}/remove")
def task_remove(request: Request, incident_id: str, task_id: str, actor: Analyst) -> Response:
    store, ip = app_context(request).store, client_ip(request)
    casework.remove_task(store=store, incident_id=incident_id, task_id=task_id, actor=actor, ip=ip)
    return _back(incident_id, "tasks")


@router.post("/incidents/{incident_id}/observables")
def observable_add(
    request: Request,
    incident_id: str,
    actor: Analyst,
    type: Annotated[str, Form(max_length=16)],
    value: Annotated[str, Form(max_length=512)],
    note: Annotated[str, Form(max_length=2_000)] = "",
) -> Response:
    body = _read(ObservableCreate, {"type": type, "value": value, "note": note or None})
    store, ip = app_context(request).store, client_ip(request)
    limit = app_context(request).settings.incident_max_items
    casework.add_observable(store=store, incident_id=incident_id, data=body, limit=limit, actor=actor, ip=ip)
    return _back(incident_id, "observables")


@router.post("/incidents/{incident_id}/observables/{observable_id}/remove")
def observable_remove(request: Request, incident_id: str, observable_id: str, actor: Analyst) -> Response:
    ctx, ip = app_context(request), client_ip(request)
    casework.remove_observable(
        store=ctx.store,
        incident_id=incident_id,
        observable=observable_id,
        max_extracted=ctx.settings.incident_max_extracted,
        actor=actor,
        ip=ip,
    )
    return _back(incident_id, "observables")


@post_upload(router, "/incidents/{incident_id}/attachments")
async def attachment_add(request: Request, incident_id: str, actor: Analyst, file: UploadFile) -> Response:
    await upload_attachment(request, incident_id, file, actor, client_ip(request))
    return _back(incident_id, "attachments")


@router.post("/incidents/{incident_id}/attachments/{attachment_id}/remove")
def attachment_remove(request: Request, incident_id: str, attachment_id: str, actor: Analyst) -> Response:
    store, ip = app_context(request).store, client_ip(request)
    casework.remove_attachment(
        store=store, incident_id=incident_id, attachment_id=attachment_id, actor=actor, ip=ip
    )
    return _back(incident_id, "attachments")
