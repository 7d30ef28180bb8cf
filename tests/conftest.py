"""Shared fixtures: the real servers (session scope), per-test isolation, both stores, both buses."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from buses.kafka import KafkaBus
from soc_core.alert import Alert, RuleRef, Severity, alert_id
from soc_core.bus import Bus, InProcessBus
from soc_core.event import Event
from soc_core.store import Store
from stores.elastic.store import ElasticStore
from stores.sqlite.store import SqliteStore
from tests.problems import problem
from tests.servers import ES_REFRESH_INTERVAL, Servers, in_ci, start_servers

_servers: Servers | None = None
_servers_error: str | None = None


@pytest.fixture(autouse=True)
def _api_errors_are_problems(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every error the JSON API answers anywhere in the suite is RFC 9457 problem details (issue 12).

    Wraps the TestClient every API and console test uses; `/health` is exempt (its 503 is the
    health report the probes read).
    """
    from fastapi.testclient import TestClient

    from api.problems import is_machine_path

    send = TestClient.request

    def checked(self: TestClient, method: str, url: Any, *args: Any, **kwargs: Any) -> Any:
        resp = send(self, method, url, *args, **kwargs)
        path = resp.request.url.path
        if resp.status_code >= 400 and is_machine_path(path) and path != "/health":
            problem(resp, resp.status_code)
        return resp

    monkeypatch.setattr(TestClient, "request", checked)


#: Parameter values of the `store` and `bus` fixtures that need the real servers.
_SERVER_PARAMS = {("store", "elasticsearch"), ("bus", "kafka")}
_BROWSER_TESTS = Path(__file__).parent / "browser"
_CHAOS_TESTS = Path(__file__).parent / "chaos"
_CLUSTER_TESTS = Path(__file__).parent / "cluster"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark what needs the servers or the browser, so `-m "not servers and not browser and not chaos
    and not cluster"` (`make test-fast`) is the quick loop while working. Derived, not hand-kept: a
    test needs the servers when it asks for the `servers`, `private_servers`, `secure_servers` or
    `cluster_servers` fixture (directly or through another fixture) or for the Elasticsearch/Kafka
    variant of `store`/`bus`; every test under tests/chaos is `chaos` (faults injected: kills,
    stopped servers, poison records); every test under tests/cluster is `cluster` (its own
    five-JVM cluster) and `chaos` (it kills a broker and a node)."""
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        names = getattr(item, "fixturenames", ())
        server_variant = any(
            isinstance(value, str) and (name, value) in _SERVER_PARAMS for name, value in params.items()
        )
        if {"servers", "private_servers", "secure_servers", "cluster_servers"} & set(names) or server_variant:
            item.add_marker(pytest.mark.servers)
        parents = Path(str(item.path)).parents
        if _BROWSER_TESTS in parents:
            item.add_marker(pytest.mark.browser)
        if _CHAOS_TESTS in parents:
            item.add_marker(pytest.mark.chaos)
        if _CLUSTER_TESTS in parents:
            item.add_marker(pytest.mark.cluster)
            item.add_marker(pytest.mark.chaos)


@pytest.fixture(scope="session")
def servers() -> Servers:
    """The real Kafka and Elasticsearch. Fails in CI when they cannot start; skips elsewhere."""
    global _servers, _servers_error
    if _servers is None and _servers_error is None:
        try:
            _servers = start_servers()
        except (RuntimeError, OSError) as exc:
            _servers_error = str(exc)
    if _servers is None:
        if in_ci():
            pytest.fail(f"Kafka/Elasticsearch could not start in CI: {_servers_error}")
        pytest.skip(f"Kafka/Elasticsearch not available: {_servers_error}")
    return _servers


@pytest.fixture
def prefix() -> str:
    """A unique topic and index prefix, so tests never see each other's data."""
    return f"t{uuid.uuid4().hex[:10]}-"


@pytest.fixture(params=["sqlite", "elasticsearch"])
def store(request: pytest.FixtureRequest, tmp_path: Path, prefix: str) -> Iterator[Store]:
    if request.param == "elasticsearch":
        yield request.getfixturevalue("elastic_store")
        return
    s = SqliteStore(tmp_path / "store.sqlite3")
    s.setup()
    yield s
    s.close()


@pytest.fixture
def elastic_store(servers: Servers, prefix: str) -> Iterator[ElasticStore]:
    """The Elasticsearch store alone, on the shared server under the test's own prefix (its indices
    and templates deleted after the test)."""
    s = ElasticStore(servers.es_url, prefix=prefix, refresh_interval=ES_REFRESH_INTERVAL)
    s.setup()
    yield s
    s.es.indices.delete(index=f"{prefix}*", ignore_unavailable=True, allow_no_indices=True)
    s.es.options(ignore_status=404).indices.delete_index_template(name=f"{prefix}*")
    s.close()


@pytest.fixture(params=["inprocess", "kafka"])
def bus(request: pytest.FixtureRequest) -> Iterator[Bus]:
    b: Bus
    if request.param == "inprocess":
        b = InProcessBus()
    else:
        servers: Servers = request.getfixturevalue("servers")
        b = KafkaBus(servers.kafka_bootstrap)
    yield b
    b.close()


def make_event(
    n: int,
    *,
    source: str = "src-a",
    unit: str = "unit-a",
    ts: datetime | None = None,
    host: str = "ws01",
    **extra: Any,
) -> Event:
    """A small ECS event with a deterministic id."""
    when = ts or datetime(2025, 7, 1, 8, 0, tzinfo=UTC) + timedelta(minutes=n)
    doc: dict[str, Any] = {
        "@timestamp": when.isoformat(),
        "message": f"event number {n}",
        "event": {"id": f"ev-{n:06d}", "code": "4625", "kind": "event", "ingested": when.isoformat()},
        "host": {"name": host},
        "winlog": {"channel": "Security", "event_data": {"TargetUserName": f"user{n}"}},
        "soc": {"source": {"id": source}, "unit": {"id": unit}},
    }
    doc.update(extra)
    return Event.from_doc(doc)


def make_alert(rule_id: str, event: Event, *, severity: Severity = Severity.HIGH) -> Alert:
    """An alert of `rule_id` on `event` (the rule's name is its id), with its deterministic id."""
    return Alert.model_validate(
        {
            "id": alert_id(rule_id, event.id),
            "@timestamp": event.timestamp,
            "severity": severity,
            "rule": RuleRef(id=rule_id, name=rule_id, author="socpipe"),
            "soc": event.soc,
            "host_name": "ws01",
            "event_ids": [event.id],
            "event": event.to_doc(),
        }
    )
