"""Test helpers shipped with the package (like httpx's MockTransport): sign a TestClient in.

client = TestClient(create_app(ctx))
login(client, ctx.store, role=Role.ADMIN)   # creates the user if needed, then posts the login form
"""

from __future__ import annotations

import re
from typing import Any

from api.auth.deps import Role
from api.auth.service import create_user
from soc_core.store import Store

TEST_PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def ensure_user(store: Store, username: str, role: Role, password: str = TEST_PASSWORD) -> None:
    if store.get_user_by_name(username) is None:
        create_user(
            store=store, username=username, password=password, role=role, display_name=username.title()
        )


def form_csrf(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = _CSRF.search(html)
    if not match:
        raise AssertionError("no csrf_token in the page")
    return match.group(1)


def login(client: Any, store: Store, *, role: Role = Role.ADMIN, username: str | None = None) -> str:
    """Sign in through the real login form; returns the username."""
    username = username or f"test-{role.value}"
    ensure_user(store, username, role)
    page = client.get("/login")
    resp = client.post(
        "/login",
        data={"username": username, "password": TEST_PASSWORD, "csrf_token": form_csrf(page.text)},
        follow_redirects=False,
    )
    if resp.status_code != 303:
        raise AssertionError(f"login failed: {resp.status_code} {resp.text[:200]}")
    return username
