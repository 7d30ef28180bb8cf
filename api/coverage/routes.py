"""Coverage API: the police's figures, history, gaps and exports.

GET /api/v1/coverage              current figures per scope and unit, targets, systems
GET /api/v1/coverage/history      the chart series (scope, unit, window)
GET /api/v1/coverage/gaps         every gap with its start and end
GET /api/v1/coverage/export.csv   the dashboard as CSV
GET /api/v1/coverage/export.pdf   the dashboard as a PDF report in Vietnamese

The console's dashboard (`/coverage`) is a page of the console, over the same `build_report`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from api.coverage.deps import CanSee, coverage_deps
from api.coverage.export import to_csv, to_pdf
from api.coverage.view import build_report, report_json
from api.media import FILE, file_responses
from api.paging import DEFAULT_SIZE, Cursor, ItemPage, Size, page_of
from api.times import Time
from soc_core.coverage import Gap

router = APIRouter()
SCOPES = ("important_systems", "level3_and_above", "all_systems", "endpoints", "service_centre_endpoints")


@router.get("/api/v1/coverage")
async def coverage(request: Request, user: CanSee) -> dict[str, Any]:
    ctx, repo = coverage_deps(request)
    report = await run_in_threadpool(build_report, ctx.store, repo)
    return report_json(report)


@router.get("/api/v1/coverage/history")
async def coverage_history(
    request: Request,
    user: CanSee,
    scope: Annotated[str, Query(pattern="|".join(SCOPES))] = "important_systems",
    unit: str | None = None,
    start: Time | None = None,
    end: Time | None = None,
    points: Annotated[int, Query(ge=2, le=5000)] = 500,
) -> dict[str, Any]:
    _, repo = coverage_deps(request)
    end = end or datetime.now(UTC)
    start = start or end - timedelta(days=30)
    series = await run_in_threadpool(repo.history, scope, unit, start, end, points)
    return {
        "scope": scope,
        "unit_id": unit,
        "points": [
            {"at": at.isoformat(), "covered": c, "total": t, "ratio": round(c / t, 4) if t else 0.0}
            for at, c, t in series
        ],
    }


@router.get("/api/v1/coverage/gaps")
async def coverage_gaps(
    request: Request,
    user: CanSee,
    kind: Annotated[str | None, Query(pattern="source|system|endpoint")] = None,
    subject: str | None = None,
    start: Time | None = None,
    end: Time | None = None,
    size: Size = DEFAULT_SIZE,
    cursor: Cursor = None,
) -> ItemPage[Gap]:
    """Oldest start first."""
    _, repo = coverage_deps(request)
    gaps = await run_in_threadpool(lambda: repo.gaps(kind=kind, subject_id=subject, start=start, end=end))
    return page_of(gaps, key=lambda g: (g.start.timestamp(), g.kind, g.subject_id), size=size, cursor=cursor)


@router.get(
    "/api/v1/coverage/export.csv",
    response_class=FILE,
    responses=file_responses("text/csv", description="the dashboard as CSV"),
)
async def coverage_csv(request: Request, user: CanSee) -> Response:
    ctx, repo = coverage_deps(request)
    report = await run_in_threadpool(build_report, ctx.store, repo)
    name = f"bao-cao-giam-sat-{report.now:%Y%m%d-%H%M}.csv"
    return Response(
        to_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/api/v1/coverage/export.pdf",
    response_class=FILE,
    responses=file_responses("application/pdf", description="the dashboard as a PDF report"),
)
async def coverage_pdf(request: Request, user: CanSee) -> Response:
    ctx, repo = coverage_deps(request)
    report = await run_in_threadpool(build_report, ctx.store, repo)
    pdf = await run_in_threadpool(to_pdf, report)
    name = f"bao-cao-giam-sat-{report.now:%Y%m%d-%H%M}.pdf"
    return Response(
        pdf, media_type="application/pdf", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
