"""Inspectors see only the units of their plans: every province-wide read refuses them (API and
console), and the console sends them to their inspections."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.auth.deps import Role
from api.auth.service import create_api_token
from api.auth.testing import login
from soc_core.store import Store
from socpipe.app import create_app
from tests.backends import app_context

PROVINCE_WIDE_READS = [
    "/api/v1/events",
    "/api/v1/alerts",
    "/api/v1/incidents",
    "/api/v1/registry",
    "/api/v1/deadletters",
    "/api/v1/coverage",
]


@pytest.mark.parametrize("path", PROVINCE_WIDE_READS)
def test_inspector_tokens_cannot_read_province_wide_data(store: Store, path: str) -> None:
    client = TestClient(create_app(app_context(store)))
    inspector, _ = create_api_token(store=store, name="insp", role=Role.INSPECTOR, actor="test")
    analyst, _ = create_api_token(store=store, name="an", role=Role.ANALYST, actor="test")
    assert client.get(path, headers={"Authorization": f"Bearer {inspector}"}).status_code == 403
    if path != "/api/v1/coverage":  # coverage needs its repository in the app context
        assert client.get(path, headers={"Authorization": f"Bearer {analyst}"}).status_code == 200


def test_inspector_console_goes_to_inspections_and_is_refused_the_queue(store: Store) -> None:
    client = TestClient(create_app(app_context(store)))
    login(client, store, role=Role.INSPECTOR)
    home = client.get("/", follow_redirects=False)
    assert home.status_code == 303 and home.headers["location"] == "/inspections"
    assert client.get("/alerts", headers={"accept": "text/html"}).status_code == 403
