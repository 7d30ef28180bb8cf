"""The console: server-rendered pages (Jinja2) over the same services the JSON API uses.

`install(app)` is the one entry point: it adds every page (`soc_console.pages`, one module per area),
the HTML answer to inspection errors, and the static files. Every page checks the role server-side
(`require_roles`); every form carries a CSRF token; changes follow Post/Redirect/Get. No inline
scripts (the app sets a strict Content-Security-Policy): the keyboard shortcuts live in
`static/console.js`. Jinja2 autoescapes every field, since log content is hostile (`soc_console.render`).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.errors import InvalidChange, NotFound
from api.inspections.errors import InspectionError
from soc_console.pages import errors, router
from soc_console.pages.inspections import error_page

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    """Add the console to `app`, after the API (whose error handlers it wraps: console pages answer
    their errors as pages, `soc_console.pages.errors`)."""
    app.include_router(router)
    errors.install(app)
    for kind in (InspectionError, NotFound, InvalidChange):
        app.add_exception_handler(kind, error_page)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
