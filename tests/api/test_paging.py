"""Every list of the JSON API pages the same way on both stores (`api.paging`): `size` and `cursor`
in, `items`, `next_cursor` and `total` out; walking page by page gives each item once, in the order
of one big page; a cursor the API did not hand out is a 400 problem, never a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.auth.deps import Role
from api.auth.service import create_api_token
from api.auth.testing import ensure_user
from api.paging import NOT_OURS, encode
from detections.engine import DetectionEngine
from soc_core.alert import Severity
from soc_core.records import DeadLetter
from soc_core.store import Store
from socpipe.app import create_app
from tests.backends import app_context
from tests.conftest import make_event
from tests.contract.test_store_triage_contract import triage_alert
from tests.paging import items
from tests.problems import problem

PACK = Path(__file__).resolve().parents[2] / "detections" / "rules" / "provincial"
SEVERITIES = [Severity.LOW, Severity.HIGH, Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM]


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    ctx = app_context(store, environment="test")
    ctx.detect_engine = DetectionEngine.from_folders([PACK])
    token, _ = create_api_token(store=store, name="admin", role=Role.ADMIN, actor="test")
    with TestClient(create_app(ctx), headers={"Authorization": f"Bearer {token}"}) as c:
        yield c


@pytest.fixture
def seeded(store: Store, client: TestClient) -> Store:
    store.put_alerts([triage_alert(n, severity=SEVERITIES[n % 5], host=f"h{n}") for n in range(1, 8)])
    store.put_events([make_event(n) for n in range(7)])
    store.put_deadletters(
        [
            DeadLetter(id=f"dl-{n}", source_id="src-a", stage="normalize", reason="x", raw=f"raw {n}")
            for n in range(5)
        ]
    )
    for n in range(4):
        ensure_user(store, f"user{n}", Role.VIEWER)
        create_api_token(store=store, name=f"t{n}", role=Role.VIEWER, actor="test")
        assert client.post("/api/v1/incidents", json={"title": f"incident {n}"}).status_code == 201
    store.refresh()
    return store


def _id(item: dict[str, Any]) -> str:
    """What identifies an item of each list (events by `event.id`, incidents inside `incident`)."""
    for nested in ("event", "incident"):
        if isinstance(item.get(nested), dict) and "id" in item[nested]:
            return str(item[nested]["id"])
    return str(item["id"])


LISTS: list[tuple[str, dict[str, str]]] = [
    ("/api/v1/events", {}),
    ("/api/v1/alerts", {}),
    ("/api/v1/alerts", {"sort": "oldest"}),
    ("/api/v1/alerts", {"sort": "severity"}),
    ("/api/v1/deadletters", {}),
    ("/api/v1/incidents", {}),
    ("/api/v1/audit", {}),
    ("/api/v1/users", {}),
    ("/api/v1/auth/tokens", {}),
    ("/api/v1/rules", {"sort": "level"}),
]


def test_walking_the_pages_gives_each_item_once_in_order(client: TestClient, seeded: Store) -> None:
    for path, params in LISTS:
        whole = client.get(path, params={**params, "size": 500}).json()
        assert whole["next_cursor"] is None and whole["total"] == len(whole["items"]) >= 4, (path, whole)
        walked = items(client, path, size=2, **params)
        assert [_id(i) for i in walked] == [_id(i) for i in whole["items"]], (path, params)
    assert problem(client.get("/api/v1/events", params={"size": 501}), 422)["errors"][0]["location"] == (
        "query.size"
    )


def test_a_cursor_the_api_did_not_hand_out_is_a_400_problem(client: TestClient, seeded: Store) -> None:
    listings = ["/api/v1/alerts"] + [  # the alert queue reads its query itself (`api.alerts.params`)
        path
        for path, operations in client.app.openapi()["paths"].items()
        if path.startswith("/api/")
        and any(p["name"] == "cursor" for p in operations.get("get", {}).get("parameters", []))
    ]
    assert len(listings) >= 17, listings
    for path in listings:  # undecodable, or not a JSON array: whatever the list
        for cursor in ("not a cursor", "WzEs", "eyJhIjogMX0="):  # -, `[1,`, `{"a": 1}`
            assert problem(client.get(path, params={"cursor": cursor}), 400)["detail"] == NOT_OURS, path
    wrong_shapes = [encode(["x"]), encode([1, 2]), encode(["2025-07-01", 5]), encode([[0, None], "x"])]
    for path, params in LISTS:  # well-formed JSON, but not a sort key of this list
        for cursor in wrong_shapes:
            resp = client.get(path, params={**params, "cursor": cursor})
            assert problem(resp, 400)["detail"] == NOT_OURS, (path, params, cursor)
    for path in ("/api/v1/events", "/api/v1/alerts", "/api/v1/incidents"):  # either store's shape works
        for cursor in (encode(["2025-07-01T08:03:00+00:00", "zz"]), encode([1751356980000, "zz"])):
            assert client.get(path, params={"cursor": cursor}).status_code == 200, (path, cursor)
    for cursor in (encode([4, None]), encode([0, "x"]), encode([True, None])):
        resp = client.get("/api/v1/alerts", params={"sort": "severity", "cursor": cursor})
        assert problem(resp, 400)["type"] == "/problems/bad-request", cursor
