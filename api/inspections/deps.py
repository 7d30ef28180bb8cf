"""What the inspection API and the console's inspection pages take from the running process.

The repositories come from the process's persistence backend, the detect stage from the
context's engine. The request-level steps both sides share (running a service write, building a
dossier for a window, taking an evidence upload) live here too, so a page and its JSON twin cannot
drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.types import Message, Receive

from api.alerts.sla import policy_of
from api.auth.deps import Principal, Role, require_roles
from api.deps import app_context as app_context
from api.deps import client_ip as client_ip
from api.inspections import dossier as dossiers
from api.inspections import evidence
from api.inspections.errors import EvidenceTooLarge
from api.inspections.models import EvidenceFile
from soc_core.coverage import CoverageRepository
from soc_core.inspections import InspectionRepository
from soc_core.pipeline import Detect

Reader = Annotated[Principal, Depends(require_roles(Role.POLICE, Role.ANALYST, Role.INSPECTOR))]
PlanWriter = Annotated[Principal, Depends(require_roles(Role.POLICE))]
FieldWriter = Annotated[Principal, Depends(require_roles(Role.POLICE, Role.INSPECTOR))]
FromParam = Annotated[str | None, Query(alias="from", description="YYYY-MM-DD (Vietnam) or ISO time")]
ToParam = Annotated[str | None, Query(alias="to", description="YYYY-MM-DD (inclusive) or ISO time")]


def inspection_repo(request: Request) -> InspectionRepository:
    return app_context(request).backend.inspections


def coverage_repo(request: Request) -> CoverageRepository:
    return app_context(request).backend.coverage


def upload_detect(request: Request) -> Detect | None:
    """A detect stage for one upload, over the process's engine (the one the rules API uses) with
    its own suppression; None when the process has no rules."""
    engine = app_context(request).detect_engine
    return evidence.detect_for_upload(engine) if engine is not None else None


def data_dir(request: Request) -> Path:
    return Path(app_context(request).settings.data_dir)


Result = TypeVar("Result")


async def record(request: Request, actor: Principal, write: Callable[..., Result], /, **args: Any) -> Result:
    """Run one service write off the event loop, with the store, the repository, the actor and the
    client's address filled in (`await record(request, actor, service.update_visit, visit_id=..., ...)`)."""
    repo, store, ip = inspection_repo(request), app_context(request).store, client_ip(request)
    return await run_in_threadpool(lambda: write(store=store, repo=repo, actor=actor, ip=ip, **args))


async def load_dossier(
    request: Request, unit_id: str, user: Principal, start: str | None, end: str | None
) -> dossiers.UnitDossier:
    """The unit's dossier for the window `start`..`end` (days or ISO times), as the caller may see it."""
    repo, store, coverage = inspection_repo(request), app_context(request).store, coverage_repo(request)
    result: dossiers.UnitDossier = await run_in_threadpool(
        lambda: dossiers.build_dossier(
            store=store,
            repo=repo,
            coverage=coverage,
            unit_id=unit_id,
            principal=user,
            start=dossiers.parse_bound(start, end=False),
            end=dossiers.parse_bound(end, end=True),
            sla=policy_of(app_context(request).settings),
        )
    )
    return result


FORM_OVERHEAD = 64 * 1024
"""Bytes of a multipart body beside the file: boundaries, part headers and the small form fields."""


class _BoundedBody:
    """The request's `receive`, refusing once the body is past `limit`: a declared Content-Length
    before anything is read, else the first chunk over it (nothing after it is read)."""

    def __init__(self, receive: Receive, limit: int, declared: str | None) -> None:
        self._receive = receive
        self.limit = limit
        self.read = 0
        self.over = declared is not None and declared.isdigit() and int(declared) > limit

    async def receive(self) -> Message:
        if self.over:
            raise EvidenceTooLarge("the file is larger than the upload limit", limit=self.limit)
        message = await self._receive()
        if message["type"] == "http.request":
            self.read += len(message.get("body", b""))
            if self.read > self.limit:
                self.over = True
                raise EvidenceTooLarge("the file is larger than the upload limit", limit=self.limit)
        return message


class UploadRoute(APIRoute):
    """A route taking an evidence file: its body is held to `SOC_MAX_UPLOAD_BYTES` while it is read.

    FastAPI reads a multipart form whole (spooling the file to disk) before the handler runs, so
    a limit checked in the handler comes after the whole body was taken in; here the form parser
    itself is handed a bounded `receive`. FastAPI turns a failure while reading a form into a 400,
    so the refusal is raised again as what it is (413)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def bounded(request: Request) -> Response:
            limit = app_context(request).settings.ingest.max_upload_bytes + FORM_OVERHEAD
            body = _BoundedBody(request.receive, limit, request.headers.get("content-length"))
            if body.over:
                raise EvidenceTooLarge("the file is larger than the upload limit", limit=limit)
            try:
                return await handler(Request(request.scope, body.receive))
            except HTTPException:
                if body.over:
                    raise EvidenceTooLarge("the file is larger than the upload limit", limit=limit) from None
                raise

        return bounded


Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def post_upload(router: APIRouter, path: str, **options: Any) -> Callable[[Endpoint], Endpoint]:
    """`@post_upload(router, path, ...)`: `@router.post(path, ...)` for a route taking an evidence
    file, its body bounded while it is read (`UploadRoute`)."""

    def register(endpoint: Endpoint) -> Endpoint:
        router.add_api_route(path, endpoint, methods=["POST"], route_class_override=UploadRoute, **options)
        return endpoint

    return register


async def ingest_upload(
    request: Request,
    visit_id: str,
    upload: UploadFile,
    fmt: str | None,
    system_id: str | None,
    actor: Principal,
) -> tuple[EvidenceFile, bool]:
    """Keep an uploaded file as the visit's evidence and run it through the pipeline."""
    repo, store, detect = inspection_repo(request), app_context(request).store, upload_detect(request)
    folder = data_dir(request)
    result: tuple[EvidenceFile, bool] = await run_in_threadpool(
        lambda: evidence.ingest_evidence(
            store=store,
            repo=repo,
            data_dir=folder,
            visit_id=visit_id,
            source=upload.file,
            filename=upload.filename or "upload",
            fmt=fmt or None,
            system_id=system_id or None,
            detect=detect,
            actor=actor,
            ip=client_ip(request),
            max_bytes=app_context(request).settings.ingest.max_upload_bytes,
        )
    )
    return result
