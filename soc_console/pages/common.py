"""What every console page shares: the roles, the base template context, safe redirects and links."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from api.auth.deps import PROVINCE_WIDE, Principal, Role, require_roles
from api.deps import app_context as app_context
from api.deps import client_ip as client_ip
from soc_console.render import templates

Reader = Annotated[Principal, Depends(require_roles(*PROVINCE_WIDE))]
Analyst = Annotated[Principal, Depends(require_roles(Role.ANALYST))]
Admin = Annotated[Principal, Depends(require_roles(Role.ADMIN))]


def render(
    request: Request, template: str, *, nav: str = "", status_code: int = 200, **values: Any
) -> HTMLResponse:
    """A page with what `base.html` needs (the clock, the mode, the active menu entry) and `values`."""
    context = {"now": datetime.now(UTC), "mode": app_context(request).settings.mode.value, "nav": nav}
    return templates.TemplateResponse(request, template, context | values, status_code=status_code)


LANDING = {
    Role.ANALYST: "/alerts",  # the queue
    Role.POLICE: "/coverage",  # how much of the province is monitored
    Role.INSPECTOR: "/inspections",  # their plans
    Role.VIEWER: "/",
    Role.ADMIN: "/",
}


def landing_page(role: Role) -> str:
    """Where a role starts: its own work, not one page for everybody."""
    return LANDING.get(role, "/")


def local_path(target: str | None, default: str) -> str:
    """Only same-site paths: no open redirect through `next` or `back`."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


def see_other(url: str) -> RedirectResponse:
    """Post/Redirect/Get: every form answers with a redirect to the page that shows the result."""
    return RedirectResponse(url, status_code=303)


def url_with(path: str, params: dict[str, str], **changes: str | None) -> str:
    merged = {k: v for k, v in {**params, **changes}.items() if v}
    return path + ("?" + urlencode(merged) if merged else "")
