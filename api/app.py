"""The JSON API's part of the HTTP application: intake, read API, ops routes, error answers and the
security headers every response carries. The composition root builds the app (`socpipe.app`) and
adds the console beside it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Depends, FastAPI, Request, Response

from api.alerts.routes import router as alerts_router
from api.audit.routes import router as audit_router
from api.auth.csrf import CSRF_COOKIE
from api.auth.deps import PROVINCE_WIDE, SESSION_COOKIE, require_roles
from api.auth.routes import router as auth_router
from api.auth.service import LoginLimiter
from api.context import AppContext
from api.coverage.routes import router as coverage_router
from api.events.routes import router as events_router
from api.exceptions.routes import router as exceptions_router
from api.incidents.routes import router as incidents_router
from api.inspections.routes import install as install_inspections
from api.intake.routes import router as intake_router
from api.ops import router as ops_router
from api.problems import install_problem_handlers
from api.registry.routes import router as registry_router
from api.rules.routes import router as rules_router

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def install(app: FastAPI, ctx: AppContext) -> None:
    """Add the API to `app`: its state (context, login limiter), handlers and routes.

    The login limiter is the app's, not the context's: its counts belong to the HTTP server that
    answers the logins, and a test's fresh app starts with none."""
    app.state.ctx = ctx
    auth = ctx.settings.auth
    app.state.login_limiter = LoginLimiter(
        per_user=auth.login_max_failures, per_ip=auth.login_max_failures_per_ip, window_s=auth.login_window_s
    )
    install_problem_handlers(app)  # every API error as RFC 9457 problem details

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        new_csrf = getattr(request.state, "new_csrf_cookie", None)
        if new_csrf and not request.cookies.get(CSRF_COOKIE):
            response.set_cookie(
                CSRF_COOKIE,
                new_csrf,
                httponly=True,
                samesite="strict",
                secure=ctx.settings.secure_cookies,
                path="/",
            )
        if request.cookies.get(SESSION_COOKIE):
            response.headers.setdefault("Cache-Control", "no-store")  # signed-in pages stay out of caches
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Frame-Options"] = "DENY"
        return response

    app.include_router(ops_router)
    app.include_router(intake_router)
    app.include_router(auth_router)
    app.include_router(alerts_router)
    app.include_router(incidents_router)
    app.include_router(audit_router)
    app.include_router(rules_router)
    app.include_router(exceptions_router)
    # The read API (events, dead letters, source activity): any signed-in role, checked server-side.
    app.include_router(events_router, dependencies=[Depends(require_roles(*PROVINCE_WIDE))])
    app.include_router(coverage_router)
    app.include_router(registry_router)
    install_inspections(app)  # inspection API, InspectionError -> 403/404/413/422
