"""One error body for the whole JSON API: RFC 9457 problem details.

Every refusal under `/api/`, `/ingest/`, `/health` and `/metrics` is answered with
`Content-Type: application/problem+json`:

    {"type": "/problems/not-found", "title": "Not found", "status": 404,
     "detail": "no such alert", "instance": "/api/v1/alerts/x"}

`type` is a relative URI, `/problems/<slug>`, one per status the API answers on purpose (`KINDS`);
any other status gets `about:blank` with the HTTP reason phrase as title (RFC 9457 §4.2.1). `detail`
is our message, never a stack trace. Validation errors (422 from FastAPI's request validation, and
the registry's consistency check) carry the extension member `errors`, a list of
`{"location": "query.size", "message": "..."}` (`location` is null when a problem is not one field).
The answer keeps the refusal's headers (`Retry-After` on 429 and 503, `WWW-Authenticate` on 401).

Which status: `STATUS` for our typed `SocError`s (the most specific class listed wins, else 400),
`status_code` for `HTTPException`s (unknown route, wrong method, the auth dependencies), 422 for
`RequestValidationError`, 500 for anything unexpected.

Console pages (every other path) keep their own answers: the login redirect, an error page, or
FastAPI's plain `{"detail"}`, never problem details, so a browser is not handed a JSON document.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from api.alerts.errors import Conflict
from api.auth.errors import AuthFailed, CsrfFailed, TooManyAttempts, UserExists
from api.errors import InvalidChange, InvalidCursor, NotFound
from api.inspections.errors import AccessDenied, EvidenceRejected, EvidenceTooLarge
from api.registry.errors import RegistryInvalid
from notify.ack import AckLinkInvalid
from notify.config import NotifyConfigInvalid
from soc_core.errors import BackPressure, SocError, StoreError

PROBLEM_JSON = "application/problem+json"
MACHINE_PREFIXES = ("/api/", "/ingest/")
MACHINE_PATHS = frozenset({"/health", "/metrics"})

KINDS: dict[int, tuple[str, str]] = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorized", "Authentication required"),
    403: ("forbidden", "Not allowed"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    409: ("conflict", "Conflict"),
    413: ("too-large", "Payload too large"),
    422: ("invalid", "Invalid request"),
    429: ("rate-limited", "Too many requests"),
    500: ("internal", "Internal error"),
    503: ("unavailable", "Service unavailable"),
}

STATUS: dict[type[SocError], int] = {
    InvalidCursor: 400,
    AuthFailed: 401,
    CsrfFailed: 403,
    AccessDenied: 403,
    AckLinkInvalid: 403,
    NotFound: 404,
    Conflict: 409,
    UserExists: 409,
    EvidenceTooLarge: 413,
    InvalidChange: 422,
    EvidenceRejected: 422,
    RegistryInvalid: 422,
    NotifyConfigInvalid: 422,
    TooManyAttempts: 429,
    StoreError: 503,
    BackPressure: 503,
}


class ProblemItem(BaseModel):
    location: str | None
    message: str


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[ProblemItem] | None = None
    reason: str | None = None
    """The intake's refusal reason (`too_many_records`, `too_deep`, ...), as counted in metrics."""


def is_machine_path(path: str) -> bool:
    """The API, the intake and the ops routes answer machines; every other path is a console page."""
    return path.startswith(MACHINE_PREFIXES) or path in MACHINE_PATHS


def problem(
    status: int,
    detail: str,
    *,
    instance: str | None = None,
    errors: list[ProblemItem] | None = None,
    headers: Mapping[str, str] | None = None,
    reason: str | None = None,
) -> JSONResponse:
    slug, title = KINDS.get(status, ("", HTTPStatus(status).phrase))
    body = Problem(
        type=f"/problems/{slug}" if slug else "about:blank",
        title=title,
        status=status,
        detail=detail,
        instance=instance,
        errors=errors,
        reason=reason,
    )
    members = {k: v for k, v in body.model_dump(mode="json").items() if v is not None}
    return JSONResponse(
        members,
        status_code=status,
        headers=headers,
        media_type=PROBLEM_JSON,
    )


def status_of(exc: SocError) -> int:
    return next((STATUS[kind] for kind in type(exc).__mro__ if kind in STATUS), 400)


def _retry_after(exc: SocError) -> dict[str, str] | None:
    wait = exc.retry_after if isinstance(exc, TooManyAttempts | BackPressure) else None
    return {"Retry-After": str(max(1, math.ceil(wait)))} if wait is not None else None


def soc_error_response(request: Request, exc: SocError) -> Response:
    """A typed error as problem details; on a console page, the plain `{"detail"}` it always got."""
    status, headers = status_of(exc), _retry_after(exc)
    if not is_machine_path(request.url.path):
        return JSONResponse({"detail": exc.message}, status_code=status, headers=headers)
    errors = None
    if isinstance(exc, RegistryInvalid):
        errors = [ProblemItem(location=None, message=p) for p in exc.problems]
    if isinstance(exc, NotifyConfigInvalid):
        errors = [ProblemItem(location=p.location, message=p.message) for p in exc.problems]
    return problem(status, exc.message, instance=request.url.path, errors=errors, headers=headers)


async def _soc_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SocError)
    return soc_error_response(request, exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if not is_machine_path(request.url.path):
        return await http_exception_handler(request, exc)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return problem(exc.status_code, detail, instance=request.url.path, headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if not is_machine_path(request.url.path):
        return await request_validation_exception_handler(request, exc)
    errors = [
        ProblemItem(location=".".join(str(part) for part in e["loc"]) or None, message=e["msg"])
        for e in exc.errors()
    ]
    detail = "; ".join(f"{e.location}: {e.message}" if e.location else e.message for e in errors[:3])
    return problem(422, detail, instance=request.url.path, errors=errors)


async def _server_error(request: Request, exc: Exception) -> Response:
    """Starlette logs the exception and re-raises it after this answer; the caller learns nothing of it."""
    if not is_machine_path(request.url.path):
        return PlainTextResponse("Internal Server Error", status_code=500)
    return problem(500, "the server failed to answer; its log has the details", instance=request.url.path)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(SocError, _soc_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _server_error)
    _document_problems(app)


_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def _document_problems(app: FastAPI) -> None:
    """Say in the OpenAPI document what the handlers above do: every API operation answers its errors
    as `application/problem+json` (a `default` response), and its 422 is a problem, not FastAPI's
    `HTTPValidationError`. Generated clients then parse one error shape."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(problem_schema.pop("$defs", {}))
        components["Problem"] = problem_schema
        error = {
            "description": "Problem details (RFC 9457)",
            "content": {PROBLEM_JSON: {"schema": _PROBLEM_REF}},
        }
        for path, operations in schema.get("paths", {}).items():
            if not is_machine_path(path):
                continue
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                if "422" in responses:
                    responses["422"] = {**error, "description": "Invalid request"}
                responses.setdefault("default", error)
        if not _references(schema["paths"], "HTTPValidationError"):
            components.pop("HTTPValidationError", None)
            components.pop("ValidationError", None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _references(tree: object, name: str) -> bool:
    return f"#/components/schemas/{name}" in str(tree)
