"""The audit log for administrators: who did what, filtered by actor, action and target."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.audit import service as audit
from soc_console.pages.common import Admin, app_context, render, url_with
from soc_core.store import AuditQuery

router = APIRouter()


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    principal: Admin,
    actor: str = "",
    action: str = "",
    target: str = "",
    cursor: str | None = None,
) -> HTMLResponse:
    query = AuditQuery(
        actor=actor or None, action=action or None, target_id=target or None, size=50, cursor=cursor
    )
    page = audit.search(store=app_context(request).store, query=query)
    filters = {"actor": actor, "action": action, "target": target}
    return render(
        request,
        "audit.html",
        nav="audit",
        page=page,
        filters=filters,
        next_url=url_with("/audit", filters, cursor=page.cursor) if page.cursor else None,
        principal=principal,
    )
