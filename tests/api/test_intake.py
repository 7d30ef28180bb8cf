"""The HTTP intake in embedded mode: auth, size limits, bad input, exactly-once storage."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from prometheus_client import generate_latest

from api.context import AppContext
from normalizers.stage import NormalizeStage
from soc_core.pipeline import EmbeddedPipeline
from soc_core.registry import InformationSystem, LogSource, Registry, Unit
from soc_core.registry_cache import RegistryCache
from soc_core.settings import IngestSettings, Settings
from soc_core.store import DeadLetterQuery, EventQuery
from socpipe.app import create_app
from socpipe.runtime import EmbeddedSubmit
from stores.sqlite.store import SqliteStore
from tests.backends import backend_of
from tests.problems import problem

TOKEN = "tok-portal-123"


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[AppContext]:
    limits = IngestSettings(max_record_bytes=4096, max_body_bytes=64 * 1024, max_decompressed_bytes=64 * 1024)
    settings = Settings(environment="dev", data_dir=tmp_path, ingest=limits)  # dev: sign-in over plain http
    store = SqliteStore(settings.sqlite_path)
    store.setup()
    store.save_registry(
        Registry(
            units=[Unit(id="so-khcn", name="Sở Khoa học và Công nghệ")],
            systems=[
                InformationSystem(id="portal", name="Cổng TTĐT", unit_id="so-khcn", level=3, important=True)
            ],
            sources=[
                LogSource.model_validate(
                    {
                        "id": "portal-ecs",
                        "name": "ECS",
                        "system_id": "portal",
                        "format": "ecs",
                        "token": TOKEN,
                    }
                )
            ],
        )
    )
    registry = RegistryCache(store)
    registry.reload()
    pipeline = EmbeddedPipeline(store, NormalizeStage(registry.context))
    yield AppContext(
        settings=settings,
        backend=backend_of(store),
        registry=registry,
        submit=EmbeddedSubmit(pipeline),
        health_checks=[store.health],
    )
    store.close()


@pytest.fixture
def client(ctx: AppContext) -> TestClient:
    return TestClient(create_app(ctx))


def _ndjson(n: int, start: int = 0) -> bytes:
    return b"\n".join(
        orjson.dumps(
            {
                "@timestamp": f"2025-07-01T08:{m % 60:02d}:00+07:00",
                "message": f"login {m}",
                "host": {"name": "web01"},
                "soc": {"unit": {"id": "forged"}},
            }
        )
        for m in range(start, start + n)
    )


def _post(client: TestClient, body: bytes, token: str | None = TOKEN, **headers: str):  # type: ignore[no-untyped-def]
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return client.post("/ingest/v1/events", content=body, headers=headers)


def test_accepted_events_are_stored_once_with_attribution_from_the_token(
    client: TestClient, ctx: AppContext
) -> None:
    resp = _post(client, _ndjson(10))
    assert resp.status_code == 202, resp.text
    assert resp.json() == {"accepted": 10, "deadletters": 0, "source": "portal-ecs"}
    assert _post(client, _ndjson(10)).status_code == 202  # a shipper retry: same records again
    page = ctx.store.search_events(EventQuery(size=100))
    assert page.total == 10
    ev = page.items[0]
    assert ev.soc.source.id == "portal-ecs"
    assert ev.soc.unit.id == "so-khcn"  # from the registry, not the forged payload
    assert ev.soc.unit.name == "Sở Khoa học và Công nghệ"
    assert ev.soc.system.level == 3
    original = ev.event.get("original")
    assert original is not None and "login" in original


def test_json_array_and_gzip_are_accepted(client: TestClient, ctx: AppContext) -> None:
    array = orjson.dumps([orjson.loads(line) for line in _ndjson(3, 100).split(b"\n")])
    assert _post(client, array).status_code == 202
    assert _post(client, gzip.compress(_ndjson(4, 200)), **{"Content-Encoding": "gzip"}).status_code == 202
    assert ctx.store.search_events(EventQuery()).total == 7


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_missing_or_unknown_token_is_401(client: TestClient, token: str | None) -> None:
    resp = _post(client, _ndjson(1), token=token)
    assert problem(resp, 401)["type"] == "/problems/unauthorized"
    assert resp.headers["WWW-Authenticate"] == "Bearer"


def test_malformed_json_is_400_naming_the_line_and_nothing_is_written(
    client: TestClient, ctx: AppContext
) -> None:
    body = _ndjson(2) + b"\n{not json}\n" + _ndjson(1, 50)
    resp = _post(client, body)
    assert "line 3" in problem(resp, 400)["detail"]
    assert ctx.store.search_events(EventQuery()).total == 0


def test_invalid_utf8_is_400(client: TestClient) -> None:
    resp = _post(client, b'{"@timestamp": "2025-07-01T00:00:00Z", "message": "\xff\xfe"}')
    assert "UTF-8" in problem(resp, 400)["detail"]


def test_record_over_the_limit_is_413(client: TestClient, ctx: AppContext) -> None:
    big = orjson.dumps({"@timestamp": "2025-07-01T00:00:00Z", "message": "x" * 5000})
    resp = _post(client, _ndjson(1) + b"\n" + big)
    assert "line 2" in problem(resp, 413)["detail"]
    assert ctx.store.search_events(EventQuery()).total == 0


def test_body_over_the_limit_is_413_also_after_gzip(client: TestClient) -> None:
    bomb = gzip.compress(b"\n".join([_ndjson(1)] * 2000))
    resp = _post(client, bomb, **{"Content-Encoding": "gzip"})
    assert problem(resp, 413)["reason"] == "decompressed_too_large"


def test_records_that_fail_normalization_become_counted_deadletters(
    client: TestClient, ctx: AppContext
) -> None:
    body = _ndjson(1) + b'\n{"no_timestamp": true}\n"a bare string"'
    resp = _post(client, body)
    assert resp.status_code == 202
    assert resp.json()["deadletters"] == 2
    letters = ctx.store.list_deadletters(DeadLetterQuery())
    assert letters.total == 2
    assert {d.source_id for d in letters.items} == {"portal-ecs"}
    assert any("@timestamp" in d.reason for d in letters.items)
    metrics = generate_latest().decode()  # what the ops listener serves
    assert 'soc_normalize_results_total{format="ecs",outcome="deadletter",source="portal-ecs"}' in metrics


def test_rejections_are_counted_in_metrics(client: TestClient) -> None:
    _post(client, _ndjson(1), token="nope")
    metrics = generate_latest().decode()  # what the ops listener serves
    line = next(
        m for m in metrics.splitlines() if m.startswith('soc_intake_rejected_total{reason="unauthorized"}')
    )
    assert float(line.split()[-1]) >= 1


def test_health_and_security_headers(client: TestClient) -> None:
    resp = client.get("/health")
    assert resp.status_code == 200
    assert resp.json() == {"status": "up"}  # the details are on the ops listener (tests/api/test_exposure.py)
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_console_overview_escapes_hostile_log_content(client: TestClient, ctx: AppContext) -> None:
    hostile = orjson.dumps(
        {
            "@timestamp": "2025-07-01T08:00:00+07:00",
            "message": "<script>alert(1)</script>",
            "host": {"name": "<img src=x onerror=alert(2)>"},
        }
    )
    assert _post(client, hostile).status_code == 202
    from api.auth.testing import login

    login(client, ctx.store)
    page = client.get("/").text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page
    assert "Cổng TTĐT" in page
