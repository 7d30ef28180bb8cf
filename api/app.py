"""The JSON API's part of the HTTP application: intake, read API, ops routes, error answers and the
security headers every response carries. The composition root builds the app (`socpipe.app`) and
adds the console beside it.

The OpenAPI document and its Swagger page are for signed-in users (a session or an API token): the
document lists every operation and parameter, which an anonymous caller has no use for. Tests and
tools in the process call `app.openapi()` directly.

HSTS is sent when the request came over TLS as uvicorn sees it: its own TLS, or `X-Forwarded-Proto:
https` from a proxy it trusts (`FORWARDED_ALLOW_IPS`, 127.0.0.1 by default). A plain-http answer
never carries it (browsers ignore it there anyway, RFC 6797 §8.1).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from api.alerts.routes import router as alerts_router
from api.audit.routes import router as audit_router
from api.auth.csrf import CSRF_COOKIE
from api.auth.deps import PROVINCE_WIDE, SESSION_COOKIE, require_roles
from api.auth.routes import router as auth_router
from api.auth.service import LoginLimiter
from api.context import AppContext
from api.coverage.routes import router as coverage_router
from api.docs import OPENAPI_URL
from api.docs import router as docs_router
from api.events.routes import router as events_router
from api.exceptions.routes import router as exceptions_router
from api.incidents.routes import router as incidents_router
from api.inspections.routes import install as install_inspections
from api.intake.routes import router as intake_router
from api.notify.routes import router as notify_router
from api.ops import router as ops_router
from api.periodic.routes import router as reports_router
from api.problems import install_problem_handlers
from api.registry.routes import router as registry_router
from api.rules.routes import router as rules_router
from api.views.routes import router as views_router

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# Powerful browser features the console never uses, switched off for it and anything it frames.
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), "
    "payment=(), usb=(), interest-cohort=(), browsing-topics=()"
)
HSTS = "max-age=31536000; includeSubDomains"


def protect(request: Request, response: Response) -> None:
    """The headers every answer carries: what the browser may load, frame, sniff and send on."""
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Permissions-Policy"] = PERMISSIONS_POLICY
    if request.url.scheme == "https":
        response.headers["Strict-Transport-Security"] = HSTS


def protect_server_errors(app: FastAPI) -> None:
    """Give unexpected failures' answers the same headers. Starlette answers them outside every
    middleware (its outermost `ServerErrorMiddleware` calls the `Exception` handler), so the handler
    itself adds them; call this after every other handler is installed (it wraps the last one)."""
    inner = app.exception_handlers[Exception]

    async def handler(request: Request, exc: Exception) -> Response:
        answer = inner(request, exc)
        response = await answer if isinstance(answer, Awaitable) else answer
        protect(request, response)
        return response

    app.add_exception_handler(Exception, handler)


def install(app: FastAPI, ctx: AppContext) -> None:
    """Add the API to `app`: its state (context, login limiter), handlers and routes.

    The login limiter counts in the store, so every replica over the same store shares its counts."""
    app.state.ctx = ctx
    auth = ctx.settings.auth
    app.state.login_limiter = LoginLimiter(
        ctx.store,
        per_user=auth.login_max_failures,
        per_ip=auth.login_max_failures_per_ip,
        window_s=auth.login_window_s,
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
        protect(request, response)
        return response

    signed_in = [Depends(require_roles())]

    @app.get(OPENAPI_URL, include_in_schema=False, dependencies=signed_in)
    def openapi_document() -> JSONResponse:
        return JSONResponse(app.openapi())

    app.include_router(docs_router)
    app.include_router(ops_router)
    app.include_router(intake_router)
    app.include_router(auth_router)
    app.include_router(alerts_router)
    app.include_router(incidents_router)
    app.include_router(audit_router)
    app.include_router(rules_router)
    app.include_router(exceptions_router)
    app.include_router(views_router)
    # The read API (events, dead letters, source activity): any signed-in role, checked server-side.
    app.include_router(events_router, dependencies=[Depends(require_roles(*PROVINCE_WIDE))])
    app.include_router(coverage_router)
    app.include_router(reports_router)  # the weekly and monthly reports
    app.include_router(registry_router)
    app.include_router(notify_router)  # early warnings' acknowledgement links: the token authorizes
    install_inspections(app)  # inspection API, InspectionError -> 403/404/413/422
