"""Inspectors see only the units of the plans they are on: through the API, the exports and the
console alike, because every one of them asks the same service. The police, analysts and
administrators see every unit; viewers see no inspection data."""

from __future__ import annotations

from typing import Any

import pytest

from api.auth.deps import Role
from tests.inspections.conftest import ClientFor, csrf, upload
from tests.inspections.scenario import Scenario
from tests.paging import items
from tests.problems import problem

HTML = {"accept": "text/html"}
SQLITE = pytest.mark.parametrize(
    "store", ["sqlite"], indirect=True
)  # the rule is the service's, not the store's


OUTSIDE = [
    "/api/v1/units/xa-yen-thang/dossier",
    "/api/v1/units/xa-yen-thang/dossier.pdf",
    "/api/v1/units/xa-yen-thang/dossier.docx",
    "/api/v1/inspections/findings?unit=xa-yen-thang",
    "/api/v1/inspections/visits?unit=xa-yen-thang",
    "/api/v1/inspections/evidence?unit=xa-yen-thang",
    "/api/v1/inspections/reminders?unit=xa-yen-thang",
]


def test_inspector_cannot_read_a_unit_outside_their_plans(scenario: Scenario, client_for: ClientFor) -> None:
    insp = client_for("insp-yte", Role.INSPECTOR)
    for path in OUTSIDE:
        resp = insp.get(path)
        assert problem(resp, 403)["detail"] == "this unit is not in an inspection plan of yours", path


@SQLITE
def test_inspector_console_and_plans_are_limited_too(scenario: Scenario, client_for: ClientFor) -> None:
    insp = client_for("insp-yte", Role.INSPECTOR)
    page = insp.get("/units/xa-yen-thang/dossier", headers=HTML)
    assert page.status_code == 403 and 'id="inspection-error"' in page.text
    assert "UBND xã Yên Thắng" not in page.text
    assert insp.get("/units/so-yte/dossier", headers=HTML).status_code == 200

    plans = [p["plan"]["id"] for p in insp.get("/api/v1/inspections/plans").json()["items"]]
    assert sorted(plans) == sorted([scenario.plan_old, scenario.plan_now])
    assert insp.get(f"/api/v1/inspections/plans/{scenario.plan_xa}").status_code == 403
    assert insp.get(f"/inspections/plans/{scenario.plan_xa}", headers=HTML).status_code == 403
    listing = insp.get("/inspections", headers=HTML).text
    assert "Kiểm tra xã Yên Thắng" not in listing and "Sở Y tế" in listing

    other = client_for("insp-xa", Role.INSPECTOR)
    assert other.get("/api/v1/units/so-yte/dossier").status_code == 403
    assert other.get(f"/api/v1/inspections/visits/{scenario.visit_recent}").status_code == 403
    assert other.get(f"/api/v1/inspections/findings/{scenario.findings['overdue']}").status_code == 403
    assert other.get(f"/inspections/visits/{scenario.visit_recent}", headers=HTML).status_code == 403
    assert other.get("/api/v1/inspections/findings/overdue").json()["items"] == []
    # Writing to another plan's visit is refused before the file is even read.
    denied = upload(other, scenario.visit_recent, "x.log", b"line\n")
    assert denied.status_code == 403
    finding = other.post(
        f"/api/v1/inspections/visits/{scenario.visit_recent}/findings",
        json={"description": "x"},
        headers=csrf(other),
    )
    assert finding.status_code == 403
    assert other.get("/api/v1/units/xa-yen-thang/dossier").status_code == 200


@SQLITE
def test_police_and_analysts_see_every_unit_viewers_none(scenario: Scenario, client_for: ClientFor) -> None:
    police = client_for("pa05", Role.POLICE)
    analyst = client_for("analyst", Role.ANALYST)
    viewer = client_for("viewer", Role.VIEWER)
    for client in (police, analyst):
        assert client.get("/api/v1/units/xa-yen-thang/dossier").status_code == 200
        assert client.get("/api/v1/inspections/plans").json()["total"] == 3
    assert viewer.get("/api/v1/units/so-yte/dossier").status_code == 403
    assert viewer.get("/api/v1/inspections/plans").status_code == 403
    # Analysts read; plans are the police's, visits and findings the team's.
    assert (
        analyst.post(
            "/api/v1/inspections/visits",
            json={"plan_id": scenario.plan_now, "unit_id": "so-yte"},
            headers=csrf(analyst),
        ).status_code
        == 403
    )
    insp = client_for("insp-yte", Role.INSPECTOR)
    plan = {
        "title": "x",
        "scope_start": "2026-01-01",
        "units": [{"unit_id": "so-yte", "visit_date": "2026-02-01"}],
    }
    assert insp.post("/api/v1/inspections/plans", json=plan, headers=csrf(insp)).status_code == 403
    assert police.post("/api/v1/inspections/plans", json=plan, headers=csrf(police)).status_code == 201
    # Without the CSRF token a signed-in browser cannot change anything.
    assert police.post("/api/v1/inspections/plans", json=plan).status_code == 403


@SQLITE
def test_unknown_unit_and_anonymous(scenario: Scenario, client_for: ClientFor) -> None:
    police = client_for("pa05", Role.POLICE)
    assert police.get("/api/v1/units/no-such-unit/dossier").status_code == 404
    police.cookies.clear()
    assert police.get("/api/v1/units/so-yte/dossier").status_code == 401


def test_inspection_lists_page_by_cursor(scenario: Scenario, client_for: ClientFor) -> None:
    """Plans, visits and findings walked one by one give what one page gives, on both stores."""
    police = client_for("pa05", Role.POLICE)
    for path, key in (
        ("/api/v1/inspections/plans", "plan"),
        ("/api/v1/inspections/visits", None),
        ("/api/v1/inspections/findings", "finding"),
    ):
        whole = police.get(path, params={"size": 500}).json()
        assert whole["total"] == len(whole["items"]) >= 2 and whole["next_cursor"] is None, path

        def ids(found: list[dict[str, Any]], key: str | None = key) -> list[str]:
            return [(item[key] if key else item)["id"] for item in found]

        assert ids(items(police, path, size=1)) == ids(whole["items"]), path
