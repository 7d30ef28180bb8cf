"""Each channel against a real local server: what arrives, and how failures are classified."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest

from notifiers.smtp import SmtpChannel
from notifiers.telegram import TelegramChannel
from notifiers.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookChannel
from soc_core.notify import DeliveryRefused, DeliveryRetryable, Message, Recipient, message_key
from tests.notify.servers import SMTP_PASSWORD, SMTP_USER, HttpStub, SmtpServer, free_port

TOKEN = "123456:AAH-secret-bot-token"


def message(to: str, text: str = "Cảnh báo: máy ws-kt-01\n") -> Message:
    recipient = Recipient.parse(to)
    return Message(
        key=message_key("alert", recipient, "g1"),
        kind="alert",
        recipient=recipient,
        subject="[CẢNH BÁO SỚM – MỨC CAO] Đọc bộ nhớ LSASS",
        text=text,
        html="<p><strong>Cảnh báo</strong> &lt;script&gt;</p>",
        alert_ids=("a1",),
        data={"alert_id": "a1", "severity": "high"},
    )


def smtp_channel(
    server: SmtpServer,
    tmp_path: Path,
    *,
    security: str = "starttls",
    password: str = SMTP_PASSWORD,
    ca: bool = True,
) -> SmtpChannel:
    return SmtpChannel(
        server.host,
        server.port,
        security=security,  # type: ignore[arg-type]
        username=SMTP_USER,
        password=password,
        sender="soc@congan.tinh.gov.vn",
        timeout_s=10,
        ca_file=server.ca_file(tmp_path) if ca else None,
    )


def test_smtp_starttls_with_login_delivers_text_and_html(smtp: SmtpServer, tmp_path: Path) -> None:
    m = message("email:an.tv@sotttt.gov.vn")
    smtp_channel(smtp, tmp_path).send(m)
    assert smtp.mailbox.logins == [SMTP_USER]
    [mail] = smtp.mailbox.mails
    assert mail["Subject"] == m.subject
    assert mail["To"] == "an.tv@sotttt.gov.vn"
    assert mail["Message-ID"] == f"<{m.key}@socpipe>"
    plain = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert plain is not None and plain.get_content().replace("\r\n", "\n") == m.text
    assert html is not None and "&lt;script&gt;" in html.get_content()


def test_smtp_implicit_tls(smtp_tls: SmtpServer, tmp_path: Path) -> None:
    smtp_channel(smtp_tls, tmp_path, security="tls").send(message("email:an.tv@sotttt.gov.vn"))
    assert len(smtp_tls.mailbox.mails) == 1


def test_smtp_wrong_password_is_refused_for_good(smtp: SmtpServer, tmp_path: Path) -> None:
    with pytest.raises(DeliveryRefused, match="SMTP 535"):
        smtp_channel(smtp, tmp_path, password="sai").send(message("email:an.tv@sotttt.gov.vn"))
    assert smtp.mailbox.mails == []


def test_smtp_unknown_mailbox_is_refused_and_a_busy_one_retryable(smtp: SmtpServer, tmp_path: Path) -> None:
    channel = smtp_channel(smtp, tmp_path)
    with pytest.raises(DeliveryRefused, match="550"):
        channel.send(message("email:ai@nowhere.vn"))
    with pytest.raises(DeliveryRetryable, match="451"):
        channel.send(message("email:ai@busy.vn"))


def test_smtp_untrusted_certificate_is_refused(smtp: SmtpServer, tmp_path: Path) -> None:
    with pytest.raises(DeliveryRefused, match="certificate not trusted"):
        smtp_channel(smtp, tmp_path, ca=False).send(message("email:an.tv@sotttt.gov.vn"))


def test_smtp_server_down_is_retryable(tmp_path: Path) -> None:
    channel = SmtpChannel(
        "127.0.0.1",
        free_port(),
        security="starttls",
        username=None,
        password=None,
        sender="soc@x.vn",
        timeout_s=5,
    )
    with pytest.raises(DeliveryRetryable, match="ConnectionRefusedError"):
        channel.send(message("email:an.tv@sotttt.gov.vn"))


def test_webhook_posts_json_signed_with_hmac(http: HttpStub) -> None:
    m = message(f"webhook:{http.url}/hooks/soc")
    WebhookChannel("khóa-bí-mật", timeout_s=5).send(m)
    [req] = http.requests
    assert req.path == "/hooks/soc"
    body = req.json()
    assert body["key"] == m.key and body["data"]["alert_id"] == "a1" and body["text"] == m.text
    expected = hmac.new(
        "khóa-bí-mật".encode(), req.headers[TIMESTAMP_HEADER].encode() + b"." + req.body, hashlib.sha256
    ).hexdigest()
    assert req.headers[SIGNATURE_HEADER] == f"sha256={expected}"
    assert req.headers["Idempotency-Key"] == m.key


def test_webhook_5xx_and_429_are_retryable_4xx_refused(http: HttpStub) -> None:
    channel = WebhookChannel("k", timeout_s=5)
    m = message(f"webhook:{http.url}/h")
    http.answer(503, {"error": "maintenance"})
    http.answer(429, {"error": "slow down"}, {"Retry-After": "7"})
    http.answer(404, {"error": "no such hook"})
    with pytest.raises(DeliveryRetryable, match="HTTP 503"):
        channel.send(m)
    with pytest.raises(DeliveryRetryable) as slow:
        channel.send(m)
    assert slow.value.retry_after == 7.0
    with pytest.raises(DeliveryRefused, match="HTTP 404"):
        channel.send(m)


def test_telegram_send_message_through_the_configured_base_url(http: HttpStub) -> None:
    m = message("telegram:100200300")
    TelegramChannel(TOKEN, http.url + "/", timeout_s=5).send(m)
    [req] = http.requests
    assert req.path == f"/bot{TOKEN}/sendMessage"
    assert req.json() == {"chat_id": "100200300", "text": m.text, "disable_web_page_preview": True}


def test_telegram_cuts_text_to_the_bot_api_limit(http: HttpStub) -> None:
    TelegramChannel(TOKEN, http.url, timeout_s=5).send(message("telegram:1", "x" * 5000))
    assert len(http.requests[0].json()["text"]) == 4096


def test_telegram_errors_keep_the_token_out(http: HttpStub) -> None:
    channel = TelegramChannel(TOKEN, http.url, timeout_s=5)
    http.answer(400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"})
    http.answer(
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 3",
            "parameters": {"retry_after": 3},
        },
    )
    with pytest.raises(DeliveryRefused, match="chat not found") as refused:
        channel.send(message("telegram:999"))
    with pytest.raises(DeliveryRetryable) as limited:
        channel.send(message("telegram:999"))
    assert limited.value.retry_after == 3.0
    down = TelegramChannel(TOKEN, f"http://127.0.0.1:{free_port()}", timeout_s=5)
    with pytest.raises(DeliveryRetryable) as unreachable:
        down.send(message("telegram:999"))
    for error in (refused.value, limited.value, unreachable.value):
        assert "AAH-secret" not in str(error)
