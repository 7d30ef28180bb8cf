"""The console pages and their forms (CSRF token, Post/Redirect/Get), and an `.evtx` taken on site
going through the EVTX reader, the provincial rules and into the dossier as evidence."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from api.auth.deps import Role
from api.auth.testing import form_csrf
from tests.inspections.conftest import ClientFor, sample_data, upload
from tests.inspections.scenario import Scenario

HTML = {"accept": "text/html"}
SQLITE = pytest.mark.parametrize("store", ["sqlite"], indirect=True)


@SQLITE
def test_police_plans_a_visit_and_the_team_records_it(scenario: Scenario, client_for: ClientFor) -> None:
    police = client_for("pa05", Role.POLICE)
    page = police.get("/inspections", headers=HTML)
    assert page.status_code == 200
    assert 'id="plan-form"' in page.text and "Kiểm tra xã Yên Thắng" in page.text
    created = police.post(
        "/inspections/plans",
        data={
            "csrf_token": form_csrf(page.text),
            "title": "Kiểm tra đột xuất Sở Y tế",
            "kind": "ad_hoc",
            "scope_start": (scenario.today - timedelta(days=7)).isoformat(),
            "units": f"so-yte {scenario.today.isoformat()}",
            "team": "insp-yte head\ninsp-xa",
            "legal_basis": "Luật An ninh mạng 2018\nNghị định 85/2016/NĐ-CP",
        },
        follow_redirects=False,
    )
    assert created.status_code == 303, created.text
    plan_url = created.headers["location"]
    plan_page = police.get(plan_url, headers=HTML).text
    assert "Kiểm tra đột xuất Sở Y tế" in plan_page and "Đột xuất" in plan_page and "Insp-Xa" in plan_page
    broken = police.post(
        "/inspections/plans",
        data={
            "csrf_token": form_csrf(page.text),
            "title": "x",
            "scope_start": "2026-01-01",
            "units": "so-yte 03/06/2026",
        },
        headers=HTML,
    )
    assert broken.status_code == 422 and 'id="inspection-error"' in broken.text
    no_token = police.post(
        "/inspections/plans", data={"title": "x", "scope_start": "2026-01-01", "units": "so-yte 2026-02-01"}
    )
    assert no_token.status_code == 403

    insp = client_for("insp-xa", Role.INSPECTOR)
    own = insp.get(plan_url, headers=HTML).text
    visit = insp.post(
        f"{plan_url}/visits",
        data={
            "csrf_token": form_csrf(own),
            "unit_id": "so-yte",
            "minutes_number": "9/BB-ĐKT",
            "minutes_date": scenario.today.isoformat(),
        },
        follow_redirects=False,
    )
    assert visit.status_code == 303
    visit_url = visit.headers["location"]
    visit_page = insp.get(visit_url, headers=HTML).text
    assert 'id="finding-form"' in visit_page and 'enctype="multipart/form-data"' in visit_page
    token = form_csrf(visit_page)
    finding = insp.post(
        f"{visit_url}/findings",
        data={
            "csrf_token": token,
            "checklist_code": "VN-10",
            "description": "Cắm USB vào máy soạn thảo tài liệu mật",
            "severity": "high",
        },
        follow_redirects=False,
    )
    assert finding.status_code == 303
    uploaded = insp.post(
        f"{visit_url}/evidence",
        data={"csrf_token": token, "format": "winlogbeat"},
        files={"file": ("usb.ndjson", b"not json at all\n", "application/octet-stream")},
        follow_redirects=False,
    )
    assert uploaded.status_code == 303
    shown = insp.get(visit_url, headers=HTML).text
    assert "Cắm USB vào máy soạn thảo tài liệu mật" in shown and "usb.ndjson" in shown
    assert (scenario.today + timedelta(days=20)).strftime("%d/%m/%Y") in shown  # deadline: minutes + 20 days
    finding_id = re.search(r'data-finding="([^"]+)"', shown)
    assert finding_id is not None
    remediated = insp.post(
        f"/inspections/findings/{finding_id.group(1)}",
        data={"csrf_token": token, "status": "remediated", "remediated_on": scenario.today.isoformat()},
        follow_redirects=False,
    )
    assert remediated.status_code == 303 and remediated.headers["location"] == visit_url
    assert "Khắc phục đúng hạn" in insp.get(visit_url, headers=HTML).text


@SQLITE
def test_dossier_page_in_both_languages(scenario: Scenario, client_for: ClientFor) -> None:
    insp = client_for("insp-yte", Role.INSPECTOR)
    page = insp.get("/units/so-yte/dossier", headers=HTML)
    assert page.status_code == 200
    text = page.text
    for marker in (
        'id="systems"',
        'id="coverage"',
        'id="alerts"',
        'id="checklist"',
        'id="incidents"',
        'id="findings"',
        'id="endpoints"',
        'id="evidence"',
    ):
        assert marker in text
    assert "Hồ sơ đơn vị" in text and "Cổng thông tin Sở Y tế" in text and "netsh advfirewall" in text
    assert "Quá hạn, chưa khắc phục" in text and 'href="/api/v1/units/so-yte/dossier.pdf?from=' in text
    insp.cookies.set("socpipe_lang", "en")
    english = insp.get("/units/so-yte/dossier", headers=HTML).text
    assert "Unit dossier" in english and "Overdue, not remediated" in english
    assert insp.get("/inspections", headers=HTML).status_code == 200
    assert insp.get(f"/inspections/visits/{scenario.visit_old}", headers=HTML).status_code == 200


@SQLITE
def test_evtx_taken_on_site_becomes_evidence_in_the_dossier(
    scenario: Scenario, client_for: ClientFor
) -> None:
    sample = sample_data() / "evtx-attack-samples" / "Credential Access" / "CA_chrome_firefox_opera_4663.evtx"
    insp = client_for("insp-yte", Role.INSPECTOR)
    resp = upload(insp, scenario.visit_recent, sample.name, sample.read_bytes())
    assert resp.status_code == 201, resp.text
    kept = resp.json()
    assert kept["format"] == "evtx_json" and kept["unreadable"] == 0 and kept["deadletters"] == 0
    assert kept["events"] == kept["records"] > 0 and kept["alerts"] + kept["alert_repeats"] == 4
    d = insp.get("/api/v1/units/so-yte/dossier").json()
    vn03 = next(c for c in d["alerts"]["by_checklist"] if c["code"] == "VN-03")
    # The file's events are from 2019, long before the scope: evidence counts all the same.
    assert vn03["alerts"] == vn03["evidence_alerts"] == kept["alerts"] > 0
    assert vn03["examples"][0]["evidence"]["file_id"] == kept["id"]
    assert d["evidence"][0]["file"]["filename"] == sample.name
    assert len(d["evidence"][0]["events_shown"]) == kept["events"]
    # The file's alerts carry the visit, stay out of the live queue, and the visit links to them (for
    # the province-wide roles: an inspection team has no alert queue).
    police = client_for("pa05", Role.POLICE)
    from_visit = police.get(
        "/api/v1/alerts", params={"origin": "evidence", "visit": scenario.visit_recent, "size": 500}
    ).json()
    assert from_visit["total"] == kept["alerts"] and set(kept["alert_ids"]) <= {
        a["id"] for a in from_visit["items"]
    }
    assert all(a["soc"]["evidence"]["visit_id"] == scenario.visit_recent for a in from_visit["items"])
    live = {a["id"] for a in police.get("/api/v1/alerts", params={"size": 500}).json()["items"]}
    assert live.isdisjoint(kept["alert_ids"])
    link = f'href="/alerts?origin=evidence&amp;status=all&amp;visit={scenario.visit_recent}"'
    assert link in police.get(f"/inspections/visits/{scenario.visit_recent}", headers=HTML).text
    assert link not in insp.get(f"/inspections/visits/{scenario.visit_recent}", headers=HTML).text
    assert police.get(f"/api/v1/alerts/{kept['alert_ids'][0]}").json()["visit_id"] == scenario.visit_recent
    broken = upload(insp, scenario.visit_recent, "broken.evtx", b"ElfFile\x00" + b"\x00" * 4096)
    assert broken.status_code == 201 and broken.json()["problems"] and broken.json()["events"] == 0
