"""FastAPI dependencies every route uses to know who is calling and whether they may.

Two ways in, resolved in this order:

- `Authorization: Bearer <token>`: API tokens for automation (`socpipe token create`); only their
  SHA-256 is stored, so a leaked database does not leak usable tokens.
- the `socpipe_session` cookie: console sessions, created at login, renewed at every login, expired
  at logout or after their lifetime; only their SHA-256 is stored, for the same reason.

`require_roles(...)` answers 401 when nobody is authenticated (problem details for `/api/...`, see
`api.problems`; a 303 redirect to `/login?next=...` for console pages that want HTML) and 403 when
the principal's role is not listed. `Role.ADMIN` is always allowed: administrators see everything.

    @router.get("/coverage")
    def page(principal: Principal = Depends(require_roles(Role.POLICE, Role.INSPECTOR))) -> ...
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from fastapi import HTTPException, Request, status

from api.auth import service
from api.auth.models import PROVINCE_WIDE as PROVINCE_WIDE
from api.auth.models import Principal as Principal
from api.auth.models import Role as Role
from api.problems import is_machine_path

SESSION_COOKIE = "socpipe_session"


_CACHE_ATTR = "socpipe_principal"


def current_principal(request: Request) -> Principal | None:
    """The authenticated principal of this request, or None (resolved once per request)."""
    if hasattr(request.state, _CACHE_ATTR):
        cached: Principal | None = getattr(request.state, _CACHE_ATTR)
        return cached
    principal: Principal | None = None
    store = request.app.state.ctx.store
    header = request.headers.get("authorization", "")
    scheme, _, credential = header.partition(" ")
    if scheme.lower() == "bearer" and credential.strip():
        principal = service.principal_from_token(store=store, token=credential.strip())
        request.state.socpipe_auth = "token"
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            principal = service.principal_from_session(store=store, session_token=cookie)
            request.state.socpipe_auth = "session"
    setattr(request.state, _CACHE_ATTR, principal)
    return principal


def wants_html(request: Request) -> bool:
    """Console pages get a redirect to the login form; the API and scripts get problem details."""
    if is_machine_path(request.url.path):
        return False
    return "text/html" in request.headers.get("accept", "")


def require_roles(*roles: Role) -> Callable[..., Principal]:
    """A dependency that returns the principal, or answers 401/403. No roles: any signed-in user."""
    allowed = frozenset(roles)

    def dependency(request: Request) -> Principal:
        principal = current_principal(request)
        if principal is None:
            if wants_html(request):
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                raise HTTPException(
                    status.HTTP_303_SEE_OTHER,
                    "login required",
                    headers={"Location": f"/login?next={quote(target, safe='')}"},
                )
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "authentication required",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if allowed and principal.role is not Role.ADMIN and principal.role not in allowed:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "your role may not do this")
        return principal

    dependency.__name__ = f"require_roles_{'_'.join(r.value for r in roles) or 'any'}"
    return dependency
