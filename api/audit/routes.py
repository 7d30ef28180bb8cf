"""Audit API for administrators (the console's audit page reads the same service)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from api.audit import service
from api.audit.models import AuditPage, AuditRead
from api.auth.deps import Principal, Role, require_roles
from soc_core.store import AuditQuery

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
Admin = Annotated[Principal, Depends(require_roles(Role.ADMIN))]


@router.get("", response_model=AuditPage)
def list_audit(
    request: Request,
    _: Admin,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    size: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> AuditPage:
    page = service.search(
        store=request.app.state.ctx.store,
        query=AuditQuery(
            actor=actor, action=action, target_id=target, start=start, end=end, size=size, cursor=cursor
        ),
    )
    return AuditPage(
        total=page.total,
        cursor=page.cursor,
        items=[AuditRead.model_validate(e.model_dump()) for e in page.items],
    )
