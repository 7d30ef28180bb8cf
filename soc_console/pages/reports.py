"""The periodic reports: the weekly and monthly reports kept so far, their files and mailing, and
for an admin "generate now" (the same functions as `api.periodic.routes`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from api.auth.deps import Principal, Role, require_roles
from api.periodic.periods import ReportKind
from api.periodic.routes import archive_of, generate_now
from soc_console.pages.common import Admin, render, see_other

router = APIRouter()
Reader = Annotated[Principal, Depends(require_roles(Role.POLICE, Role.ANALYST))]
SHOWN = 200


@router.get("/reports", response_class=HTMLResponse)
async def reports_page(request: Request, user: Reader, made: str | None = None) -> HTMLResponse:
    reports = await run_in_threadpool(archive_of(request).list)
    return render(
        request,
        "reports.html",
        nav="reports",
        reports=reports[:SHOWN],
        total=len(reports),
        made=made,
        user=user,
    )


@router.post("/reports/generate")
async def generate(request: Request, actor: Admin, kind: Annotated[ReportKind, Form()]) -> Response:
    report = await run_in_threadpool(generate_now, request, actor, kind, None)
    return see_other(f"/reports?made={report.id}")
