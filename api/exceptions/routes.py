"""Exception API: list (with suppressed counts), read, draft from an alert, create, revoke.

Reading needs any province-wide role; creating and revoking need analyst (or admin). Mounted by
`api.app.install`; the rules come from `AppContext.detect_engine`, the exceptions from the backend.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request

from api.auth.csrf import csrf_protect
from api.deps import Analyst, ClientIp, Reader, app_context
from api.exceptions import service
from api.exceptions.models import (
    ExceptionCreate,
    ExceptionDraft,
    ExceptionFromAlert,
    ExceptionListParams,
    ExceptionRead,
    Revoke,
)
from api.paging import ItemPage
from detections.engine import DetectionEngine
from soc_core.exceptions import AnalystException

router = APIRouter(prefix="/api/v1/exceptions", tags=["exceptions"], dependencies=[Depends(csrf_protect)])


def _engine(request: Request) -> DetectionEngine:
    engine = app_context(request).detect_engine
    if engine is None:
        raise HTTPException(503, "this process has no detection engine: exceptions cannot name rules")
    return engine


def _writing(request: Request) -> dict[str, Any]:
    """What every creation needs of the process: where exceptions go, the audit, rules, limits."""
    ctx = app_context(request)
    return {
        "repo": ctx.backend.exceptions,
        "audit_store": ctx.store,
        "engine": _engine(request),
        "settings": ctx.settings.detection,
    }


def _read(request: Request, exception: AnalystException) -> ExceptionRead:
    return service.read_model(exception, app_context(request).settings.detection, datetime.now(UTC))


@router.get("", response_model=ItemPage[ExceptionRead])
def list_exceptions(
    request: Request, _: Reader, params: Annotated[ExceptionListParams, Query()]
) -> ItemPage[ExceptionRead]:
    """Filters: status (active|expired|revoked), rule, expiring_within_days; size, cursor (`api.paging`).
    Soonest expiry first."""
    ctx = app_context(request)
    return service.listing(repo=ctx.backend.exceptions, settings=ctx.settings.detection, params=params)


@router.get("/draft", response_model=ExceptionDraft)
def draft_from_alert(
    request: Request, _: Analyst, alert_id: Annotated[str, Query(min_length=1, max_length=200)]
) -> ExceptionDraft:
    """The alert's event fields (those the rule reads marked `suggested`) and its unit/system/host."""
    return service.draft(store=app_context(request).store, engine=_engine(request), alert_id=alert_id)


@router.post("", response_model=ExceptionRead, status_code=201)
def create_exception(request: Request, body: ExceptionCreate, actor: Analyst, ip: ClientIp) -> ExceptionRead:
    exception = service.create(**_writing(request), body=body, actor=actor, ip=ip)
    return _read(request, exception)


@router.post("/from-alert", response_model=ExceptionRead, status_code=201)
def create_from_alert(
    request: Request, body: ExceptionFromAlert, actor: Analyst, ip: ClientIp
) -> ExceptionRead:
    """From an alert closed as a false positive (409 otherwise): the picked fields' values from its
    event (or edited ones in `values`), optionally only in its unit, system or host."""
    store = app_context(request).store
    exception = service.create_from_alert(**_writing(request), store=store, body=body, actor=actor, ip=ip)
    return _read(request, exception)


@router.get("/{exception_id}", response_model=ExceptionRead)
def read_exception(request: Request, exception_id: str, _: Reader) -> ExceptionRead:
    exception = service.get(repo=app_context(request).backend.exceptions, exception_id=exception_id)
    return _read(request, exception)


@router.post("/{exception_id}/revoke", response_model=ExceptionRead)
def revoke_exception(
    request: Request,
    exception_id: str,
    actor: Analyst,
    ip: ClientIp,
    body: Annotated[Revoke | None, Body()] = None,
) -> ExceptionRead:
    """End it now, before its expiry (409 when it is expired or revoked already)."""
    ctx = app_context(request)
    exception = service.revoke(
        repo=ctx.backend.exceptions,
        audit_store=ctx.store,
        exception_id=exception_id,
        reason=body.reason if body else None,
        actor=actor,
        ip=ip,
    )
    return _read(request, exception)
