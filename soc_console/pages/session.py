"""Signing in and out, and the language switch (a cookie the pages read on every request)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from api.auth import service as auth
from api.auth.csrf import CSRF_COOKIE
from api.auth.deps import SESSION_COOKIE, Role, current_principal
from api.auth.errors import AuthFailed, TooManyAttempts
from api.i18n import N_
from soc_console.i18n import LANG_COOKIE, LOCALES
from soc_console.pages.common import app_context, client_ip, landing_page, local_path, render, see_other

router = APIRouter()


def after_login(next: str, role: Role) -> str:
    """The page a sign-in ends on: the one the user was sent away from, else the role's own page.
    `/` counts as no target: it is where a browser pointed at the bare address was sent from."""
    target = local_path(next, "")
    return target if target not in ("", "/") else landing_page(role)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "") -> HTMLResponse:
    return render(request, "login.html", next=local_path(next, ""), error=None, username="")


@router.post("/login", response_class=HTMLResponse)
def login_submit(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    next: Annotated[str, Form()] = "",
) -> Response:
    settings = app_context(request).settings.auth
    error, status = None, 200
    try:
        token, user = auth.login(
            store=app_context(request).store,
            limiter=request.app.state.login_limiter,
            username=username.strip(),
            password=password,
            ip=client_ip(request) or "unknown",
            session_hours=settings.session_hours,
            previous_session=request.cookies.get(SESSION_COOKIE),
        )
    except TooManyAttempts as exc:
        error, status, retry = N_("Too many failed attempts. Try again later."), 429, exc.retry_after
    except AuthFailed:
        error, status, retry = N_("Wrong username or password."), 401, 0.0
    if error is not None:
        resp = render(
            request,
            "login.html",
            status_code=status,
            next=local_path(next, ""),
            error=error,
            username=username,
        )
        if status == 429:
            resp.headers["Retry-After"] = str(int(retry) + 1)
        return resp
    done = see_other(after_login(next, Role(user.role)))
    done.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(settings.session_hours * 3600),
        httponly=True,
        secure=app_context(request).settings.secure_cookies,
        samesite=settings.cookie_samesite,
        path="/",
    )
    done.delete_cookie(CSRF_COOKIE, path="/")  # a fresh CSRF secret with the fresh session
    return done


@router.post("/logout")
def logout(request: Request) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    principal = current_principal(request)
    if token:
        auth.logout(
            store=app_context(request).store,
            session_token=token,
            actor=principal.username if principal else "anonymous",
            ip=client_ip(request),
        )
    resp = see_other("/login")
    resp.delete_cookie(
        SESSION_COOKIE, path="/", secure=app_context(request).settings.secure_cookies, httponly=True
    )
    return resp


@router.post("/lang")
def set_language(
    request: Request, lang: Annotated[str, Form()], next: Annotated[str, Form()] = "/"
) -> Response:
    resp = see_other(local_path(next, "/"))
    if lang in LOCALES:
        resp.set_cookie(
            LANG_COOKIE,
            lang,
            max_age=365 * 86400,
            httponly=True,
            samesite="lax",
            secure=app_context(request).settings.secure_cookies,
            path="/",
        )
    return resp
