"""Zero 5xx from the console's forms and filters (issue 14): they are outside the OpenAPI document
the schema-based run reads (`tests/api/test_fuzz.py`), so their fields are taken from the routes
themselves and filled by Hypothesis with values a form would never send: text outside each enum,
impossible and out-of-range days, numbers beyond 64 bits, empty fields. Every page and form answers
below 500 (a redirect, the page, or a 4xx), signed in as an administrator, who reaches every page.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import hypothesis
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from hypothesis import strategies as st

from api.auth.deps import Role
from api.auth.testing import form_csrf, login
from tests.api.test_fuzz import _embedded_app

#: Every area of the console but the sign-in pages.
AREAS = [
    importlib.import_module(f"soc_console.pages.{name}")
    for name in [
        "overview",
        "alerts",
        "saved_views",
        "exceptions",
        "rules",
        "incidents",
        "audit",
        "coverage",
        "notify_settings",
        "registry",
        "inspections",
        "reports",
    ]
]
#: Filters the pages read from the query string themselves (not declared as parameters).
PAGE_FILTERS = {
    "/alerts": ["start", "end", "severity", "status", "sort", "collapse", "q", "cursor", "unit", "host"],
    "/coverage": ["scope", "start", "end"],
    "/rules": ["q", "level", "status", "sort", "cursor", "tactic"],
}
#: What a form never sends but an attacker does.
HOSTILE = [
    "",
    "pwned",
    "0001-01-01",
    "9999-12-31",
    "2026-13-45",
    "0001-01-01T00:00:00+14:00",
    str(2**70),
    "-1",
    "[]",
    "WzEs",  # base64 of `[1,`: a cursor that does not decode
    "\x00",
    "a" * 300,
]
VALUES = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=12))
EXAMPLES = int(os.environ.get("SOCPIPE_FUZZ_EXAMPLES", "30"))  # more for a deeper run by hand


def _fields(route: APIRoute) -> tuple[list[str], list[str]]:
    """The query and form fields of a route, its dependencies' included (the principal's are none)."""
    query, form = [], []
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        query += [p.alias for p in dependant.query_params]
        form += [p.alias for p in dependant.body_params if p.alias != "file"]
        pending += dependant.dependencies
    return query + PAGE_FILTERS.get(route.path, []), form


ROUTES = [
    route
    for area in AREAS
    for route in area.router.routes
    if isinstance(route, APIRoute) and (_fields(route)[0] or _fields(route)[1] or "{" in route.path)
]


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """An administrator's session on the embedded app, and a real id for each kind of path parameter."""
    app, ctx, _ = _embedded_app(tmp_path_factory.mktemp("console-fuzz"))
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
        login(client, ctx.store, role=Role.ADMIN)
        client.headers["x-csrf-token"] = form_csrf(client.get("/alerts").text)
        incident = client.post("/api/v1/incidents", json={"title": "fuzz"}).json()["incident"]["id"]
        day = datetime.now(UTC).date() + timedelta(days=30)
        plan = client.post(
            "/api/v1/inspections/plans",
            json={
                "title": "fuzz",
                "scope_start": (day - timedelta(days=90)).isoformat(),
                "units": [{"unit_id": "so-khcn", "visit_date": day.isoformat()}],
            },
        ).json()["plan"]["id"]
        visit = client.post("/api/v1/inspections/visits", json={"plan_id": plan, "unit_id": "so-khcn"}).json()
        finding = client.post(
            f"/api/v1/inspections/visits/{visit['id']}/findings", json={"description": "fuzz"}
        ).json()["finding"]
        rule = next(iter(ctx.detect_engine.rules)).id if ctx.detect_engine else "r"
        ids = {
            "incident_id": incident,
            "plan_id": plan,
            "visit_id": visit["id"],
            "finding_id": finding["id"],
            "unit_id": "so-khcn",
            "rule_id": rule,
            "kind": "routing",
        }
        yield client, ids


def _url(route: APIRoute, ids: dict[str, str]) -> str:
    names = route.param_convertors.keys()
    return route.path.format(**{name: ids.get(name, "missing") for name in names})


@pytest.mark.parametrize("route", ROUTES, ids=[f"{sorted(r.methods)[0]} {r.path}" for r in ROUTES])
def test_no_console_page_or_form_answers_a_server_error(
    console: tuple[TestClient, dict[str, str]], route: APIRoute
) -> None:
    client, ids = console
    query, form = _fields(route)
    method = sorted(route.methods)[0]
    url = _url(route, ids)

    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(
        params=st.fixed_dictionaries({}, optional={name: VALUES for name in query}),
        data=st.fixed_dictionaries({}, optional={name: VALUES for name in form}),
    )
    def run(params: dict[str, Any], data: dict[str, Any]) -> None:
        resp = client.request(method, url, params=params, data=data or None, follow_redirects=False)
        assert resp.status_code < 500, (method, url, params, data, resp.status_code, resp.text[:300])

    run()
