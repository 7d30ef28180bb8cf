"""Real local servers the channels are tested against: an SMTP server (aiosmtpd) with STARTTLS or
implicit TLS and authentication, and an HTTP server standing in for the Telegram Bot API and for
webhook receivers. Both record what they received; the HTTP one answers from a script."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

SMTP_USER, SMTP_PASSWORD = "soc-notify", "mật-khẩu-đúng"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mailbox:
    """The aiosmtpd handler: keeps every accepted mail; refuses `*@nowhere.vn` for good (550) and
    `*@busy.vn` for now (451)."""

    def __init__(self) -> None:
        self.mails: list[EmailMessage] = []
        self.envelopes: list[Envelope] = []
        self.logins: list[str] = []
        self.received = threading.Event()

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address.endswith("@nowhere.vn"):
            return "550 5.1.1 mailbox unknown"
        if address.endswith("@busy.vn"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        raw = envelope.original_content or b""
        mail = message_from_bytes(raw, policy=policy.default)
        assert isinstance(mail, EmailMessage)
        self.mails.append(mail)
        self.received.set()
        return "250 Message accepted"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == SMTP_USER
            and auth_data.password.decode() == SMTP_PASSWORD
        )
        if ok:
            self.logins.append(SMTP_USER)
        return AuthResult(success=ok, handled=False)


@dataclass
class SmtpServer:
    host: str
    port: int
    mailbox: Mailbox
    ca: trustme.CA

    def ca_file(self, tmp: Any) -> Any:
        path = tmp / "smtp-ca.pem"
        self.ca.cert_pem.write_to_path(str(path))
        return path


def smtp_server(*, implicit_tls: bool) -> Iterator[SmtpServer]:
    """An SMTP server on loopback with a certificate from a throwaway CA; AUTH required (over TLS)."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    mailbox = Mailbox()
    port = free_port()
    tls: dict[str, Any] = (
        # aiosmtpd only counts STARTTLS as encryption for AUTH: over implicit TLS the whole
        # connection is encrypted, so its AUTH-needs-TLS check is turned off there
        {"ssl_context": context, "auth_require_tls": False}
        if implicit_tls
        else {"tls_context": context, "require_starttls": True}
    )
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=mailbox.authenticate,
        auth_required=True,
        **tls,
    )
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, mailbox, ca)
    finally:
        controller.stop()


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpStub:
    """Answers each request with the next scripted (status, JSON body, headers), else 200 with
    Telegram's `{"ok": true}`; `hold` makes it wait until released before it records the request
    and answers."""

    port: int
    requests: list[Request] = field(default_factory=list)
    script: deque[tuple[int, Any, dict[str, str]]] = field(default_factory=deque)
    hold: threading.Event | None = None
    received: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        self.script.append((status, body, headers or {}))

    def wait_for(self, n: int, timeout: float = 20.0) -> list[Request]:
        with self.received:
            if not self.received.wait_for(lambda: len(self.requests) >= n, timeout):
                raise AssertionError(f"{len(self.requests)} requests arrived, {n} expected")
            return list(self.requests)


def http_stub() -> Iterator[HttpStub]:
    stub = HttpStub(free_port())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if stub.hold is not None:
                stub.hold.wait(30)
            with stub.received:  # recorded before the answer: a client that has it sees the request
                stub.requests.append(Request("POST", self.path, dict(self.headers.items()), body))
                stub.received.notify_all()
            status, payload, headers = stub.script.popleft() if stub.script else (200, None, {})
            if payload is None:
                payload = {"ok": True, "result": {"message_id": len(stub.requests) + 1}}
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", stub.port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        if stub.hold is not None:
            stub.hold.set()
        server.shutdown()
        server.server_close()
