"""CSRF protection: a signed double-submit token bound to the session.

The browser holds a random `socpipe_csrf` cookie (HttpOnly, SameSite=Strict). Every form carries
`csrf_token = HMAC(secret, cookie | session)`; an unsafe request must present it (form field
`csrf_token` or header `X-CSRF-Token`). Another site can neither read the cookie nor compute the HMAC
without the server's secret, and a token stolen before login is useless after it (the session part
changes). Requests authenticated by a bearer token carry no ambient credential and are exempt.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request

from api.auth.deps import SESSION_COOKIE
from api.auth.errors import CsrfFailed

CSRF_COOKIE = "socpipe_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _secret(request: Request) -> bytes:
    return request.app.state.ctx.settings.secret_key.get_secret_value().encode()  # type: ignore[no-any-return]


def _cookie_value(request: Request) -> str:
    """The browser's CSRF cookie, or a new one that the app middleware will set on the response."""
    value = getattr(request.state, "new_csrf_cookie", None) or request.cookies.get(CSRF_COOKIE)
    if not value:
        value = secrets.token_urlsafe(24)
        request.state.new_csrf_cookie = value
    return str(value)


def csrf_token(request: Request, *, session_token: str | None = None) -> str:
    """The token to put in this request's forms (bound to the current, or a just-created, session)."""
    session = session_token if session_token is not None else request.cookies.get(SESSION_COOKIE, "")
    message = f"{_cookie_value(request)}|{hashlib.sha256(session.encode()).hexdigest()}".encode()
    return hmac.new(_secret(request), message, hashlib.sha256).hexdigest()


async def csrf_protect(request: Request) -> None:
    """Router dependency: unsafe methods need the token unless authenticated by a bearer token."""
    if request.method not in UNSAFE:
        return
    if request.headers.get("authorization", "").lower().startswith("bearer "):
        return
    if not request.cookies.get(CSRF_COOKIE):
        raise CsrfFailed("missing CSRF cookie")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        field = form.get(CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    if not sent or not hmac.compare_digest(sent, csrf_token(request)):
        raise CsrfFailed("missing or wrong CSRF token", path=request.url.path)
