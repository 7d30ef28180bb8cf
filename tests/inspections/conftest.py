"""Fixtures for the inspection tests: the scenario on each store, and signed-in clients."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.auth.deps import Role
from api.auth.testing import form_csrf, login
from detections.engine import DetectionEngine
from detections.stage import DetectStage
from soc_core.store import Store
from socpipe.app import create_app
from tests.backends import app_context
from tests.inspections.scenario import Scenario, build, engine

ROOT = Path(__file__).resolve().parents[2]


def sample_data() -> Path:
    """The shared sample corpus (`SOC_TEST_DATA`, else `shared/data` beside the repository)."""
    configured = os.environ.get("SOC_TEST_DATA")
    for candidate in ([Path(configured)] if configured else []) + [
        ROOT.parent / "shared" / "data",
        Path("/work/shared/data"),
    ]:
        if candidate.is_dir():
            return candidate
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail("sample data missing in CI (shared/data)")
    pytest.skip("sample data not available")


@pytest.fixture(scope="session")
def rules(tmp_path_factory: pytest.TempPathFactory) -> DetectionEngine:
    return engine(tmp_path_factory.mktemp("rule-cache"))


@pytest.fixture
def scenario(store: Store, rules: DetectionEngine) -> Scenario:
    return build(store, DetectStage(rules))


ClientFor = Callable[..., TestClient]


@pytest.fixture
def client_for(scenario: Scenario, tmp_path: Path) -> Iterator[ClientFor]:
    """`client_for("insp-yte", Role.INSPECTOR)`: a TestClient signed in through the login form."""
    clients: list[TestClient] = []
    ctx = app_context(scenario.store, environment="test", data_dir=tmp_path / "data")
    ctx.detect_engine = scenario.detect.engine  # what embedded mode hands the rules API
    app = create_app(ctx)

    def make(username: str, role: Role) -> TestClient:
        client = TestClient(app, base_url="https://testserver")
        client.__enter__()
        clients.append(client)
        login(client, scenario.store, role=role, username=username)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def csrf(client: TestClient) -> dict[str, str]:
    return {"x-csrf-token": form_csrf(client.get("/login").text)}


def upload(client: TestClient, visit_id: str, name: str, content: bytes, **form: str) -> Any:
    return client.post(
        f"/api/v1/inspections/visits/{visit_id}/evidence",
        files={"file": (name, content, "application/octet-stream")},
        data=form,
        headers=csrf(client),
    )
