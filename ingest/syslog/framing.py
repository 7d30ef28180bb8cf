"""Splitting a syslog byte stream into messages (RFC 6587), detected per connection.

- octet counting (RFC 5425 / RFC 6587 3.4.1): `MSG-LEN SP SYSLOG-MSG`, what rsyslog sends with
  `TCP_Framing="octet-counted"` and what TLS syslog mandates; any byte may occur in the message;
- non-transparent framing (RFC 6587 3.4.2): one message per line, LF (CR LF tolerated) or NUL
  (Python's `SysLogHandler` over TCP ends messages with NUL only).

The first bytes of a connection decide: digits, a space and `<` mean octet counting, anything else
means lines. Oversized messages are skipped whole and reported, never cut: a line over the limit is
discarded up to its LF, an octet-counted frame over the limit is skipped by its declared length.
A malformed length prefix cannot be resynchronised, so it raises `FramingError` (the connection
is closed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from soc_core.errors import IngestError

_OCTET_START = re.compile(rb"[1-9][0-9]{0,9} <")
_DIGITS_SO_FAR = re.compile(rb"[1-9][0-9]{0,9} ?$")


class FramingError(IngestError):
    """The stream cannot be split any further (bad length prefix)."""


class Framing(StrEnum):
    OCTET_COUNTED = "octet-counted"
    LF = "lf"


@dataclass(slots=True)
class Frames:
    messages: list[bytes] = field(default_factory=list)
    oversized: int = 0


class FrameDecoder:
    """Feed bytes, get whole messages. One decoder per connection (it keeps the partial tail)."""

    def __init__(self, max_message: int, framing: Framing | None = None) -> None:
        self.max_message = max_message
        self.framing = framing
        self._buf = bytearray()
        self._skip = 0  # octet-counted: bytes of an oversized frame still to discard
        self._discarding = False  # LF: inside an oversized line, discard up to the next LF

    def feed(self, data: bytes) -> Frames:
        out = Frames()
        self._buf += data
        if self.framing is None:
            self.framing = self._detect()
            if self.framing is None:
                return out
            if self.framing is Framing.LF:
                self._buf = bytearray(self._buf.replace(b"\x00", b"\n"))
        elif self.framing is Framing.LF and b"\x00" in data:
            # NUL ends a message too (RFC 6587 3.4.2; Python's SysLogHandler sends NUL, no LF)
            self._buf[len(self._buf) - len(data) :] = data.replace(b"\x00", b"\n")
        if self.framing is Framing.OCTET_COUNTED:
            self._octets(out)
        else:
            self._lines(out)
        return out

    def finish(self) -> Frames:
        """At end of stream: a last line without LF is still a message (many senders omit it)."""
        out = Frames()
        if self.framing is None:
            self.framing = Framing.LF
        if self.framing is Framing.LF and self._buf and not self._discarding:
            line = bytes(self._buf).rstrip(b"\r\n\x00")
            if len(line) > self.max_message:
                out.oversized += 1
            elif line:
                out.messages.append(line)
        elif self.framing is Framing.OCTET_COUNTED and self._buf.strip():
            raise FramingError(f"connection closed inside an octet-counted frame ({len(self._buf)} bytes)")
        self._buf.clear()
        return out

    @property
    def pending_bytes(self) -> int:
        return len(self._buf)

    def _detect(self) -> Framing | None:
        head = bytes(self._buf[:12]).lstrip(b"\r\n")
        if not head:
            return None
        if _OCTET_START.match(head):
            return Framing.OCTET_COUNTED
        if _DIGITS_SO_FAR.match(head) and len(head) < 12 and b"\n" not in self._buf:
            return None  # "123" or "123 ": wait for the next byte to decide
        return Framing.LF

    def _lines(self, out: Frames) -> None:
        buf = self._buf
        start = 0
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            if self._discarding:
                self._discarding = False
            else:
                line = bytes(buf[start:nl])
                if line.endswith(b"\r"):
                    line = line[:-1]
                if len(line) > self.max_message:
                    out.oversized += 1
                elif line.strip(b"\x00"):
                    out.messages.append(line)
            start = nl + 1
        del buf[:start]
        if len(buf) > self.max_message:
            if not self._discarding:
                out.oversized += 1
                self._discarding = True
            buf.clear()

    def _octets(self, out: Frames) -> None:
        buf = self._buf
        pos = 0
        while True:
            if self._skip:
                n = min(self._skip, len(buf) - pos)
                self._skip -= n
                pos += n
                if self._skip:
                    break
            # tolerate LF / CR / NUL between frames (some senders add a trailer)
            while pos < len(buf) and buf[pos] in (10, 13, 0):
                pos += 1
            if pos >= len(buf):
                break
            space = buf.find(b" ", pos, pos + 11)
            if space < 0:
                if len(buf) - pos >= 11 or not bytes(buf[pos:]).isdigit():
                    raise FramingError(f"bad octet-count prefix {bytes(buf[pos : pos + 16])!r}")
                break
            prefix = bytes(buf[pos:space])
            if not prefix.isdigit() or prefix.startswith(b"0"):
                raise FramingError(f"bad octet-count prefix {bytes(buf[pos : pos + 16])!r}")
            length = int(prefix)
            body_start = space + 1
            if length > self.max_message:
                out.oversized += 1
                self._skip = length
                pos = body_start
                continue
            if len(buf) - body_start < length:
                break
            message = bytes(buf[body_start : body_start + length]).rstrip(b"\r\n")
            if message:
                out.messages.append(message)
            pos = body_start + length
        del buf[:pos]
