"""`/health` (checks every dependency) and `/metrics` (Prometheus) for the API process."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.context import AppContext
from api.media import FILE, file_responses
from soc_core.health import health_status

router = APIRouter()


@router.get("/health")
def health(request: Request) -> Response:
    ctx: AppContext = request.app.state.ctx
    status, body = health_status(ctx.health())
    return Response(body, status_code=status, media_type="application/json")


@router.get(
    "/metrics",
    response_class=FILE,
    responses=file_responses("text/plain", description="Prometheus text exposition"),
)
def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
