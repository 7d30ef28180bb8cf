"""Inspection API (JSON). Thin: each route reads its input, calls the service, answers.

`csrf_protect` on unsafe methods, exempt for bearer tokens:
    GET/POST   /api/v1/inspections/plans                      list / create (police)
    GET/PATCH  /api/v1/inspections/plans/{plan_id}            read / change (police)
    POST       /api/v1/inspections/plans/{plan_id}/units/{unit_id}/self-assessment
    GET/POST   /api/v1/inspections/visits                     list / create (the plan's team, police)
    GET/PATCH  /api/v1/inspections/visits/{visit_id}
    POST       /api/v1/inspections/visits/{visit_id}/findings
    POST       /api/v1/inspections/visits/{visit_id}/evidence multipart: file, format?, system_id?
    GET        /api/v1/inspections/findings                   ?unit=&status=&overdue=true
    GET        /api/v1/inspections/findings/overdue           still open after their deadline
    GET/PATCH  /api/v1/inspections/findings/{finding_id}
    GET        /api/v1/inspections/evidence                   ?unit=&visit=
    GET        /api/v1/inspections/evidence/{file_id}[/content]
    GET        /api/v1/inspections/suggestions                ad-hoc inspection candidates
    GET        /api/v1/inspections/reminders
    GET        /api/v1/units/{unit_id}/dossier[.pdf|.docx]    ?from=&to=

The console's inspection pages call the same service and `api.inspections.deps`. `install(app)`
includes the router and answers the typed errors as problem details (`api.problems`); visibility
is enforced by the service, so a route never decides who sees a unit.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from api.auth.csrf import csrf_protect
from api.errors import InvalidChange, NotFound
from api.inspections import dossier as dossiers
from api.inspections import evidence, service
from api.inspections.deps import (
    FieldWriter,
    FromParam,
    PlanWriter,
    Reader,
    ToParam,
    app_context,
    data_dir,
    ingest_upload,
    inspection_repo,
    load_dossier,
    post_upload,
    record,
)
from api.inspections.errors import InspectionError
from api.inspections.export import to_docx, to_pdf
from api.inspections.models import (
    EvidenceFile,
    Finding,
    FindingCreate,
    FindingRead,
    FindingStatus,
    FindingUpdate,
    InspectionPlan,
    PlanCreate,
    PlanRead,
    PlanUpdate,
    Reminder,
    SelfAssessmentReceived,
    Suggestion,
    Visit,
    VisitCreate,
    VisitRead,
    VisitUpdate,
)
from api.inspections.suggestions import suggest_adhoc, suggestion_order
from api.media import FILE, file_responses
from api.paging import DEFAULT_SIZE, Cursor, ItemPage, Size, page_of
from api.problems import soc_error_response
from soc_core.errors import SocError

api_router = APIRouter(tags=["inspections"], dependencies=[Depends(csrf_protect)])


def error_response(request: Request, exc: Exception) -> Response:
    """Typed inspection errors as problem details (the console answers its own pages with HTML)."""
    assert isinstance(exc, SocError)
    return soc_error_response(request, exc)


def install(app: FastAPI) -> None:
    """Include the inspection API and its error answers in `app` (once)."""
    if getattr(app.state, "inspections_installed", False):
        return
    for kind in (InspectionError, NotFound, InvalidChange):
        app.add_exception_handler(kind, error_response)
    app.include_router(api_router)
    app.state.inspections_installed = True


def _run(fn: Callable[[], Any]) -> Any:
    return run_in_threadpool(fn)


# -- API: plans --------------------------------------------------------------------------------------


@api_router.get("/api/v1/inspections/plans", response_model=ItemPage[PlanRead])
async def list_plans(
    request: Request, user: Reader, size: Size = DEFAULT_SIZE, cursor: Cursor = None
) -> ItemPage[PlanRead]:
    repo, store = inspection_repo(request), app_context(request).store

    def work() -> ItemPage[PlanRead]:
        plans = service.list_plans(repo=repo, principal=user)
        page = page_of(plans, key=service.plan_order, size=size, cursor=cursor)
        registry = store.load_registry()
        return page.map(lambda p: service.plan_read(p, registry))

    result: ItemPage[PlanRead] = await _run(work)
    return result


@api_router.post("/api/v1/inspections/plans", response_model=PlanRead, status_code=201)
async def create_plan(request: Request, body: PlanCreate, actor: PlanWriter) -> PlanRead:
    return await _plan_read(request, await record(request, actor, service.create_plan, data=body))


async def _plan_read(request: Request, plan: InspectionPlan) -> PlanRead:
    store = app_context(request).store
    result: PlanRead = await _run(lambda: service.plan_read(plan, store.load_registry()))
    return result


@api_router.get("/api/v1/inspections/plans/{plan_id}", response_model=PlanRead)
async def read_plan(request: Request, plan_id: str, user: Reader) -> PlanRead:
    repo = inspection_repo(request)
    plan = await _run(lambda: service.get_plan(repo=repo, plan_id=plan_id, principal=user))
    return await _plan_read(request, plan)


@api_router.patch("/api/v1/inspections/plans/{plan_id}", response_model=PlanRead)
async def update_plan(request: Request, plan_id: str, body: PlanUpdate, actor: PlanWriter) -> PlanRead:
    plan = await record(request, actor, service.update_plan, plan_id=plan_id, change=body)
    return await _plan_read(request, plan)


@api_router.post(
    "/api/v1/inspections/plans/{plan_id}/units/{unit_id}/self-assessment", response_model=PlanRead
)
async def self_assessment(
    request: Request, plan_id: str, unit_id: str, body: SelfAssessmentReceived, actor: FieldWriter
) -> PlanRead:
    plan = await record(
        request, actor, service.mark_self_assessment, plan_id=plan_id, unit_id=unit_id, data=body
    )
    return await _plan_read(request, plan)


# -- API: visits and findings ----------------------------------------------------------------------


@api_router.get("/api/v1/inspections/visits", response_model=ItemPage[Visit])
async def list_visits(
    request: Request,
    user: Reader,
    plan: str | None = None,
    unit: str | None = None,
    size: Size = DEFAULT_SIZE,
    cursor: Cursor = None,
) -> ItemPage[Visit]:
    repo = inspection_repo(request)
    result: ItemPage[Visit] = await _run(
        lambda: page_of(
            service.list_visits(repo=repo, principal=user, plan_id=plan, unit_id=unit),
            key=service.visit_order,
            size=size,
            cursor=cursor,
        )
    )
    return result


@api_router.post("/api/v1/inspections/visits", response_model=Visit, status_code=201)
async def create_visit(request: Request, body: VisitCreate, actor: FieldWriter) -> Visit:
    return await record(request, actor, service.create_visit, data=body)


@api_router.get("/api/v1/inspections/visits/{visit_id}", response_model=VisitRead)
async def read_visit(request: Request, visit_id: str, user: Reader) -> VisitRead:
    repo, store = inspection_repo(request), app_context(request).store

    def work() -> VisitRead:
        visit = service.get_visit(repo=repo, visit_id=visit_id, principal=user)
        return service.visit_read(repo=repo, visit=visit, registry=store.load_registry())

    result: VisitRead = await _run(work)
    return result


@api_router.patch("/api/v1/inspections/visits/{visit_id}", response_model=Visit)
async def update_visit(request: Request, visit_id: str, body: VisitUpdate, actor: FieldWriter) -> Visit:
    return await record(request, actor, service.update_visit, visit_id=visit_id, change=body)


async def _finding_reads(request: Request, found: list[Finding]) -> list[FindingRead]:
    store = app_context(request).store
    result: list[FindingRead] = await _run(lambda: [service.finding_read(store, f) for f in found])
    return result


@api_router.post(
    "/api/v1/inspections/visits/{visit_id}/findings", response_model=FindingRead, status_code=201
)
async def create_finding(
    request: Request, visit_id: str, body: FindingCreate, actor: FieldWriter
) -> FindingRead:
    finding = await record(request, actor, service.create_finding, visit_id=visit_id, data=body)
    return (await _finding_reads(request, [finding]))[0]


@api_router.get("/api/v1/inspections/findings", response_model=ItemPage[FindingRead])
async def list_findings(
    request: Request,
    user: Reader,
    unit: str | None = None,
    status: Annotated[list[FindingStatus] | None, Query()] = None,
    overdue: bool = False,
    size: Size = DEFAULT_SIZE,
    cursor: Cursor = None,
) -> ItemPage[FindingRead]:
    repo, store = inspection_repo(request), app_context(request).store

    def work() -> ItemPage[FindingRead]:
        found = service.list_findings(
            repo=repo, principal=user, unit_id=unit, status=[s.value for s in status or []], overdue=overdue
        )
        page = page_of(found, key=service.finding_order, size=size, cursor=cursor)
        return page.map(lambda f: service.finding_read(store, f))

    result: ItemPage[FindingRead] = await _run(work)
    return result


@api_router.get("/api/v1/inspections/findings/overdue", response_model=ItemPage[FindingRead])
async def overdue_findings(
    request: Request, user: Reader, size: Size = DEFAULT_SIZE, cursor: Cursor = None
) -> ItemPage[FindingRead]:
    """For the police: findings still open after their remediation deadline, oldest deadline first."""
    return await list_findings(request, user, overdue=True, size=size, cursor=cursor)


@api_router.get("/api/v1/inspections/findings/{finding_id}", response_model=FindingRead)
async def read_finding(request: Request, finding_id: str, user: Reader) -> FindingRead:
    repo = inspection_repo(request)
    finding = await _run(lambda: service.get_finding(repo=repo, finding_id=finding_id, principal=user))
    return (await _finding_reads(request, [finding]))[0]


@api_router.patch("/api/v1/inspections/findings/{finding_id}", response_model=FindingRead)
async def update_finding(
    request: Request, finding_id: str, body: FindingUpdate, actor: FieldWriter
) -> FindingRead:
    finding = await record(request, actor, service.update_finding, finding_id=finding_id, change=body)
    return (await _finding_reads(request, [finding]))[0]


# -- API: evidence ---------------------------------------------------------------------------------


@post_upload(
    api_router, "/api/v1/inspections/visits/{visit_id}/evidence", response_model=EvidenceFile, status_code=201
)
async def upload_evidence(
    request: Request,
    response: Response,
    visit_id: str,
    actor: FieldWriter,
    file: UploadFile,
    format: Annotated[str | None, Form(max_length=64)] = None,
    system_id: Annotated[str | None, Form(max_length=64)] = None,
) -> EvidenceFile:
    """201 with the new file; 200 with the file already kept when this visit holds the same bytes."""
    kept, created = await ingest_upload(request, visit_id, file, format, system_id, actor)
    if not created:
        response.status_code = 200
    return kept


@api_router.get("/api/v1/inspections/evidence", response_model=ItemPage[EvidenceFile])
async def list_evidence(
    request: Request,
    user: Reader,
    unit: str | None = None,
    visit: str | None = None,
    size: Size = DEFAULT_SIZE,
    cursor: Cursor = None,
) -> ItemPage[EvidenceFile]:
    repo = inspection_repo(request)
    result: ItemPage[EvidenceFile] = await _run(
        lambda: page_of(
            service.list_files(repo=repo, principal=user, unit_id=unit, visit_id=visit),
            key=service.file_order,
            size=size,
            cursor=cursor,
        )
    )
    return result


@api_router.get("/api/v1/inspections/evidence/{file_id}", response_model=EvidenceFile)
async def read_evidence(request: Request, file_id: str, user: Reader) -> EvidenceFile:
    repo = inspection_repo(request)
    result: EvidenceFile = await _run(lambda: service.get_file(repo=repo, file_id=file_id, principal=user))
    return result


@api_router.get(
    "/api/v1/inspections/evidence/{file_id}/content",
    response_class=FILE,
    responses=file_responses("application/octet-stream", description="the file as received"),
)
async def evidence_content(request: Request, file_id: str, user: Reader) -> FileResponse:
    """The file as it was received, after checking it still matches its SHA-256."""
    repo, folder = inspection_repo(request), data_dir(request)

    def work() -> tuple[Path, EvidenceFile]:
        kept = service.get_file(repo=repo, file_id=file_id, principal=user)
        return evidence.open_kept(folder, kept), kept

    path, kept = await _run(work)
    return FileResponse(
        path,
        media_type="application/octet-stream",
        filename=kept.filename,
        headers={"X-Content-SHA256": kept.sha256},
    )


# -- API: suggestions, reminders, dossier ----------------------------------------------------------


@api_router.get("/api/v1/inspections/suggestions", response_model=ItemPage[Suggestion])
async def suggestions(
    request: Request,
    user: Reader,
    days: Annotated[int, Query(ge=1, le=90)] = 7,
    high: Annotated[int, Query(ge=1, le=100_000)] = 5,
    checklist: Annotated[int, Query(ge=1, le=100_000)] = 3,
    size: Size = DEFAULT_SIZE,
    cursor: Cursor = None,
) -> ItemPage[Suggestion]:
    repo, store = inspection_repo(request), app_context(request).store

    def work() -> ItemPage[Suggestion]:
        found = suggest_adhoc(
            store=store,
            repo=repo,
            principal=user,
            days=days,
            high_threshold=high,
            checklist_threshold=checklist,
        )
        return page_of(found, key=suggestion_order, size=size, cursor=cursor)

    result: ItemPage[Suggestion] = await _run(work)
    return result


@api_router.get("/api/v1/inspections/reminders", response_model=ItemPage[Reminder])
async def reminders(
    request: Request, user: Reader, unit: str | None = None, size: Size = DEFAULT_SIZE, cursor: Cursor = None
) -> ItemPage[Reminder]:
    """The latest reminders sent (the repository keeps the 200 newest per query), newest first."""
    repo = inspection_repo(request)
    result: ItemPage[Reminder] = await _run(
        lambda: page_of(
            service.list_reminders(repo=repo, principal=user, unit_id=unit),
            key=lambda r: (-r.created_at.timestamp(), r.id),
            size=size,
            cursor=cursor,
        )
    )
    return result


@api_router.get("/api/v1/units/{unit_id}/dossier", response_model=dossiers.UnitDossier)
async def unit_dossier(
    request: Request, unit_id: str, user: Reader, start: FromParam = None, end: ToParam = None
) -> dossiers.UnitDossier:
    result: dossiers.UnitDossier = await load_dossier(request, unit_id, user, start, end)
    return result


def _filename(d: dossiers.UnitDossier, ext: str) -> str:
    first, last = dossiers.window_days(d)
    return f"ho-so-{d.unit.id}-{first:%Y%m%d}-{last:%Y%m%d}.{ext}"


DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@api_router.get(
    "/api/v1/units/{unit_id}/dossier.pdf",
    response_class=FILE,
    responses=file_responses("application/pdf", description="the dossier as PDF"),
)
async def unit_dossier_pdf(
    request: Request, unit_id: str, user: Reader, start: FromParam = None, end: ToParam = None
) -> Response:
    d: dossiers.UnitDossier = await load_dossier(request, unit_id, user, start, end)
    pdf: bytes = await _run(lambda: to_pdf(d))
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{_filename(d, "pdf")}"'},
    )


@api_router.get(
    "/api/v1/units/{unit_id}/dossier.docx",
    response_class=FILE,
    responses=file_responses(DOCX, description="the dossier as a Word document"),
)
async def unit_dossier_docx(
    request: Request, unit_id: str, user: Reader, start: FromParam = None, end: ToParam = None
) -> Response:
    d: dossiers.UnitDossier = await load_dossier(request, unit_id, user, start, end)
    docx: bytes = await _run(lambda: to_docx(d))
    return Response(
        docx,
        media_type=DOCX,
        headers={"Content-Disposition": f'attachment; filename="{_filename(d, "docx")}"'},
    )
