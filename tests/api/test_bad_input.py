"""Bad input is the sender's error, never a server error (issue 14): the attacks of the issue's fuzz
run, each answered 4xx. Out-of-range and impossible dates (API filters, bodies, the dossier window,
the console's day filter), integers beyond 64 bits and other unencodable values in `rules/test`, and
status/severity values outside their enums in the console's forms. (The malformed `cursor` of the
list endpoints is `tests/api/test_paging.py`'s.)"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.auth.deps import Role
from api.auth.testing import form_csrf, login
from api.times import OUT_OF_RANGE
from detections.engine import DetectionEngine
from soc_core.store import Store
from socpipe.app import create_app
from stores.sqlite.store import SqliteStore
from tests.backends import app_context
from tests.contract.test_store_triage_contract import triage_alert
from tests.problems import problem

PACK = Path(__file__).resolve().parents[2] / "detections" / "rules" / "provincial"
ALERT = triage_alert(1)
#: A time or day no store can hold (year 0 or 10000 in UTC), or no calendar has.
EXTREME_TIMES = ["0001-01-01T00:00:00+14:00", "0001-01-01T00:00:00", "9999-12-31T23:59:59-14:00"]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = SqliteStore(tmp_path / "store.sqlite3")
    s.setup()
    s.put_alerts([ALERT])
    yield s
    s.close()


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    """An analyst signed in through the console (admins see every unit's dossier)."""
    ctx = app_context(store, environment="test")
    ctx.detect_engine = DetectionEngine.from_folders([PACK])
    app = create_app(ctx)
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as c:
        login(c, store, role=Role.ADMIN, username="boss")
        c.headers["x-csrf-token"] = form_csrf(c.get("/alerts").text)
        yield c


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/events",
        "/api/v1/alerts",
        "/api/v1/audit",
        "/api/v1/coverage/history",
        "/api/v1/coverage/gaps",
    ],
)
@pytest.mark.parametrize("value", EXTREME_TIMES)
def test_a_time_filter_no_store_can_hold_is_a_422(client: TestClient, path: str, value: str) -> None:
    resp = client.get(path, params={"start": value, "end": value})
    assert OUT_OF_RANGE in problem(resp, 422)["detail"], resp.text


def test_an_impossible_day_in_the_alert_filter_is_a_422(client: TestClient) -> None:
    body = problem(client.get("/api/v1/alerts", params={"start": "2026-13-45"}), 422)
    assert body["errors"][0]["location"] == "query.start"
    assert client.get("/alerts", params={"start": "2026-13-45"}).status_code == 422  # the console's queue


@pytest.mark.parametrize(
    "params", [{"from": "0001-01-01"}, {"to": "9999-12-31"}, {"from": "0001-01-01T00:00:00+05:00"}]
)
def test_a_dossier_window_out_of_range_is_a_422(client: TestClient, params: dict[str, str]) -> None:
    for suffix in ("", ".pdf"):
        resp = client.get(f"/api/v1/units/so-khcn/dossier{suffix}", params=params)
        assert OUT_OF_RANGE in problem(resp, 422)["detail"], (suffix, resp.text)


def test_days_and_times_in_bodies_out_of_range_are_a_422(client: TestClient) -> None:
    plan = {
        "title": "Kiểm tra định kỳ",
        "scope_start": "0001-01-01",
        "units": [{"unit_id": "so-khcn", "visit_date": "0001-01-03"}],
    }
    resp = client.post("/api/v1/inspections/plans", json=plan)
    assert problem(resp, 422)["errors"][0]["location"].startswith("body.scope_start"), resp.text
    exception = {
        "rule_id": "r1",
        "reason": "a known scanner",
        "host_name": "h1",
        "expires_at": EXTREME_TIMES[0],
    }
    assert problem(client.post("/api/v1/exceptions", json=exception), 422)


@pytest.mark.parametrize(
    "event",
    [
        {"process": {"pid": 2**70}},  # an integer beyond 64 bits (JSON has no limit, the pipeline has)
        {"winlog": {"event_id": -(2**64)}},
        {"message": "\ud800"},  # a lone surrogate, sent escaped: valid JSON, not UTF-8
    ],
    ids=["over-2^64", "under-minus-2^63", "lone-surrogate"],
)
def test_rules_test_refuses_what_the_pipeline_could_not_carry(
    client: TestClient, event: dict[str, Any]
) -> None:
    body = json.dumps({"event": event}).encode()  # json escapes the surrogate as \ud800
    resp = client.post("/api/v1/rules/test", content=body, headers={"content-type": "application/json"})
    assert "could carry" in problem(resp, 422)["detail"], resp.text


def test_rules_test_refuses_nesting_deeper_than_the_pipeline_encodes(client: TestClient) -> None:
    body = '{"event": ' + '{"a": ' * 300 + "1" + "}" * 300 + "}"
    resp = client.post(
        "/api/v1/rules/test", content=body.encode(), headers={"content-type": "application/json"}
    )
    assert problem(resp, 422), resp.text


@pytest.mark.parametrize(
    ("path", "form"),
    [
        (f"/alerts/{ALERT.id}", {"status": "pwned"}),
        ("/incidents", {"title": "x", "severity": "apocalyptic"}),
    ],
)
def test_console_forms_refuse_values_outside_their_enums(
    client: TestClient, store: Store, path: str, form: dict[str, str]
) -> None:
    resp = client.post(path, data=form, follow_redirects=False)
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith("text/html")  # a console page, not raw JSON
    detail = re.search(r'id="error-detail">([^<]*)<', resp.text)
    assert detail is not None, resp.text[:500]
    assert html.unescape(detail.group(1)).split(" must be one of ")[0] in form


def test_console_incident_forms_refuse_unknown_status_and_severity(client: TestClient) -> None:
    created = client.post("/incidents", data={"title": "x", "severity": "high"}, follow_redirects=False)
    assert created.status_code == 303, created.text
    target = created.headers["location"]
    for form in ({"status": "pwned"}, {"severity": "apocalyptic"}):
        assert client.post(target, data=form, follow_redirects=False).status_code == 422, form
    assert client.get("/incidents", params={"status": "pwned"}).status_code == 422
    assert client.get("/incidents", params={"status": "closed"}).status_code == 200


def test_console_rules_filter_drops_a_value_the_api_refuses(client: TestClient) -> None:
    resp = client.get("/rules", params={"q": "a" * 300, "level": "high"})  # q: at most 200 characters
    assert resp.status_code == 200, resp.text[:300]
