"""The console page where an admin edits the routing rules and the guidance: the text in force, a form
error naming the rule and field (nothing saved), versions listed and reopened, admins only (on both
stores)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.auth.deps import Role
from api.auth.testing import form_csrf, login
from soc_core.store import Store
from socpipe.app import create_app
from tests.backends import app_context

RULES = "rules:\n  - name: chỉ-nghiêm-trọng\n    min_severity: critical\n    oncall: true\n"


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(app_context(store, environment="test")), base_url="https://testserver") as c:
        yield c


def test_an_admin_edits_the_rules_in_the_console(client: TestClient, store: Store) -> None:
    login(client, store, role=Role.ADMIN, username="quantri")
    page = client.get("/settings/notify", headers={"accept-language": "vi"})
    assert page.status_code == 200
    assert "tệp cấu hình ban đầu" in page.text and "high-and-critical" in page.text
    token = form_csrf(page.text)
    bad = client.post(
        "/settings/notify/routing",
        data={"csrf_token": token, "base_version": "0", "reason": "thử", "text": RULES + "    to: [fax:1]\n"},
        headers={"accept-language": "vi"},
    )
    assert bad.status_code == 422
    assert "Chưa lưu" in bad.text and "rules.0.to" in bad.text
    assert "rule &#34;chỉ-nghiêm-trọng&#34; (number 1), field &#34;to&#34;" in bad.text
    assert "fax:1" in bad.text  # the admin's text is kept in the box
    saved = client.post(
        "/settings/notify/routing",
        data={"csrf_token": token, "base_version": "0", "reason": "Bớt tin nhắn", "text": RULES},
        follow_redirects=False,
    )
    assert saved.status_code == 303 and saved.headers["location"] == "/settings/notify?kind=routing&saved=1"
    page = client.get(saved.headers["location"], headers={"accept-language": "vi"})
    assert "Đã lưu phiên bản 1." in page.text and "Đang áp dụng: phiên bản 1, do quantri lưu" in page.text
    assert "Bớt tin nhắn" in page.text
    old = client.get("/settings/notify?kind=routing&version=0", headers={"accept-language": "vi"})
    assert "Bạn đang xem phiên bản 0" in old.text and "high-and-critical" in old.text
    stale = client.post(
        "/settings/notify/routing",
        data={"csrf_token": token, "base_version": "0", "reason": "cũ", "text": RULES},
    )
    assert stale.status_code == 409


def test_the_page_is_for_admins(client: TestClient, store: Store) -> None:
    login(client, store, role=Role.ANALYST, username="an")
    assert client.get("/settings/notify").status_code == 403
    assert 'id="nav-notify"' not in client.get("/alerts").text
