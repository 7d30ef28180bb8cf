"""The HTTP application: intake, read API, ops routes and the console, with security headers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

from api.context import AppContext
from api.events.routes import router as events_router
from api.intake.routes import router as intake_router
from api.ops import router as ops_router
from soc_console.routes import router as console_router

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def create_app(ctx: AppContext) -> FastAPI:
    app = FastAPI(title="socpipe", version="0.1.0", docs_url="/api/docs", openapi_url="/api/openapi.json")
    app.state.ctx = ctx

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Frame-Options"] = "DENY"
        return response

    app.include_router(ops_router)
    app.include_router(intake_router)
    app.include_router(events_router)
    app.include_router(console_router)
    static = Path(__file__).resolve().parent.parent / "soc_console" / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    return app
