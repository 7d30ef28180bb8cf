"""The scheduler's report job with a controlled clock: a report is made once its week or month has
ended, once (a restart or the next run makes no second one), and a scheduler that was down at the
turn of the period catches up; mailing goes to a real SMTP server (aiosmtpd) with the PDF attached,
and an address the server refuses ends as a dead letter with the reason, recorded on the report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from pypdf import PdfReader

from api.audit import service as audit
from api.auth.deps import Role
from api.auth.testing import form_csrf
from api.periodic import service as reports
from soc_core.settings import NotifySettings, ReportSettings, Settings
from soc_core.store import AuditQuery, DeadLetterQuery, Store
from socpipe.jobs import ReportJob, add_report_job, report_dispatcher
from tests.backends import backend_of
from tests.inspections.conftest import ClientFor, csrf
from tests.inspections.scenario import Scenario
from tests.notify.servers import SMTP_PASSWORD, SMTP_USER, SmtpServer, free_port

#: Wednesday 10 June 2026, 09:00 in Vietnam.
WEDNESDAY = datetime(2026, 6, 10, 2, 0, tzinfo=UTC)


def _settings(tmp_path: Path, recipients: list[str], smtp: SmtpServer | None = None) -> Settings:
    notify = (
        NotifySettings(
            smtp_host=smtp.host,
            smtp_port=smtp.port,
            smtp_username=SMTP_USER,
            smtp_password=SMTP_PASSWORD,
            smtp_from="soc@congan.ninhbinh.gov.vn",
            smtp_ca_file=smtp.ca_file(tmp_path),
            retry_attempts=2,
            retry_initial_s=0,
            retry_max_s=0,
        )
        if smtp
        else NotifySettings()
    )
    return Settings(
        data_dir=tmp_path / "data",
        notify=notify,
        reports=ReportSettings(recipients=recipients, place="Ninh Bình"),
    )


def _periods(job: ReportJob) -> list[tuple[str, str]]:
    return sorted((r.kind, r.period_first.isoformat()) for r in job.archive.list())


def test_reports_are_made_once_when_their_period_ends(store: Store, tmp_path: Path) -> None:
    settings = _settings(tmp_path, [])
    job = ReportJob(backend_of(store), settings, report_dispatcher(settings))
    job.run(WEDNESDAY)
    # The last ended week (Monday 1 June) and month (May).
    assert _periods(job) == [("monthly", "2026-05-01"), ("weekly", "2026-06-01")]
    weekly = next(r for r in job.archive.list() if r.kind == "weekly")
    text = " ".join(
        " ".join(p.extract_text() for p in PdfReader(job.archive.open(weekly.id, "pdf")[0]).pages).split()
    )
    assert "(tuần 23 năm 2026, từ ngày 01/06/2026 đến ngày 07/06/2026)" in text
    assert "chưa kết thúc" not in text and "Ninh Bình, ngày 10 tháng 06 năm 2026" in text
    assert "Không có cảnh báo trong kỳ." in text and "Hệ thống giám sát (lập tự động)" in text
    job.run(WEDNESDAY + timedelta(hours=1))
    assert len(job.archive.list()) == 2  # nothing new until a period ends

    sunday_night = datetime(2026, 6, 14, 16, 59, tzinfo=UTC)  # 23:59 Sunday in Vietnam
    job.run(sunday_night)
    assert len(job.archive.list()) == 2
    job.run(sunday_night + timedelta(minutes=2))  # 00:01 Monday 15 June in Vietnam
    assert ("weekly", "2026-06-08") in _periods(job) and len(job.archive.list()) == 3

    # Down from then until 3 July: the next run makes the June report and the last week's only.
    ReportJob(backend_of(store), settings, report_dispatcher(settings)).run(
        datetime(2026, 7, 3, 1, tzinfo=UTC)
    )
    assert _periods(job) == [
        ("monthly", "2026-05-01"),
        ("monthly", "2026-06-01"),
        ("weekly", "2026-06-01"),
        ("weekly", "2026-06-08"),
        ("weekly", "2026-06-22"),
    ]
    store.refresh()
    made = audit.search(store=store, query=AuditQuery(action="report.generate", size=50)).items
    assert len(made) == 5 and {e.actor for e in made} == {"socpipe-reports"}
    assert all(r.trigger == "schedule" for r in job.archive.list())


def test_the_job_is_registered_on_the_scheduler_at_its_interval(store: Store, tmp_path: Path) -> None:
    settings = _settings(tmp_path, []).model_copy(update={"reports": ReportSettings(check_interval_s=120)})
    sched = BackgroundScheduler(timezone="UTC")
    job = ReportJob(backend_of(store), settings, report_dispatcher(settings))
    add_report_job(sched, job, first_run=WEDNESDAY)
    registered = sched.get_job("periodic-reports")
    assert registered is not None and registered.func == job.run
    assert isinstance(registered.trigger, IntervalTrigger) and registered.trigger.interval == timedelta(
        seconds=120
    )


def test_reports_are_mailed_with_the_pdf_once_and_refusals_are_dead_letters(
    scenario: Scenario, smtp: SmtpServer, tmp_path: Path
) -> None:
    store = scenario.store
    settings = _settings(tmp_path, ["tieuban@ninhbinh.gov.vn", "cu@nowhere.vn"], smtp)
    job = ReportJob(backend_of(store), settings, report_dispatcher(settings))
    job.run(datetime.now(UTC))
    reports = {r.kind: r for r in job.archive.list()}
    assert set(reports) == {"weekly", "monthly"}
    assert sorted(e.rcpt_tos[0] for e in smtp.mailbox.envelopes) == ["tieuban@ninhbinh.gov.vn"] * 2
    for mail in smtp.mailbox.mails:
        report = next(r for r in reports.values() if mail["Subject"] == f"[SOC] {r.title}")
        [attachment] = list(mail.iter_attachments())
        assert attachment.get_content_type() == "application/pdf"
        assert attachment.get_filename() == report.files["pdf"].filename
        pdf = attachment.get_content()
        assert pdf == job.archive.open(report.id, "pdf")[0].read_bytes() and pdf.startswith(b"%PDF")
        body = mail.get_body(("plain",))
        assert body is not None
        assert f"- Cảnh báo trong kỳ: {report.figures.alerts_total}" in body.get_content()
        assert "Kính gửi Tiểu ban An toàn, an ninh mạng" in body.get_content()
    for report in job.archive.list():
        assert list(report.delivered) == ["tieuban@ninhbinh.gov.vn"]
        assert "SMTP 550" in report.failed["cu@nowhere.vn"] and report.undelivered == []
    store.refresh()
    letters = store.list_deadletters(DeadLetterQuery(stage="notify", size=10)).items
    assert len(letters) == 2 and all("cu@nowhere.vn" in d.reason and "550" in d.reason for d in letters)
    assert all("application/pdf" in d.raw and "%PDF" not in d.raw for d in letters)  # named, not carried

    job.run(datetime.now(UTC) + timedelta(minutes=5))  # the next run: nothing is sent twice
    assert len(smtp.mailbox.mails) == 2
    store.refresh()
    mailed = audit.search(store=store, query=AuditQuery(action="report.mail", size=10)).items
    assert len(mailed) == 2


@pytest.mark.parametrize("bad", ["email:a@b.vn", "not-an-address"])
def test_recipients_must_be_email_addresses(bad: str) -> None:
    with pytest.raises(Exception, match="SOC_REPORT_RECIPIENTS"):
        ReportSettings(recipients=[bad])


def test_an_admin_resends_what_failed_and_the_next_run_mails_it(
    scenario: Scenario, smtp: SmtpServer, client_for: ClientFor, tmp_path: Path
) -> None:
    store = scenario.store
    settings = _settings(tmp_path, ["tieuban@ninhbinh.gov.vn", "cu@nowhere.vn"], smtp)
    down = settings.model_copy(
        update={"notify": settings.notify.model_copy(update={"smtp_port": free_port()})}
    )
    ReportJob(backend_of(store), down, report_dispatcher(down)).run(datetime.now(UTC))  # server unreachable
    job = ReportJob(backend_of(store), settings, report_dispatcher(settings))
    reports = {r.kind: r for r in job.archive.list()}
    weekly, monthly = reports["weekly"], reports["monthly"]
    assert sorted(weekly.failed) == ["cu@nowhere.vn", "tieuban@ninhbinh.gov.vn"] and not weekly.delivered

    police, admin = client_for("pa05", Role.POLICE), client_for("admin", Role.ADMIN)
    assert police.post(f"/api/v1/reports/{weekly.id}/resend", headers=csrf(police)).status_code == 403
    resent = admin.post(f"/api/v1/reports/{weekly.id}/resend", headers=csrf(admin))
    assert resent.status_code == 200, resent.text
    assert resent.json()["failed"] == {} and resent.json()["resends"][0]["by"] == "admin"
    assert resent.json()["resends"][0]["addresses"] == ["cu@nowhere.vn", "tieuban@ninhbinh.gov.vn"]
    again = admin.post(f"/api/v1/reports/{weekly.id}/resend", headers=csrf(admin))
    assert again.status_code == 422 and "waiting for a resend" in again.json()["detail"]
    page = admin.get("/reports").text
    assert page.count("đang chờ: gửi ở lần chạy tới") == 2  # the weekly's two addresses
    assert (
        f'action="/reports/{monthly.id}/resend"' in page
        and f'action="/reports/{weekly.id}/resend"' not in page
    )
    assert 'class="inline-form resend-report"' not in police.get("/reports").text

    job.run(datetime.now(UTC))  # the scheduler's next run
    assert [e.rcpt_tos for e in smtp.mailbox.envelopes] == [["tieuban@ninhbinh.gov.vn"]]  # not the monthly
    [attachment] = list(smtp.mailbox.mails[0].iter_attachments())
    assert attachment.get_content() == job.archive.open(weekly.id, "pdf")[0].read_bytes()
    weekly = job.archive.get(weekly.id)
    assert list(weekly.delivered) == ["tieuban@ninhbinh.gov.vn"] and "550" in weekly.failed["cu@nowhere.vn"]
    assert sorted(job.archive.get(monthly.id).failed) == ["cu@nowhere.vn", "tieuban@ninhbinh.gov.vn"]
    store.refresh()
    letters = store.list_deadletters(DeadLetterQuery(stage="notify", size=20)).items
    refused = [d for d in letters if "cu@nowhere.vn" in d.reason]
    assert (
        len(letters) == 5 and len({d.id for d in refused}) == 3
    )  # the resend's failure is a letter of its own
    [entry] = audit.search(store=store, query=AuditQuery(action="report.resend", size=10)).items
    assert entry.actor == "admin" and entry.target_id == weekly.id
    assert sorted(entry.details["previous_failures"]) == ["cu@nowhere.vn", "tieuban@ninhbinh.gov.vn"]

    form = admin.post(
        f"/reports/{monthly.id}/resend", data={"csrf_token": form_csrf(page)}, follow_redirects=False
    )
    assert form.status_code == 303 and form.headers["location"] == f"/reports?resent={monthly.id}"
    shown = admin.get(form.headers["location"]).text
    assert "Báo cáo sẽ được gửi lại ở lần chạy tới của bộ lập lịch (trong vòng 5 phút)" in shown
    assert "admin yêu cầu gửi lại" in shown


def test_a_report_whose_pdf_is_damaged_fails_its_mail_not_the_others(
    scenario: Scenario, smtp: SmtpServer, tmp_path: Path
) -> None:
    store = scenario.store
    quiet = _settings(tmp_path, ["tieuban@ninhbinh.gov.vn"], smtp)
    job = ReportJob(backend_of(store), quiet, report_dispatcher(quiet))
    reports.generate_due(  # made, not yet mailed
        store=store,
        coverage=job.backend.coverage,
        inspections=job.backend.inspections,
        archive=job.archive,
        recipients=["tieuban@ninhbinh.gov.vn"],
        place=None,
        now=datetime.now(UTC),
    )
    weekly, monthly = (next(r for r in job.archive.list() if r.kind == k) for k in ("weekly", "monthly"))
    (quiet.data_dir / weekly.files["pdf"].stored_as).write_bytes(b"%PDF-1.7 overwritten")
    job.run(datetime.now(UTC))
    assert [m["Subject"] for m in smtp.mailbox.mails] == [f"[SOC] {monthly.title}"]
    weekly = job.archive.get(weekly.id)
    assert "PDF cannot be attached" in weekly.failed["tieuban@ninhbinh.gov.vn"]
    assert "no longer matches its SHA-256" in weekly.failed["tieuban@ninhbinh.gov.vn"]
    store.refresh()
    [letter] = store.list_deadletters(DeadLetterQuery(stage="notify", size=10)).items
    assert "PDF cannot be attached" in letter.reason and weekly.id in letter.raw
