"""Registry API: admins change it (validated, audited), other roles read it."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.auth.deps import Role
from api.auth.service import create_api_token
from soc_core.store import AuditQuery, Store
from socpipe.app import create_app
from tests.backends import app_context
from tests.problems import problem


def _client(store: Store) -> tuple[TestClient, dict[str, str], dict[str, str]]:
    admin, _ = create_api_token(store=store, name="admin", role=Role.ADMIN, actor="test")
    viewer, _ = create_api_token(store=store, name="viewer", role=Role.VIEWER, actor="test")
    return (
        TestClient(create_app(app_context(store))),
        {"Authorization": f"Bearer {admin}"},
        {"Authorization": f"Bearer {viewer}"},
    )


def test_import_upsert_delete_are_validated_and_audited(store: Store) -> None:
    client, admin, viewer = _client(store)
    yaml_body = "units:\n  - {id: so-y-te, name: Sở Y tế, kind: department}\n"
    assert client.post("/api/v1/registry/import", content=yaml_body, headers=viewer).status_code == 403
    resp = client.post("/api/v1/registry/import", content=yaml_body, headers=admin)
    assert resp.status_code == 200, resp.text
    bad = client.put(
        "/api/v1/registry/systems/lan", json={"name": "LAN", "unit_id": "ghost", "level": 2}, headers=admin
    )
    assert [e["message"] for e in problem(bad, 422)["errors"]] == [
        "systems.lan: owner unit 'ghost' is not a registered unit"
    ]
    ok = client.put(
        "/api/v1/registry/systems/lan", json={"name": "LAN", "unit_id": "so-y-te", "level": 2}, headers=admin
    )
    assert ok.status_code == 200
    csv_text = client.get("/api/v1/registry/export?format=csv&kind=systems", headers=viewer).text
    assert csv_text.splitlines()[1].startswith("lan,LAN,so-y-te,2")
    assert client.delete("/api/v1/registry/units/so-y-te", headers=admin).status_code == 422
    assert client.delete("/api/v1/registry/systems/lan", headers=admin).status_code == 204
    store.refresh()
    actions = [e.action for e in store.search_audit(AuditQuery(size=50)).items]
    assert {"registry.import", "registry.systems.upsert", "registry.systems.delete"} <= set(actions)


def test_a_console_session_cannot_change_the_registry_without_the_csrf_token(store: Store) -> None:
    from api.auth.testing import login

    client = TestClient(create_app(app_context(store)))
    login(client, store, role=Role.ADMIN)
    resp = client.post("/api/v1/registry/import", content="units:\n  - {id: x, name: X}\n")
    assert resp.status_code == 403
    assert store.load_registry().units == []
