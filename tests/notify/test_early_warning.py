"""Issue 16's first "Done when": a high-severity alert routed to a local SMTP server and a local Bot
API server, the Vietnamese text and the acknowledgement link checked, escalation after the SLA on a
controlled clock, and delivery failures (server down, 4xx) ending as dead letters with the reason."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from notify.ack import verify_ack
from soc_core.alert import AlertStatus, Severity
from soc_core.bus import Message
from soc_core.records import DeadLetter
from soc_core.settings import NotifySettings, Settings
from soc_core.store import DeadLetterQuery
from socpipe.notify import NotifyWorker, build_notify_worker
from stores.sqlite.store import SqliteStore
from tests.notify.conftest import MORNING, Clock, make_alert, registry
from tests.notify.servers import SMTP_PASSWORD, SMTP_USER, HttpStub, SmtpServer, free_port

SECRET = "khoa-bi-mat-cua-soc-0123456789"
TOKEN = "777:bot-token"
LINK = re.compile(r"https://soc\.tinh\.gov\.vn/acknowledge/\S+")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "store.sqlite3")
    s.setup()
    s.save_registry(registry())
    yield s
    s.close()


def settings(smtp: SmtpServer, http: HttpStub, tmp_path: Path, **notify: object) -> Settings:
    values: dict[str, object] = {
        "oncall": ["telegram:-100999"],
        "escalation": ["email:truc-ban@congan.tinh.gov.vn", "telegram:-100888"],
        "console_url": "https://soc.tinh.gov.vn",
        "smtp_host": smtp.host,
        "smtp_port": smtp.port,
        "smtp_username": SMTP_USER,
        "smtp_password": SMTP_PASSWORD,
        "smtp_from": "canhbao@congan.tinh.gov.vn",
        "smtp_ca_file": smtp.ca_file(tmp_path),
        "telegram_token": TOKEN,
        "telegram_api_url": http.url,
        "retry_attempts": 3,
        "retry_initial_s": 0,
        "retry_max_s": 0,
    }
    values.update(notify)
    return Settings(secret_key=SECRET, notify=NotifySettings(**values))  # type: ignore[arg-type]


def worker(cfg: Settings, store: SqliteStore, clock: Clock, letters: list[DeadLetter]) -> NotifyWorker:
    def sink(batch: object) -> None:
        assert isinstance(batch, list)
        letters.extend(batch)
        store.put_deadletters(batch)

    return build_notify_worker(
        cfg, registry=store.load_registry, store=store, deadletter=sink, stop=threading.Event(), clock=clock
    )


def on_topic(*alerts: object) -> list[Message]:
    return [Message("soc.alerts", 0, n, None, a.to_json()) for n, a in enumerate(alerts)]  # type: ignore[attr-defined]


def test_high_alert_reaches_email_and_telegram_in_vietnamese_then_escalates(
    smtp: SmtpServer, http: HttpStub, store: SqliteStore, clock: Clock, tmp_path: Path
) -> None:
    alert = make_alert(1, severity=Severity.HIGH, checklist=["VN-03"])
    store.put_alerts([alert])
    letters: list[DeadLetter] = []
    notifier = worker(settings(smtp, http, tmp_path), store, clock, letters)

    notifier.handle(on_topic(alert))

    # the unit's security contact by email (from the registry), on-call and the unit by Telegram
    [mail] = smtp.mailbox.mails
    assert smtp.mailbox.envelopes[0].rcpt_tos == ["an.tv@sotttt.gov.vn"]
    assert mail["Subject"] == "[CẢNH BÁO SỚM – MỨC CAO] Đọc bộ nhớ LSASS (Mimikatz) trên máy ws-kt-01"
    body = mail.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    chats = {r.json()["chat_id"]: r.json()["text"] for r in http.wait_for(2)}
    assert set(chats) == {"-100999", "100200300"}
    assert {r.path for r in http.requests} == {f"/bot{TOKEN}/sendMessage"}
    for text in (body, *chats.values()):
        # what was seen: host, system, unit, time in Vietnam, the rule in plain words
        assert "1. Hiện tượng phát hiện" in text
        assert "- Máy: ws-kt-01" in text
        assert "- Hệ thống thông tin: Cổng dịch vụ công tỉnh" in text
        assert "- Đơn vị: Sở Thông tin và Truyền thông" in text
        assert "- Thời điểm: 09:00:00 ngày 07/12/2026 (giờ Việt Nam)" in text
        assert "- Diễn giải: Một tiến trình đọc bộ nhớ của LSASS để lấy mật khẩu." in text
        # why it matters, and what to do now (the checklist code's guidance)
        assert "2. Vì sao cần quan tâm" in text and "Mức cao: có khả năng hệ thống đang bị tấn công" in text
        assert "3. Việc cần làm ngay" in text and "- Đổi ngay mật khẩu các tài khoản đã lưu trên máy" in text
        assert f"Mã cảnh báo: {alert.id}" in text
    # the acknowledgement link: signed for this alert and this recipient, valid 72 hours
    [link] = LINK.findall(body)
    claim = verify_ack(SECRET, link.rsplit("/", 1)[1], clock.now)
    assert (claim.alert_id, claim.recipient) == (alert.id, "email:an.tv@sotttt.gov.vn")
    assert claim.expires == MORNING + timedelta(hours=72)
    assert "hiệu lực đến 09:00:00 ngày 10/12/2026" in body
    [tg_link] = LINK.findall(chats["100200300"])
    assert verify_ack(SECRET, tg_link.rsplit("/", 1)[1], clock.now).recipient == "telegram:100200300"

    # a replay of the same alert (a worker restarted before its commit) tells nobody twice
    notifier.handle(on_topic(alert))
    assert len(smtp.mailbox.mails) == 1 and len(http.requests) == 2

    # the SLA of a high alert is an hour: nothing at 59 minutes, the first escalation at 60
    clock.advance(minutes=59)
    notifier.idle()
    assert len(smtp.mailbox.mails) == 1
    clock.advance(minutes=1)
    notifier.idle()
    escalated = smtp.mailbox.mails[1]
    assert smtp.mailbox.envelopes[1].rcpt_tos == ["truc-ban@congan.tinh.gov.vn"]
    assert escalated["Subject"].startswith("[LEO THANG LẦN 1] [CẢNH BÁO SỚM – MỨC CAO]")
    text = escalated.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "chưa được xác nhận tiếp nhận trong thời hạn quy định" in text
    assert verify_ack(SECRET, LINK.findall(text)[0].rsplit("/", 1)[1], clock.now).alert_id == alert.id

    # acknowledged before the next step's SLA: the chain stops there
    found = store.get_alert_versioned(alert.id)
    assert found is not None
    current, version = found
    triage = current.triage.model_copy(
        update={"status": AlertStatus.ACKNOWLEDGED, "acknowledged_at": clock.now}
    )
    assert store.update_alert_triage(alert.id, triage, version=version)
    clock.advance(hours=2)
    notifier.idle()
    assert len(smtp.mailbox.mails) == 2 and len(http.requests) == 2
    assert letters == []


def test_unacknowledged_critical_goes_down_the_whole_chain(
    smtp: SmtpServer, http: HttpStub, store: SqliteStore, clock: Clock, tmp_path: Path
) -> None:
    alert = make_alert(2, severity=Severity.CRITICAL, unit="ubnd-xa", system=None)
    store.put_alerts([alert])
    notifier = worker(settings(smtp, http, tmp_path), store, clock, [])
    notifier.handle(on_topic(alert))
    assert [r.json()["chat_id"] for r in http.wait_for(1)] == ["-100999"]  # the unit has no contact
    clock.advance(minutes=15)
    notifier.idle()
    clock.advance(minutes=15)
    notifier.idle()
    assert smtp.mailbox.envelopes[-1].rcpt_tos == ["truc-ban@congan.tinh.gov.vn"]
    last = http.wait_for(2)[-1].json()
    assert last["chat_id"] == "-100888" and last["text"].startswith(
        "[LEO THANG LẦN 2] [CẢNH BÁO SỚM – MỨC NGHIÊM TRỌNG]"
    )


def test_undeliverable_messages_become_dead_letters_with_the_reason(
    smtp: SmtpServer, http: HttpStub, store: SqliteStore, clock: Clock, tmp_path: Path
) -> None:
    down = SmtpServer("127.0.0.1", free_port(), smtp.mailbox, smtp.ca)  # nothing listens there
    cfg = settings(down, http, tmp_path, oncall=["telegram:-100999", "webhook:https://hooks.example/x"])
    letters: list[DeadLetter] = []
    notifier = worker(cfg, store, clock, letters)
    http.answer(400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"})
    alert = make_alert(3, severity=Severity.HIGH)
    notifier.handle(on_topic(alert))

    by_channel = {d.format_tried: d for d in letters}
    assert set(by_channel) == {"email", "telegram", "webhook"}
    assert all(d.stage == "notify" for d in letters)
    email = by_channel["email"].reason
    assert email.startswith("email to email:an.tv@sotttt.gov.vn: gave up after 3: ConnectionRefusedError")
    assert "telegram to telegram:-100999: refused at try 1: HTTP 400: Bad Request: chat not found" in (
        by_channel["telegram"].reason
    )
    assert by_channel["webhook"].reason == "no webhook channel configured for webhook:https://hooks.example/x"
    # the unit's Telegram chat was reached after on-call's failed: one failure stops nothing else
    assert [r.json()["chat_id"] for r in http.requests] == ["-100999", "100200300"]
    stored = store.list_deadletters(DeadLetterQuery(stage="notify"))
    assert stored.total == 3
    assert alert.id in by_channel["email"].raw  # the message itself is kept, to be sent again by hand


def test_a_restarted_notifier_resumes_the_sla_clocks_from_the_store(
    smtp: SmtpServer, http: HttpStub, store: SqliteStore, clock: Clock, tmp_path: Path
) -> None:
    alert = make_alert(4, severity=Severity.HIGH)
    ancient = make_alert(5, severity=Severity.HIGH, at=MORNING - timedelta(hours=3))  # chain over
    store.put_alerts([alert, ancient])
    cfg = settings(smtp, http, tmp_path)
    worker(cfg, store, clock, []).handle(on_topic(alert, ancient))  # then the process dies
    told = len(smtp.mailbox.mails)
    clock.advance(minutes=61)
    restarted = worker(cfg, store, clock, [])
    restarted.idle()  # it never sees the alert on the topic again (committed): the store says
    assert len(smtp.mailbox.mails) == told + 1
    assert smtp.mailbox.envelopes[-1].rcpt_tos == ["truc-ban@congan.tinh.gov.vn"]
    assert smtp.mailbox.mails[-1]["Subject"].endswith("trên máy ws-kt-01")
    assert f"Mã cảnh báo: {alert.id}" in smtp.mailbox.mails[-1].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert restarted.stage.escalator.watching == 1
