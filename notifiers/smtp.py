"""Email over SMTP (stdlib `smtplib`): STARTTLS on 587, implicit TLS on 465, or plain on a
loopback relay; login when a username is set. One connection per message: early warnings are few,
and a fresh connection never inherits a half-broken session.

SMTP says itself whether a failure is temporary: 4xx replies (and a dropped or refused
connection) are `DeliveryRetryable`, 5xx replies (unknown mailbox, authentication refused) and a
certificate that does not verify are `DeliveryRefused`. The Message-ID is the message key, so a
replayed warning is recognisable as the same mail.
"""

from __future__ import annotations

import base64
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any, Literal

from soc_core.notify import DeliveryError, DeliveryRefused, DeliveryRetryable, Message


def _by_code(code: int, text: str, **context: Any) -> DeliveryError:
    if 400 <= code < 500:
        return DeliveryRetryable(f"SMTP {code}: {text}", smtp_code=code, **context)
    return DeliveryRefused(f"SMTP {code}: {text}", smtp_code=code, **context)


def _reply(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class SmtpChannel:
    name: Literal["email"] = "email"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        security: Literal["starttls", "tls", "none"],
        username: str | None,
        password: str | None,
        sender: str,
        timeout_s: float,
        ca_file: Path | None = None,
    ) -> None:
        self.host, self.port, self.security = host, port, security
        self._username, self._password = username, password
        self._sender = sender
        self._timeout = timeout_s
        self._tls = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)

    def _mail(self, message: Message) -> EmailMessage:
        mail = EmailMessage()
        mail["Subject"] = message.subject
        mail["From"] = self._sender
        mail["To"] = message.recipient.address
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = f"<{message.key}@socpipe>"
        mail.set_content(message.text)
        if message.html:
            mail.add_alternative(message.html, subtype="html")
        for file in message.attachments:
            maintype, _, subtype = file.content_type.partition("/")
            mail.add_attachment(file.data, maintype=maintype, subtype=subtype, filename=file.filename)
        return mail

    def _connect(self) -> smtplib.SMTP:
        if self.security == "tls":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self._timeout, context=self._tls)
        smtp = smtplib.SMTP(self.host, self.port, timeout=self._timeout)
        if self.security == "starttls":
            smtp.starttls(context=self._tls)
        return smtp

    @staticmethod
    def _login(smtp: smtplib.SMTP, username: str, password: str) -> None:
        """`smtplib.login`, except that it cannot send a non-ASCII password (a Vietnamese one): that
        goes as AUTH PLAIN in UTF-8 (RFC 4616), which smtplib encodes as ASCII and fails on."""
        if (username + password).isascii():
            smtp.login(username, password)
            return
        smtp.ehlo_or_helo_if_needed()
        token = base64.b64encode(f"\0{username}\0{password}".encode()).decode()
        code, reply = smtp.docmd("AUTH", f"PLAIN {token}")
        if code != 235:
            raise smtplib.SMTPAuthenticationError(code, reply)

    def send(self, message: Message) -> None:
        where: dict[str, Any] = {"server": f"{self.host}:{self.port}", "to": message.recipient.address}
        try:
            with self._connect() as smtp:
                if self._username:
                    self._login(smtp, self._username, self._password or "")
                smtp.send_message(self._mail(message))
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise _by_code(code, _reply(text), **where) from exc
        except smtplib.SMTPResponseException as exc:  # sender refused, data refused, auth refused...
            raise _by_code(exc.smtp_code, _reply(exc.smtp_error), **where) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryRefused(f"SMTP server does not support it: {exc}", **where) from exc
        except ssl.SSLCertVerificationError as exc:
            raise DeliveryRefused(
                f"SMTP server certificate not trusted: {exc.verify_message}", **where
            ) from exc
        except UnicodeError as exc:  # an address smtplib cannot send without SMTPUTF8
            raise DeliveryRefused(f"cannot be sent over SMTP: {exc}", **where) from exc
        except (smtplib.SMTPException, OSError) as exc:  # disconnected, refused, timed out, TLS failed
            raise DeliveryRetryable(f"{type(exc).__name__}: {exc}", **where) from exc

    def close(self) -> None:
        return None
