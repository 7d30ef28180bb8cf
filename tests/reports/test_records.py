"""A report record that cannot be read (cut short, not JSON, another report's record under this
name, a folder where a file should be) never breaks the listing: the API and the console list the
others and say how many were skipped, the log names each once, the gauge counts them, reading one
directly is a problem (503), and the scheduler keeps each as one dead letter of stage "reports"."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from api.auth.deps import Role
from soc_core.settings import Settings
from soc_core.store import DeadLetterQuery
from socpipe.jobs import ReportJob, report_dispatcher
from tests.backends import backend_of
from tests.inspections.conftest import ClientFor, csrf
from tests.inspections.scenario import Scenario

CUT = "weekly-20260601-20260610020000000001"
GARBAGE = "monthly-20260501-20260610020000000002"
MISNAMED = "weekly-20260601-20260610020000000003"
FOLDER = "weekly-20260601-20260610020000000004"


def _spoil(folder: Path, good_id: str) -> None:
    """Four records no listing can read, beside the good one."""
    good = (folder / f"{good_id}.json").read_bytes()
    (folder / f"{CUT}.json").write_bytes(good.replace(good_id.encode(), CUT.encode())[: len(good) // 2])
    (folder / f"{GARBAGE}.json").write_bytes(b"\xff\xfe not json at all")
    (folder / f"{MISNAMED}.json").write_bytes(good)  # holds `good_id`, not MISNAMED
    (folder / f"{FOLDER}.json").mkdir()


def test_unreadable_records_are_skipped_counted_logged_and_dead_letters(
    scenario: Scenario, client_for: ClientFor, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    admin = client_for("admin", Role.ADMIN)
    made = admin.post("/api/v1/reports", json={"kind": "weekly"}, headers=csrf(admin))
    assert made.status_code == 201, made.text
    good_id = made.json()["id"]
    data_dir = tmp_path / "data"
    _spoil(data_dir / "reports", good_id)

    police = client_for("pa05", Role.POLICE)
    with caplog.at_level(logging.WARNING, logger="api.periodic.archive"):
        for _ in range(3):
            listed = police.get("/api/v1/reports")
            assert listed.status_code == 200, listed.text
            assert [r["id"] for r in listed.json()["items"]] == [good_id]
            assert listed.json()["unreadable"] == 4 and listed.json()["total"] == 1
        page = police.get("/reports")
    assert page.status_code == 200 and good_id in page.text
    assert "4 bản ghi báo cáo không đọc được" in page.text and 'id="reports-unreadable"' in page.text
    assert REGISTRY.get_sample_value("soc_report_records_unreadable") == 4
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 4  # each bad file named once, however often the list is read
    assert any(MISNAMED in m and f"the record is report {good_id}" in m for m in skipped)
    assert any(FOLDER in m and "cannot read the file" in m for m in skipped)

    broken = police.get(f"/api/v1/reports/{CUT}")
    assert broken.status_code == 503 and broken.headers["content-type"].startswith("application/problem+json")
    assert "cannot be read" in broken.json()["detail"]
    assert police.get(f"/api/v1/reports/{CUT}.pdf").status_code == 503

    settings = Settings(data_dir=data_dir)
    job = ReportJob(backend_of(scenario.store), settings, report_dispatcher(settings))
    job.run(datetime.now(UTC))
    job.run(datetime.now(UTC))  # a second run finds the same files: no second dead letter
    scenario.store.refresh()
    letters = scenario.store.list_deadletters(DeadLetterQuery(stage="reports", size=20)).items
    assert sorted(d.reason.split(":", 1)[0] for d in letters) == sorted(
        f"{name}.json" for name in (CUT, GARBAGE, MISNAMED, FOLDER)
    )
    cut = next(d for d in letters if d.reason.startswith(CUT))
    assert "not a report record" in cut.reason and cut.raw.startswith("{")
    assert len(job.archive.list()) == 2  # the scheduler went on: the month's report made beside the week's

    (data_dir / "reports" / f"{CUT}.json").unlink()
    assert police.get("/api/v1/reports").json()["unreadable"] == 3
    assert REGISTRY.get_sample_value("soc_report_records_unreadable") == 3
