"""Saved views through the JSON API and the console's box (`_saved_views.html` + POST /views), on both
stores: each user sees only their own, a name saved again replaces its query, a query whose KQL does
not parse is refused, the per-user limit holds, inspectors may not keep views, and every save and
delete is in the audit log."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api.auth.deps import Role
from api.auth.testing import form_csrf, login
from soc_console.render import templates
from soc_core.store import AuditQuery, Store
from socpipe.app import create_app
from tests.backends import app_context


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    ctx = app_context(store, environment="test", saved_views_per_user=3)
    with TestClient(create_app(ctx), base_url="https://testserver") as c:
        yield c


def _csrf(client: TestClient) -> dict[str, str]:
    return {"x-csrf-token": form_csrf(client.get("/alerts").text)}


def test_views_are_saved_replaced_listed_and_deleted_per_user(client: TestClient, store: Store) -> None:
    login(client, store, role=Role.ANALYST, username="an")
    headers = _csrf(client)
    body = {
        "kind": "alerts",
        "name": " Tường lửa mới ",
        "query": "?q=rule.name%3A*Firewall*&status=new&cursor=abc",
    }
    created = client.post("/api/v1/views", json=body, headers=headers)
    assert created.status_code == 201
    view = created.json()
    assert view["name"] == "Tường lửa mới"  # trimmed
    assert view["query"] == "q=rule.name%3A%2AFirewall%2A&status=new"  # paging state dropped
    assert parse_qs(view["query"]) == {"q": ["rule.name:*Firewall*"], "status": ["new"]}
    assert view["url"] == "/alerts?" + view["query"]
    again = client.post(
        "/api/v1/views", json={**body, "name": "Tường lửa mới", "query": "status=all"}, headers=headers
    )
    assert again.status_code == 200 and again.json()["id"] == view["id"]
    assert again.json()["query"] == "status=all" and again.json()["created_at"] == view["created_at"]
    client.post(
        "/api/v1/views",
        json={"kind": "events", "name": "SSH", "query": "q=event.code%3A4625&start=now-24h"},
        headers=headers,
    )
    listed = client.get("/api/v1/views").json()
    assert [(v["kind"], v["name"]) for v in listed["items"]] == [
        ("alerts", "Tường lửa mới"),
        ("events", "SSH"),
    ]
    assert [v["name"] for v in client.get("/api/v1/views", params={"kind": "events"}).json()["items"]] == [
        "SSH"
    ]

    # another analyst sees none of them, and cannot open or delete them
    client.cookies.clear()
    login(client, store, role=Role.ANALYST, username="binh")
    assert client.get("/api/v1/views").json()["items"] == []
    assert client.get(f"/api/v1/views/{view['id']}").status_code == 404
    assert client.delete(f"/api/v1/views/{view['id']}", headers=_csrf(client)).status_code == 404

    client.cookies.clear()
    login(client, store, role=Role.ANALYST, username="an")
    assert client.delete(f"/api/v1/views/{view['id']}", headers=_csrf(client)).status_code == 204
    assert [v["name"] for v in client.get("/api/v1/views").json()["items"]] == ["SSH"]
    store.refresh()  # the audit log is searched, not read by id
    actions = [
        (e.action, e.details.get("name"))
        for e in reversed(store.search_audit(AuditQuery(target_id=view["id"])).items)
    ]
    assert actions == [
        ("view.create", "Tường lửa mới"),
        ("view.update", "Tường lửa mới"),
        ("view.delete", "Tường lửa mới"),
    ]


def test_bad_views_are_refused_with_problems(client: TestClient, store: Store) -> None:
    login(client, store, role=Role.ANALYST, username="an")
    headers = _csrf(client)

    def save(**body: str) -> int:
        return client.post(
            "/api/v1/views", json={"kind": "alerts", "name": "v", "query": "", **body}, headers=headers
        ).status_code

    bad_kql = client.post(
        "/api/v1/views",
        json={"kind": "events", "name": "x", "query": "q=host.name%3A%28web"},
        headers=headers,
    )
    assert bad_kql.status_code == 422 and "column" in bad_kql.json()["detail"]
    assert save(query="q=no_such_field%3Ax") == 422  # alerts' fields, not the events'
    assert save(kind="incidents") == 422
    assert save(name="   ") == 422
    assert save(name="x" * 81) == 422
    assert save(query="q=" + "a" * 5000) == 422
    assert [save(name=f"v{n}") for n in range(4)] == [201, 201, 201, 409]  # three per page here
    assert save(name="v0", query="status=all") == 200  # replacing is not one more
    assert (
        client.post(
            "/api/v1/views", json={"kind": "events", "name": "other page", "query": ""}, headers=headers
        ).status_code
        == 201
    )
    assert (
        client.post("/api/v1/views", json={"kind": "alerts", "name": "no csrf", "query": ""}).status_code
        == 403
    )


def test_who_may_keep_views(client: TestClient, store: Store) -> None:
    assert client.get("/api/v1/views").status_code == 401
    login(client, store, role=Role.INSPECTOR, username="thanhtra")
    assert client.get("/api/v1/views").status_code == 403
    client.cookies.clear()
    login(client, store, role=Role.VIEWER, username="xem")
    assert client.get("/api/v1/views").status_code == 200


def test_the_console_box_saves_opens_and_deletes_a_view(client: TestClient, store: Store) -> None:
    login(client, store, role=Role.ANALYST, username="an")
    page = client.get("/alerts", params={"status": "new", "severity": "critical", "cursor": ""}).text
    assert 'id="saved-views"' in page and 'name="query" value="status=new&amp;severity=critical"' in page
    token = form_csrf(page)

    def form(**data: str) -> Any:
        return client.post(
            "/views", data={"csrf_token": token, "kind": "alerts", **data}, follow_redirects=False
        )

    saved = form(name="Nghiêm trọng mới", query="status=new&severity=critical")
    assert saved.status_code == 303 and saved.headers["location"] == "/alerts?status=new&severity=critical"
    shown = client.get(saved.headers["location"]).text
    assert 'class="saved-view active"' in shown and "Nghiêm trọng mới" in shown
    other = client.get("/alerts").text
    assert "Nghiêm trọng mới" in other and 'class="saved-view active"' not in other
    [view] = client.get("/api/v1/views").json()["items"]
    gone = form(action="delete", view_id=view["id"], back="/alerts?status=all")
    assert gone.status_code == 303 and gone.headers["location"] == "/alerts?status=all"
    assert client.get("/api/v1/views").json()["items"] == []
    assert form(action="delete", view_id=view["id"], back="//evil").status_code == 404  # gone already
    again = form(name="Lại", query="q=host_name%3Aweb01")
    assert again.headers["location"] == "/alerts?q=host_name%3Aweb01"
    [view] = client.get("/api/v1/views").json()["items"]
    offsite = form(action="delete", view_id=view["id"], back="//evil.example/x")
    assert offsite.status_code == 303 and offsite.headers["location"] == "/alerts"  # no open redirect
    assert form(name=" ").status_code == 422
    assert form(name="x", query="q=host_name%3A%28").status_code == 422
    unsigned = client.post("/views", data={"kind": "alerts", "name": "x"}, follow_redirects=False)
    assert unsigned.status_code == 403


def test_another_page_includes_the_box_with_its_kind(client: TestClient, store: Store) -> None:
    """What the explorer's template does: one include with `views_kind = "events"`; the box lists the
    user's event views only, marks the one the page shows, and saving answers with /events."""
    box = templates.env.from_string(
        '{% with views_kind = "events" %}{% include "_saved_views.html" %}{% endwith %}'
    )

    def events_page(request: Request) -> HTMLResponse:
        return HTMLResponse(box.render(request=request))

    # first, before the console's catch-all page for unknown paths
    client.app.router.routes.insert(0, APIRoute("/test-events", events_page))  # type: ignore[attr-defined]
    login(client, store, role=Role.ANALYST, username="an")
    token = form_csrf(client.get("/alerts").text)
    client.post(
        "/api/v1/views",
        json={"kind": "alerts", "name": "Queue view", "query": ""},
        headers={"x-csrf-token": token},
    )
    saved = client.post(
        "/views",
        data={
            "csrf_token": token,
            "kind": "events",
            "name": "SSH thất bại",
            "query": "q=event.code%3A4625&start=now-24h",
        },
        follow_redirects=False,
    )
    assert (
        saved.status_code == 303 and saved.headers["location"] == "/events?q=event.code%3A4625&start=now-24h"
    )
    html = client.get("/test-events", params={"q": "event.code:4625", "start": "now-24h", "cursor": "x"}).text
    assert 'data-kind="events"' in html and "SSH thất bại" in html and "Queue view" not in html
    assert 'class="saved-view active"' in html  # the page's cursor is not part of the view
    assert 'href="/events?q=event.code%3A4625&amp;start=now-24h"' in html
    assert (
        'name="kind" value="events"' in html
        and 'name="query" value="q=event.code%3A4625&amp;start=now-24h"' in html
    )
