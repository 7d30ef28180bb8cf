"""Authentication and roles through the real app, against both stores: sessions, CSRF, rate limiting,
API tokens, role checks on every route, and the audit of logins."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.auth.deps import SESSION_COOKIE, Role
from api.auth.service import create_api_token, create_demo_users, sha256
from api.auth.testing import TEST_PASSWORD, ensure_user, form_csrf, login
from soc_core.settings import AuthSettings
from soc_core.store import AuditQuery, Store
from socpipe.app import create_app
from tests.backends import app_context
from tests.problems import problem


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    ctx = app_context(store, environment="test", auth=AuthSettings(login_max_failures=3, cookie_secure=False))
    with TestClient(create_app(ctx)) as c:
        yield c


def _post_login(client: TestClient, username: str, password: str) -> object:
    token = form_csrf(client.get("/login").text)
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token, "next": "/alerts"},
        follow_redirects=False,
    )


def test_pages_redirect_to_login_and_api_answers_401(client: TestClient) -> None:
    page = client.get("/alerts?severity=high", headers={"accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Falerts%3Fseverity%3Dhigh"
    for path in (
        "/api/v1/events",
        "/api/v1/alerts",
        "/api/v1/incidents",
        "/api/v1/audit",
    ):
        resp = client.get(path, headers={"accept": "text/html"})
        assert problem(resp, 401)["detail"] == "authentication required", path


def test_login_sets_a_hardened_cookie_renews_the_session_and_logout_ends_it(
    client: TestClient, store: Store
) -> None:
    ensure_user(store, "an", Role.ANALYST)
    first = _post_login(client, "an", TEST_PASSWORD)
    assert first.status_code == 303 and first.headers["location"] == "/alerts"  # type: ignore[attr-defined]
    cookie = next(h for h in first.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE))  # type: ignore[attr-defined]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    old = client.cookies[SESSION_COOKIE]
    assert store.get_session(sha256(old)) is not None
    assert client.get("/api/v1/auth/me").json()["username"] == "an"

    second = _post_login(client, "an", TEST_PASSWORD)  # a new login renews the session
    assert second.status_code == 303  # type: ignore[attr-defined]
    new = client.cookies[SESSION_COOKIE]
    assert new != old and store.get_session(sha256(old)) is None

    out = client.post(
        "/logout", data={"csrf_token": form_csrf(client.get("/alerts").text)}, follow_redirects=False
    )
    assert out.status_code == 303
    assert any(
        h.startswith(f'{SESSION_COOKIE}=""') and "Max-Age=0" in h for h in out.headers.get_list("set-cookie")
    )
    assert store.get_session(sha256(new)) is None
    client.cookies.set(SESSION_COOKIE, new)  # a stolen cookie is worthless after logout
    assert client.get("/api/v1/auth/me").status_code == 401


def test_secure_cookie_outside_dev(store: Store) -> None:
    ctx = app_context(store, environment="prod", secret_key="x" * 32)
    with TestClient(create_app(ctx), base_url="https://testserver") as c:
        ensure_user(store, "sec", Role.VIEWER)
        resp = _post_login(c, "sec", TEST_PASSWORD)
        cookie = next(h for h in resp.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE))  # type: ignore[attr-defined]
        assert "Secure" in cookie


def test_every_form_needs_its_csrf_token(client: TestClient, store: Store) -> None:
    ensure_user(store, "an", Role.ANALYST)
    client.get("/login")
    bad = client.post("/login", data={"username": "an", "password": TEST_PASSWORD}, follow_redirects=False)
    assert bad.status_code == 403
    forged = client.post(
        "/login",
        data={"username": "an", "password": TEST_PASSWORD, "csrf_token": "0" * 64},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    login(client, store, role=Role.ANALYST, username="an")
    assert client.post("/alerts/bulk", data={"action": "acknowledge", "ids": ["x"]}).status_code == 403
    assert client.post("/logout", follow_redirects=False).status_code == 403
    # JSON API calls with a session cookie need the header too
    assert client.patch("/api/v1/alerts/x/triage", json={"status": "acknowledged"}).status_code == 403


def test_login_failures_are_rate_limited_and_audited(client: TestClient, store: Store) -> None:
    ensure_user(store, "an", Role.ANALYST)
    for _ in range(3):
        assert _post_login(client, "an", "wrong password!").status_code == 401  # type: ignore[attr-defined]
    limited = _post_login(client, "an", TEST_PASSWORD)  # even the right password waits now
    assert limited.status_code == 429  # type: ignore[attr-defined]
    assert int(limited.headers["retry-after"]) > 0  # type: ignore[attr-defined]
    assert _post_login(client, "nobody", "x").status_code == 401  # type: ignore[attr-defined]
    store.refresh()
    failures = store.search_audit(AuditQuery(action="login.failure"))
    assert failures.total == 4
    assert {e.actor for e in failures.items} == {"an", "nobody"}
    assert all(e.ip for e in failures.items)


def test_roles_are_checked_server_side(client: TestClient, store: Store) -> None:
    login(client, store, role=Role.VIEWER)
    assert client.get("/api/v1/alerts").status_code == 200
    assert client.get("/api/v1/events").status_code == 200
    assert client.get("/api/v1/audit").status_code == 403
    assert client.get("/audit").status_code == 403
    token = form_csrf(client.get("/alerts").text)
    resp = client.patch(
        "/api/v1/alerts/x/triage", json={"status": "acknowledged"}, headers={"x-csrf-token": token}
    )
    assert resp.status_code == 403
    assert (
        client.post("/api/v1/incidents", json={"title": "x"}, headers={"x-csrf-token": token}).status_code
        == 403
    )
    login(client, store, role=Role.ADMIN)
    assert client.get("/api/v1/audit").status_code == 200
    assert client.get("/audit").status_code == 200


def test_api_tokens_authenticate_without_csrf_and_can_be_revoked(client: TestClient, store: Store) -> None:
    token, record = create_api_token(store=store, name="soar", role=Role.ANALYST, actor="test")
    assert store.get_api_token(sha256(token)) is not None and token not in record.model_dump_json()
    bearer = {"authorization": f"Bearer {token}"}
    me = client.get("/api/v1/auth/me", headers=bearer).json()
    assert me["role"] == "analyst" and me["username"] == "token:soar"
    created = client.post("/api/v1/incidents", json={"title": "from SOAR"}, headers=bearer)
    assert created.status_code == 201
    assert client.get("/api/v1/audit", headers=bearer).status_code == 403
    assert client.get("/api/v1/events", headers={"authorization": "Bearer nope"}).status_code == 401

    login(client, store, role=Role.ADMIN)
    admin_token = form_csrf(client.get("/alerts").text)
    revoked = client.delete(f"/api/v1/auth/tokens/{record.id}", headers={"x-csrf-token": admin_token})
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    client.cookies.clear()
    assert client.get("/api/v1/auth/me", headers=bearer).status_code == 401


def test_admin_manages_users_through_the_api(client: TestClient, store: Store) -> None:
    login(client, store, role=Role.ADMIN)
    csrf = {"x-csrf-token": form_csrf(client.get("/alerts").text)}
    made = client.post(
        "/api/v1/users",
        json={"username": "pa05", "password": "a long passphrase", "role": "police"},
        headers=csrf,
    )
    assert made.status_code == 201 and "password" not in made.text and "argon2" not in made.text
    assert store.get_user_by_name("pa05").password_hash.startswith("$argon2id$")  # type: ignore[union-attr]
    dup = client.post(
        "/api/v1/users",
        json={"username": "pa05", "password": "a long passphrase", "role": "police"},
        headers=csrf,
    )
    assert dup.status_code == 409
    short = client.post(
        "/api/v1/users", json={"username": "x1", "password": "short", "role": "viewer"}, headers=csrf
    )
    assert short.status_code == 422
    store.refresh()
    assert [e.action for e in store.search_audit(AuditQuery(action="user.")).items][:1] == ["user.create"]


def test_demo_users_one_per_role_with_fresh_passwords(store: Store, client: TestClient) -> None:
    first = create_demo_users(store)
    assert sorted(role for _, _, role in first) == sorted(r.value for r in Role)
    again = create_demo_users(store)
    assert {u: p for u, p, _ in first} != {u: p for u, p, _ in again}
    for username, password, role in again:
        resp = _post_login(client, username, password)
        assert resp.status_code == 303, (username, role)  # type: ignore[attr-defined]
        assert client.get("/api/v1/auth/me").json()["role"] == role


def test_every_replica_sees_the_login_failures(store: Store) -> None:
    """Issue 14: the limiter counted in memory per API replica, so each replica allowed its own N
    guesses. Two apps over one store are two replicas: failures on one are refused on the other."""
    settings = {"environment": "test", "auth": AuthSettings(login_max_failures=3, cookie_secure=False)}
    with (
        TestClient(create_app(app_context(store, **settings))) as first,
        TestClient(create_app(app_context(store, **settings))) as second,
    ):
        ensure_user(store, "an", Role.ANALYST)
        for replica in (first, second, first):
            assert _post_login(replica, "an", "wrong password!").status_code == 401  # type: ignore[attr-defined]
        for replica in (second, first):
            limited = _post_login(replica, "an", TEST_PASSWORD)
            assert limited.status_code == 429  # type: ignore[attr-defined]
            assert int(limited.headers["retry-after"]) > 0  # type: ignore[attr-defined]
