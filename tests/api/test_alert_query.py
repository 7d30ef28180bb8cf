"""The alert search's `q` is the query language (issue 15), on both stores: old one-word searches
still work, KQL narrows, diacritics and case do not matter, and a query that cannot be read is a
422 problem naming the position and what was expected."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.auth.deps import Role
from api.auth.testing import login
from soc_core.store import Store
from socpipe.app import create_app
from tests.api.test_alerts import client, seeded  # noqa: F401 - fixtures
from tests.backends import app_context
from tests.contract.test_store_triage_contract import triage_alert


def hosts(client: TestClient, q: str) -> list[str]:  # noqa: F811 - the fixture's name
    resp = client.get("/api/v1/alerts", params={"q": q})
    assert resp.status_code == 200, resp.text
    return sorted(a["host_name"] for a in resp.json()["items"])


def test_q_is_kql(client: TestClient, seeded: Store) -> None:  # noqa: F811
    seeded.put_alerts([triage_alert(7, rule="r-clear", rule_name="Đã xóa nhật ký", host="srv-log")])
    seeded.refresh()
    login(client, seeded, role=Role.VIEWER)
    assert hosts(client, "usb") == ["web01"]  # a word, as before
    assert hosts(client, "USB Mass") == ["web01"]
    assert hosts(client, "da xoa") == ["srv-log"]
    assert hosts(client, '"Đã XÓA nhật ký"') == ["srv-log"]
    assert hosts(client, "host_name:web0* and not severity:critical") == ["web01", "web01", "web01", "web01"]
    assert hosts(client, "severity:(critical or low)") == ["kiosk1", "web02"]
    assert hosts(client, "threat.technique.id:T1562 or user_name:root") == ["web01", "web02"]
    assert hosts(client, "mimikatz") == []
    # the other filters still apply beside q
    resp = client.get("/api/v1/alerts", params={"q": "brute", "severity": "low"}).json()
    assert [a["host_name"] for a in resp["items"]] == ["kiosk1"]


def test_an_unreadable_q_is_a_422_that_points_at_the_problem(client: TestClient, seeded: Store) -> None:  # noqa: F811
    login(client, seeded, role=Role.VIEWER)
    for q, says in [
        ("host_name:(web01 or", "column 20"),
        ('rule.name:"never closed', "never closed"),
        ("hostname:web01", "did you mean host_name"),
        ("count:many", "is not a number"),
    ]:
        resp = client.get("/api/v1/alerts", params={"q": q})
        assert resp.status_code == 422, (q, resp.text)
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert says in resp.text, (q, resp.text)


def test_the_query_limits_are_settings(store: Store) -> None:
    app = create_app(app_context(store, environment="test", query_max_length=30, query_max_depth=2))
    with TestClient(app, base_url="https://testserver") as short:
        login(short, store, role=Role.VIEWER)
        assert short.get("/api/v1/alerts", params={"q": "(usb or (brute))"}).status_code == 200
        deep = short.get("/api/v1/alerts", params={"q": "((usb or (brute)))"})
        assert deep.status_code == 422 and "nested deeper than 2" in deep.text
        long = short.get("/api/v1/alerts", params={"q": "usb " * 10})
        assert long.status_code == 422 and "longer than 30" in long.text
        page = short.get("/alerts", params={"q": "usb " * 10})  # the console's queue too
        assert page.status_code == 422
