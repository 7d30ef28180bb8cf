"""Issue 14, exposure: what the public port tells an anonymous caller, and what only the ops
listener (loopback by default) or a signed-in user gets. Plus the browser hardening headers."""

from __future__ import annotations

import httpx
import orjson
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.auth.deps import SESSION_COOKIE, Role
from api.auth.testing import TEST_PASSWORD, ensure_user, form_csrf, login
from api.context import AppContext
from soc_core.settings import Settings
from soc_core.store import Store
from socpipe.app import create_app
from socpipe.ops import serve_ops
from tests.backends import app_context


def _client(ctx: AppContext, *, https: bool = False) -> TestClient:
    return TestClient(create_app(ctx), base_url="https://testserver" if https else "http://testserver")


def test_public_health_says_only_up_or_down(store: Store) -> None:
    ctx = app_context(store)
    resp = _client(ctx).get("/health")
    assert resp.status_code == 200 and resp.json() == {"status": "up"}
    assert "sqlite" not in resp.text.lower() and "ok" not in resp.text  # no path, no component
    ctx.health_checks.append(lambda: {"kafka": "unreachable: broker kafka1.internal:9092"})
    down = _client(ctx).get("/health")
    assert down.status_code == 503 and down.json() == {"status": "down"}
    assert "kafka" not in down.text


def test_metrics_are_not_on_the_public_port_without_the_scrape_token(store: Store) -> None:
    client = _client(app_context(store))
    resp = client.get("/metrics")
    assert resp.status_code == 404 and "soc_" not in resp.text
    login(client, store, role=Role.ADMIN)  # not even for a signed-in user: scrapers use the ops port
    assert client.get("/metrics").status_code == 404


def test_a_scrape_token_opens_metrics_on_the_public_port(store: Store) -> None:
    client = _client(app_context(store, metrics_token=SecretStr("s3cret-scrape-token")))
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = client.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape-token"})
    assert ok.status_code == 200 and "# TYPE" in ok.text


def test_the_ops_listener_serves_metrics_and_detailed_health_on_loopback(store: Store) -> None:
    assert Settings().ops_host == "127.0.0.1"  # opened only on purpose
    ctx = app_context(store)
    server = serve_ops("127.0.0.1", 0, ctx.health)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        health = httpx.get(f"{url}/health")
        assert health.status_code == 200
        assert orjson.loads(health.content)["checks"] == store.health()  # each dependency, in detail
        assert "# TYPE" in httpx.get(f"{url}/metrics").text
    finally:
        server.shutdown()
        server.server_close()


def test_the_openapi_document_and_docs_need_a_signed_in_user(store: Store) -> None:
    app = create_app(app_context(store))
    client = TestClient(app)
    for path in ("/api/openapi.json", "/api/docs"):
        assert client.get(path).status_code == 401, path
    assert client.get("/redoc").status_code == 404  # FastAPI's default page is off too
    assert "/api/v1/alerts" in app.openapi()["paths"]  # generation itself still works in process
    login(client, store, role=Role.VIEWER)
    document = client.get("/api/openapi.json")
    assert document.status_code == 200 and "/api/v1/alerts" in document.json()["paths"]
    assert "swagger" in client.get("/api/docs").text.lower()


def test_permissions_policy_everywhere_and_hsts_only_over_tls(store: Store) -> None:
    ctx = app_context(store)
    plain = _client(ctx).get("/login")
    assert "camera=()" in plain.headers["Permissions-Policy"]
    assert "geolocation=()" in plain.headers["Permissions-Policy"]
    assert "Strict-Transport-Security" not in plain.headers
    tls = _client(ctx, https=True).get("/login")
    assert tls.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    proxied = _client(ctx).get("/health", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in proxied.headers  # only a trusted proxy's word counts (uvicorn)


def test_an_unset_environment_gives_secure_session_cookies(store: Store) -> None:
    """A forgotten SOC_ENVIRONMENT no longer means cookies over plain http."""
    client = _client(app_context(store, environment=None), https=True)
    ensure_user(store, "viewer", Role.VIEWER)
    resp = client.post(
        "/login",
        data={
            "username": "viewer",
            "password": TEST_PASSWORD,
            "csrf_token": form_csrf(client.get("/login").text),
        },
        follow_redirects=False,
    )
    assert resp.status_code == 303
    session = next(h for h in resp.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE))
    assert "Secure" in session
