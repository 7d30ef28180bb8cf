"""Errors on console pages answered as pages, in the reader's language (403, 404, 500, ...).

The API's handlers (`api.problems`) stay in charge of every machine path (`/api/`, `/ingest/`,
`/health`, `/metrics`): those keep answering problem details. `install(app)` wraps each of them: a
refusal of a console page becomes `error.html` with the same status and headers (`Retry-After`
stays), and a redirect (the login redirect is a 303 `HTTPException`) passes through untouched.

Only the status picks the words on the page: a refusal's own message is written for developers in
English, so it is shown (marked as English) only where it says what to fix (a bad form field),
never for 403/404/500, where it could tell an outsider more than the page needs to.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from api.auth.deps import current_principal
from api.i18n import N_
from api.problems import is_machine_path, status_of
from soc_console.pages.common import landing_page, render
from soc_core.errors import SocError

log = logging.getLogger(__name__)
Handler = Callable[[Request, Exception], Response | Awaitable[Response]]

TITLES = {
    401: N_("Sign-in required"),
    403: N_("Not allowed"),
    404: N_("Not found"),
    500: N_("Something went wrong"),
    503: N_("Temporarily unavailable"),
}
EXPLANATIONS = {
    401: N_("Sign in to open this page."),
    403: N_("Your role may not open this page or do this."),
    404: N_("There is no such page, or what it shows does not exist (any more)."),
    500: N_("The server could not answer this request. Its log has the details; try again later."),
    503: N_("A service this page needs is not answering. Try again in a moment."),
}
OTHER_TITLE = N_("Could not be done")
OTHER_EXPLANATION = N_("The request could not be done as sent.")
SHOW_DETAIL = frozenset({400, 405, 409, 413, 422, 429})


def error_page(
    request: Request, status: int, detail: str = "", headers: dict[str, str] | None = None
) -> Response:
    """The console's page for `status`, with the refusal's headers (`Retry-After`, ...)."""
    principal = current_principal(request) if status < 500 else None  # 5xx: the store may be down
    resp = render(
        request,
        "error.html",
        status_code=status,
        status=status,
        title=TITLES.get(status, OTHER_TITLE),
        explanation=EXPLANATIONS.get(status, OTHER_EXPLANATION),
        detail=detail if status in SHOW_DETAIL else "",
        home=landing_page(principal.role) if principal else "/" if status >= 500 else "/login",
    )
    for name, value in (headers or {}).items():
        if name.lower() != "content-type":
            resp.headers[name] = value
    return resp


def _detail(exc: Exception) -> tuple[int, str, dict[str, str] | None]:
    if isinstance(exc, HTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        return exc.status_code, detail, dict(exc.headers or {})
    if isinstance(exc, SocError):
        retry = getattr(exc, "retry_after", None)
        return status_of(exc), exc.message, {"Retry-After": str(max(1, int(retry) + 1))} if retry else None
    if isinstance(exc, RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return 422, f"{where}: {first.get('msg', 'invalid')}" if where else "invalid request", None
    return 500, "", None


def wrap(previous: Handler) -> Handler:
    """`previous` for machine paths and redirects; the console's error page for everything else."""

    async def handler(request: Request, exc: Exception) -> Response:
        status, detail, headers = _detail(exc)
        if not is_machine_path(request.url.path) and status >= 400:
            try:
                return error_page(request, status, detail, headers)
            except Exception:  # the page needs the store, which may be what failed: the plain answer
                if status < 500:
                    raise
                log.exception("the %d page could not be rendered for %s", status, request.url.path)
        answer = previous(request, exc)
        return await answer if isinstance(answer, Awaitable) else answer

    return handler


def install(app: FastAPI) -> None:
    """Wrap the API's handlers for refusals, validation errors and unexpected failures."""
    for kind in (HTTPException, SocError, RequestValidationError, Exception):
        previous = app.exception_handlers.get(kind)
        if previous is None:
            raise RuntimeError(f"install the API's problem handlers before the console's ({kind.__name__})")
        app.add_exception_handler(kind, wrap(previous))
