"""Issue 14: console pages answer their errors as pages in the console's language (a wrong role got
raw JSON), the API keeps problem details; after sign-in each role lands on its own page."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.auth.deps import Role
from api.auth.testing import TEST_PASSWORD, ensure_user, form_csrf, login
from soc_console.i18n import LANG_COOKIE
from soc_core.errors import StoreError
from soc_core.store import Store
from socpipe.app import create_app
from tests.backends import app_context
from tests.problems import problem

HTML = {"accept": "text/html"}


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(app_context(store))) as c:
        yield c


def _page(resp: object, status: int) -> str:
    assert resp.status_code == status, resp.text[:300]  # type: ignore[attr-defined]
    assert resp.headers["content-type"].startswith("text/html")  # type: ignore[attr-defined]
    text: str = resp.text  # type: ignore[attr-defined]
    assert f'data-status="{status}"' in text
    return text


@pytest.mark.parametrize(
    ("lang", "forbidden", "missing"),
    [("vi", "Không có quyền xem", "Không tìm thấy"), ("en", "Not allowed", "Not found")],
)
def test_a_wrong_role_and_a_missing_page_get_pages_in_the_language(
    client: TestClient, store: Store, lang: str, forbidden: str, missing: str
) -> None:
    client.cookies.set(LANG_COOKIE, lang)
    login(client, store, role=Role.VIEWER)
    page = _page(client.get("/audit", headers=HTML), 403)  # administrators only
    assert f"<h1>{forbidden}</h1>" in page and '<html lang="' + lang + '">' in page
    assert "your role may not do this" not in page  # the developer's English stays out
    assert 'href="/"' in page  # back to the viewer's own start page
    page = _page(client.get("/no/such/page"), 404)  # any client: a console path answers a page
    assert f"<h1>{missing}</h1>" in page
    # an inspector on a province-wide page (same refusal, whatever the Accept header)
    login(client, store, role=Role.INSPECTOR)
    assert f"<h1>{forbidden}</h1>" in _page(client.get("/registry"), 403)


def test_an_unexpected_failure_is_a_page_and_the_api_keeps_problem_details(store: Store) -> None:
    app = create_app(app_context(store))

    def broken() -> None:
        raise RuntimeError("a bug somewhere")

    def store_down() -> None:
        raise StoreError("Elasticsearch unreachable: connection refused")

    app.add_api_route("/broken", broken)
    app.add_api_route("/api/v1/broken", broken)
    app.add_api_route("/store-down", store_down)
    client = TestClient(app, raise_server_exceptions=False)
    client.cookies.set(LANG_COOKIE, "vi")
    resp = client.get("/broken", headers=HTML)
    page = _page(resp, 500)
    assert "<h1>Đã xảy ra lỗi</h1>" in page and "a bug somewhere" not in page
    _assert_protected(resp)
    _assert_protected(client.get("/api/v1/broken"))
    page = _page(client.get("/store-down", headers=HTML), 503)
    assert "<h1>Tạm thời không phục vụ được</h1>" in page and "connection refused" not in page
    assert problem(client.get("/api/v1/broken"), 500)["type"] == "/problems/internal"
    login(client, store, role=Role.VIEWER)
    assert problem(client.get("/api/v1/audit"), 403)["type"] == "/problems/forbidden"
    assert problem(client.get("/api/v1/nothing-here"), 404)["type"] == "/problems/not-found"


def _assert_protected(resp: object) -> None:
    """An unexpected failure's answer carries the headers every other answer carries."""
    headers = resp.headers  # type: ignore[attr-defined]
    assert headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert "camera=()" in headers["Permissions-Policy"]


def test_the_login_redirect_is_still_a_redirect(client: TestClient) -> None:
    resp = client.get("/alerts", headers=HTML, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == "/login?next=%2Falerts"


def _landing(store: Store, username: str, sent_from: str, next: str) -> str:
    """Where a fresh browser that opened `sent_from` and signed in is sent."""
    with TestClient(create_app(app_context(store))) as client:
        resp = client.post(
            "/login",
            data={
                "username": username,
                "password": TEST_PASSWORD,
                "csrf_token": form_csrf(client.get(sent_from).text),
                "next": next,
            },
            follow_redirects=False,
        )
        assert resp.status_code == 303, resp.text[:300]
        location: str = resp.headers["location"]
        return location


@pytest.mark.parametrize(
    ("role", "landing"),
    [
        (Role.ANALYST, "/alerts"),
        (Role.POLICE, "/coverage"),
        (Role.INSPECTOR, "/inspections"),
        (Role.VIEWER, "/"),
    ],
)
def test_each_role_lands_on_its_own_page(store: Store, role: Role, landing: str) -> None:
    username = f"landing-{role.value}"
    ensure_user(store, username, role)
    assert _landing(store, username, "/login", "") == landing
    assert _landing(store, username, "/login?next=%2F", "/") == landing  # the bare address's redirect
    assert _landing(store, username, "/login?next=%2Fincidents", "/incidents") == "/incidents"
