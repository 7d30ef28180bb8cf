"""Registry console pages: everyone province-wide reads the tables; admins import (CSRF-protected,
all-or-nothing, problems listed); inspectors are refused."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.auth.deps import Role
from api.auth.testing import form_csrf, login
from soc_core.store import Store
from socpipe.app import create_app
from socpipe.demo.province import demo_registry
from tests.backends import app_context


def test_viewer_reads_the_registry_without_an_import_form(store: Store) -> None:
    store.save_registry(demo_registry()[0])
    client = TestClient(create_app(app_context(store)))
    login(client, store, role=Role.VIEWER)
    page = client.get("/registry").text
    assert "Hệ thống quản lý văn bản và điều hành" in page
    assert "UBND xã Đông Hoa Lư" in page
    assert 'id="registry-import"' not in page


def test_admin_imports_csv_and_sees_every_problem(store: Store) -> None:
    client = TestClient(create_app(app_context(store)))
    login(client, store, role=Role.ADMIN)
    token = form_csrf(client.get("/registry").text)
    units = "id,name,kind\nso-y-te,Sở Y tế,department\n"
    ok = client.post(
        "/registry/import",
        data={"csrf_token": token, "kind": "units"},
        files={"file": ("units.csv", units.encode(), "text/csv")},
    )
    assert ok.status_code == 200 and 'id="import-ok"' in ok.text
    bad_yaml = "systems:\n  - {id: lan, name: LAN, unit_id: ghost, level: 2}\n"
    bad = client.post(
        "/registry/import",
        data={"csrf_token": token},
        files={"file": ("reg.yaml", bad_yaml.encode(), "application/yaml")},
    )
    assert bad.status_code == 422
    assert "systems.lan: owner unit &#39;ghost&#39; is not a registered unit" in bad.text
    assert [s.id for s in store.load_registry().systems] == []
    forged = client.post(
        "/registry/import", data={"kind": "units"}, files={"file": ("units.csv", units.encode(), "text/csv")}
    )
    assert forged.status_code == 403


def test_inspectors_are_refused_the_registry_page(store: Store) -> None:
    client = TestClient(create_app(app_context(store)))
    login(client, store, role=Role.INSPECTOR)
    assert client.get("/registry", headers={"accept": "text/html"}).status_code == 403
