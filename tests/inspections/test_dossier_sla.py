"""The unit's acknowledgements and SLA breaches in its dossier (JSON, page, PDF, DOCX), on both stores:
alerts acknowledged through an early warning's link and by the SOC, the time it took from each
alert's creation (mean, median), and the high and critical alerts still waiting past their SLA."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

from docx import Document
from pypdf import PdfReader

from api.auth.deps import Role
from notify.ack import sign_ack
from soc_core.alert import Alert, AlertStatus, Severity, Triage
from soc_core.event import Soc, SocUnit
from tests.backends import TEST_SECRET
from tests.contract.test_store_triage_contract import triage_alert
from tests.inspections.conftest import ClientFor, csrf
from tests.inspections.scenario import Scenario


def _alert(n: int, severity: Severity, created: datetime, **extra: Any) -> Alert:
    return triage_alert(
        900 + n,
        severity=severity,
        host=f"YTE-SLA{n}",
        unit="so-yte",
        soc=Soc(unit=SocUnit(id="so-yte", name="Sở Y tế")),
        created_at=created.isoformat(),
        **{"@timestamp": (created - timedelta(minutes=1)).isoformat()},
        **extra,
    )


def _params(scenario: Scenario) -> dict[str, str]:
    return {"from": (scenario.today - timedelta(days=10)).isoformat(), "to": scenario.today.isoformat()}


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_dossier_counts_acknowledgements_and_sla_breaches(scenario: Scenario, client_for: ClientFor) -> None:
    police = client_for("pa05", Role.POLICE)
    before = police.get("/api/v1/units/so-yte/dossier", params=_params(scenario)).json()
    base = before["alerts"]["acknowledgement"]
    assert base["acknowledged"] == 0 and base["overdue_total"] == 0  # the scenario's alerts are fresh

    now = datetime.now(UTC)
    by_link = _alert(1, Severity.CRITICAL, now - timedelta(minutes=10))
    late = _alert(
        2,
        Severity.HIGH,
        now - timedelta(hours=5),
        triage=Triage(status=AlertStatus.ACKNOWLEDGED, acknowledged_at=now - timedelta(hours=3)),
    )
    waiting_high = _alert(3, Severity.HIGH, now - timedelta(hours=2))
    waiting_critical = _alert(4, Severity.CRITICAL, now - timedelta(hours=1))
    medium = _alert(
        5,
        Severity.MEDIUM,
        now - timedelta(hours=1),
        triage=Triage(status=AlertStatus.IN_PROGRESS, acknowledged_at=now - timedelta(minutes=30)),
    )
    scenario.store.put_alerts([by_link, late, waiting_high, waiting_critical, medium])
    scenario.store.refresh()
    # the unit clicks the early warning's link (what `socpipe worker notify` sends)
    token = sign_ack(TEST_SECRET, by_link.id, "email:attt@soyte.gov.vn", now + timedelta(days=1))
    analyst = client_for("an", Role.ANALYST)
    acked = analyst.post("/api/v1/notify/acknowledge", json={"token": token}, headers=csrf(analyst))
    assert acked.status_code == 200, acked.text
    scenario.store.refresh()

    after = police.get("/api/v1/units/so-yte/dossier", params=_params(scenario)).json()
    ack = after["alerts"]["acknowledgement"]
    assert ack["live"] == base["live"] + 5
    assert (ack["acknowledged"], ack["via_link"]) == (3, 1)
    # from each alert's creation: ~10 min (the link), 2 h (late), 30 min
    assert abs(ack["tta_mean_s"] - (600 + 7200 + 1800) / 3) < 30
    assert ack["tta_median_s"] == 1800
    assert ack["with_sla"] == base["with_sla"] + 4
    assert (ack["in_time"], ack["late"], ack["overdue_total"]) == (base["in_time"] + 1, 1, 2)
    assert [x["id"] for x in ack["overdue"]] == [waiting_critical.id, waiting_high.id]  # latest first
    assert abs(ack["overdue"][1]["late_s"] - 3600) < 60

    page = police.get("/units/so-yte/dossier", params=_params(scenario)).text
    assert page.count('<td class="sla-badge sla-overdue">') == 2
    assert 'id="ack-summary"' in page and "3/" in page

    pdf = police.get("/api/v1/units/so-yte/dossier.pdf", params=_params(scenario))
    text = _flat("\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages))
    assert "4. Tiếp nhận cảnh báo và thời hạn tiếp nhận (SLA):" in text
    live = ack["live"]
    assert f"Cảnh báo từ dữ liệu giám sát đã được tiếp nhận: 3/{live}" in text
    assert "(qua đường dẫn trong cảnh báo sớm gửi đơn vị: 1)" in text
    assert "tiếp nhận quá hạn: 1; chưa tiếp nhận, đã quá hạn: 2." in text
    assert "YTE-SLA3" in text and "YTE-SLA4" in text and "YTE-SLA2" not in text.split("(SLA):")[1]

    docx = police.get("/api/v1/units/so-yte/dossier.docx", params=_params(scenario))
    doc = Document(io.BytesIO(docx.content))
    paragraphs = _flat("\n".join(p.text for p in doc.paragraphs))
    assert "tiếp nhận quá hạn: 1; chưa tiếp nhận, đã quá hạn: 2." in paragraphs
    cells = [c.text for t in doc.tables for row in t.rows for c in row.cells]
    assert "YTE-SLA4 / admin" in cells and "YTE-SLA3 / admin" in cells
