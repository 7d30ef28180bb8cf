"""Every error of the JSON API is RFC 9457 problem details, whichever route answers it; console pages
never get them. The walk covers every route the app has, so a new route is checked without a new test."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.auth.deps import Role
from api.auth.service import create_api_token
from soc_core.store import Store
from socpipe.app import create_app
from tests.backends import app_context
from tests.problems import problem

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def _app(store: Store) -> FastAPI:
    ctx = app_context(store, environment="test")
    return create_app(ctx)


def _bearer(store: Store, role: Role) -> dict[str, str]:
    token, _ = create_api_token(store=store, name=role.value, role=role, actor="test")
    return {"Authorization": f"Bearer {token}"}


def _json_routes(app: FastAPI) -> Iterator[tuple[str, str]]:
    """(method, path with every parameter set to an id nobody has) of each API route in the OpenAPI
    document (the intake has its own tests; `/health` says up or down, `/metrics` needs the scrape token)."""
    for path, operations in app.openapi()["paths"].items():
        if path.startswith("/api/"):
            for method in sorted(operations):
                yield method.upper(), re.sub(r"\{[^}]+\}", "nope", path)


SQLITE = pytest.mark.parametrize("store", ["sqlite"], indirect=True)  # the shape is the app's


@SQLITE
def test_every_json_route_answers_problems(store: Store) -> None:
    app = _app(store)
    routes = list(_json_routes(app))
    assert len(routes) > 50, routes
    seen: set[int] = set()
    with TestClient(app) as client:
        for method, path in routes:
            anonymous = client.request(method, path, headers={"accept": "text/html"})
            if method in UNSAFE:  # without a bearer token, the CSRF check refuses first
                assert problem(anonymous, 403)["detail"] == "missing CSRF cookie", (method, path)
            else:
                assert problem(anonymous, 401)["type"] == "/problems/unauthorized", (method, path)
                assert anonymous.headers["WWW-Authenticate"] == "Bearer"
            for role in (Role.VIEWER, Role.INSPECTOR):
                resp = client.request(
                    method,
                    path,
                    params={"size": "0"} if method == "GET" else None,
                    json={"unexpected": True} if method in UNSAFE - {"DELETE"} else None,
                    headers=_bearer(store, role),
                )
                assert resp.status_code != 500, (method, path, resp.text)
                if resp.status_code >= 400:
                    problem(resp, resp.status_code)
                    seen.add(resp.status_code)
        assert {403, 404, 422} <= seen, seen
        assert problem(client.get("/api/v1/no-such-route"), 404)["instance"] == "/api/v1/no-such-route"
        assert problem(client.delete("/health"), 405)["type"] == "/problems/method-not-allowed"


def test_representative_errors_of_each_kind(store: Store) -> None:
    admin, viewer = _bearer(store, Role.ADMIN), _bearer(store, Role.VIEWER)
    with TestClient(_app(store)) as client:
        for path in (
            "/api/v1/alerts/nope",
            "/api/v1/incidents/nope",
            "/api/v1/events/nope",
            "/api/v1/inspections/plans/nope",
        ):
            assert problem(client.get(path, headers=admin), 404)["type"] == "/problems/not-found"
        body = problem(client.post("/api/v1/incidents", json={"titel": "x"}, headers=admin), 422)
        assert {e["location"] for e in body["errors"]} == {"body.title", "body.titel"}
        query = problem(client.get("/api/v1/events", params={"size": 0}, headers=admin), 422)
        assert [e["location"] for e in query["errors"]] == ["query.size"]
        assert query["detail"].startswith("query.size: ")
        severity = problem(client.get("/api/v1/alerts", params={"severity": "bogus"}, headers=admin), 422)
        assert severity["errors"][0]["location"] == "query.severity.0"
        denied = client.patch("/api/v1/alerts/nope/triage", json={"status": "resolved"}, headers=viewer)
        assert problem(denied, 403)["detail"] == "your role may not do this"
        assert problem(client.get("/api/v1/audit", headers=viewer), 403)["type"] == "/problems/forbidden"
        anonymous = client.get("/api/v1/incidents")
        assert problem(anonymous, 401)["type"] == "/problems/unauthorized"
        assert anonymous.headers["WWW-Authenticate"] == "Bearer"


@SQLITE
def test_console_pages_never_get_problem_details(store: Store) -> None:
    with TestClient(_app(store)) as client:
        login = client.get("/alerts", headers={"accept": "text/html"}, follow_redirects=False)
        assert login.status_code == 303 and login.headers["location"].startswith("/login")
        missing = client.get("/no-such-page", headers={"accept": "text/html"})
        assert missing.status_code == 404 and "problem" not in missing.headers["content-type"]


@SQLITE
def test_openapi_documents_problem_details_on_every_api_operation(store: Store) -> None:
    schema = _app(store).openapi()
    assert set(schema["components"]["schemas"]["Problem"]["required"]) >= {"type", "title", "status"}
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    for path, operations in schema["paths"].items():
        if not path.startswith(("/api/", "/ingest/")):
            continue
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "application/problem+json" in responses["default"]["content"], (method, path)
            if "422" in responses:
                assert "application/problem+json" in responses["422"]["content"], (method, path)
