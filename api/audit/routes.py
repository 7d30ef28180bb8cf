"""Audit API for administrators (the console's audit page reads the same service)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from api.audit import service
from api.audit.models import AuditRead
from api.auth.deps import Principal, Role, require_roles
from api.paging import DEFAULT_SIZE, Cursor, ItemPage, Size, from_store
from api.times import Time
from soc_core.store import AuditQuery

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
Admin = Annotated[Principal, Depends(require_roles(Role.ADMIN))]


@router.get("", response_model=ItemPage[AuditRead])
def list_audit(
    request: Request,
    _: Admin,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    start: Time | None = None,
    end: Time | None = None,
    size: Size = DEFAULT_SIZE,
    cursor: Cursor = None,
) -> ItemPage[AuditRead]:
    page = service.search(
        store=request.app.state.ctx.store,
        query=AuditQuery(
            actor=actor, action=action, target_id=target, start=start, end=end, size=size, cursor=cursor
        ),
    )
    return from_store(page, lambda e: AuditRead.model_validate(e.model_dump()))
