"""Syslog header parsing shared by every format that may arrive over syslog.

Covers what real senders emit, not only the two RFCs:

- RFC 5424: `<PRI>1 2025-07-01T08:00:00.123+07:00 host app procid msgid [sd] msg`;
- RFC 3164 (BSD): `<PRI>Jul  1 08:00:00 host tag[pid]: msg`, also without `<PRI>` (files written
  by rsyslog), with the year or milliseconds (`Jul 01 2025 08:00:00.123`, Cisco), with an ISO
  timestamp (rsyslog `RSYSLOG_FileFormat`), without a host name (`tag: msg`), or `<PRI>` alone.

A BSD timestamp has no year and no zone: the zone is the source's (`ctx.timezone`) and the year
is the one that puts the time closest before `ctx.received_at`, allowing a few days of clock skew
into the future (`infer_year`). So `Dec 31 23:59:59` received on 1 January is last year, and
`Jan  1 00:00:05` received at 23:59 on 31 December (the sender's clock runs ahead) is next year.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from normalizers._text_common import MONTHS, absent, parse_iso
from normalizers.base import ParseContext
from soc_core.errors import NormalizeError

FACILITIES: tuple[str, ...] = (
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv",
    "ftp", "ntp", "security", "console", "solaris-cron",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
)  # fmt: skip
SEVERITIES: tuple[str, ...] = (
    "emergency", "alert", "critical", "error", "warning", "notice", "informational", "debug",
)  # fmt: skip

# How far in the future a year-less timestamp may be before we decide it belongs to last year.
FUTURE_SLACK = timedelta(days=7)

_PRI = re.compile(r"<(\d{1,3})>")
_RFC5424 = re.compile(
    r"([1-9]\d?) (-|\d{4}-\d\d-\d\dT[0-9:.]+(?:Z|[+-]\d\d:\d\d)?) (\S+) (\S+) (\S+) (\S+)(?: (.*))?", re.S
)
_BSD_TIME = re.compile(
    r"([A-Za-z]{3}) {1,2}(\d{1,2}) (?:(\d{4}) )?(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?:?(?: +|$)"
)
_ISO_TIME = re.compile(r"(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?):?(?: +|$)")
_TAG = re.compile(r"([^\s\[\]:]{1,64})(?:\[([^\]\s]{0,32})\])?:(?: +|$)")
_TAG_AT_END = re.compile(r"([^\s\[\]:]{1,64})(?:\[([^\]\s]{0,32})\])?$")
_SD_ELEMENT = re.compile(r"\[([^\s\]=\"]+)((?:\s+[^\s=\]\"]+=\"(?:[^\"\\]|\\.)*\")*)\s*\]")
_SD_PARAM = re.compile(r"([^\s=\]\"]+)=\"((?:[^\"\\]|\\.)*)\"")
_SD_ESCAPE = re.compile(r"\\([\"\\\]])")


@dataclass(slots=True)
class SyslogHeader:
    """What a syslog header said; `message` is the text after `tag[pid]: `."""

    message: str
    priority: int | None = None
    timestamp: datetime | None = None
    hostname: str | None = None
    appname: str | None = None
    procid: str | None = None
    msgid: str | None = None
    version: int | None = None
    structured_data: dict[str, dict[str, str]] | None = None

    def log_fields(self) -> dict[str, Any]:
        """ECS `log.syslog.*` for this header."""
        out: dict[str, Any] = {}
        if self.priority is not None:
            facility, severity = divmod(self.priority, 8)
            out["priority"] = self.priority
            out["facility"] = {"code": facility, "name": FACILITIES[facility]}
            out["severity"] = {"code": severity, "name": SEVERITIES[severity]}
        if self.hostname is not None:
            out["hostname"] = self.hostname
        if self.appname is not None:
            out["appname"] = self.appname
        if self.procid is not None:
            out["procid"] = self.procid
        if self.msgid is not None:
            out["msgid"] = self.msgid
        if self.version is not None:
            out["version"] = str(self.version)
        if self.structured_data:
            out["structured_data"] = self.structured_data
        return out

    @property
    def facility_name(self) -> str | None:
        return None if self.priority is None else FACILITIES[self.priority >> 3]


def infer_year(
    month: int, day: int, hh: int, mm: int, ss: int, us: int, tz: tzinfo, received_at: datetime
) -> datetime:
    """The latest year that puts the time no later than `received_at` + FUTURE_SLACK."""
    received = received_at if received_at.tzinfo is not None else received_at.replace(tzinfo=UTC)
    limit = received + FUTURE_SLACK
    year = received.astimezone(tz).year
    first = year + 1 if month == 1 else year
    # Four years back covers 29 February; anything still invalid is not a date at all.
    for candidate_year in range(first, year - 5, -1):
        try:
            candidate = datetime(candidate_year, month, day, hh, mm, ss, us, tzinfo=tz)
        except ValueError:
            continue
        if candidate <= limit:
            return candidate
    raise NormalizeError(f"invalid date in syslog timestamp: month {month} day {day}")


def _fraction(text: str | None) -> int:
    if not text:
        return 0
    return int(text[:6].ljust(6, "0"))


def _priority(text: str) -> int:
    value = int(text)
    if value > 191:
        raise NormalizeError(f"syslog priority <{value}> out of range (0-191)")
    return value


def bsd_timestamp(match: re.Match[str], ctx: ParseContext) -> datetime:
    """A datetime from a `_BSD_TIME` match: explicit year if present, else inferred."""
    month = MONTHS.get(match.group(1).lower())
    if month is None:
        raise NormalizeError(f"unknown month {match.group(1)!r} in syslog timestamp")
    day = int(match.group(2))
    hh, mm, ss = int(match.group(4)), int(match.group(5)), int(match.group(6))
    us = _fraction(match.group(7))
    if hh > 23 or mm > 59 or ss > 60:
        raise NormalizeError(f"invalid time {hh:02}:{mm:02}:{ss:02} in syslog timestamp")
    ss = min(ss, 59)  # a leap second is not representable; keep the record
    if match.group(3):
        try:
            return datetime(int(match.group(3)), month, day, hh, mm, ss, us, tzinfo=ctx.timezone)
        except ValueError:
            raise NormalizeError(f"invalid date in syslog timestamp: {match.group(0).strip()!r}") from None
    return infer_year(month, day, hh, mm, ss, us, ctx.timezone, ctx.received_at)


def parse_structured_data(text: str) -> tuple[dict[str, dict[str, str]] | None, str]:
    """RFC 5424 STRUCTURED-DATA at the start of `text` -> ({sd-id: {param: value}}, rest)."""
    if text.startswith("-"):
        return None, text[2:] if text.startswith("- ") else text[1:]
    elements: dict[str, dict[str, str]] = {}
    pos = 0
    while pos < len(text) and text[pos] == "[":
        m = _SD_ELEMENT.match(text, pos)
        if m is None:
            raise NormalizeError("malformed RFC 5424 structured data")
        params = elements.setdefault(m.group(1), {})
        for name, value in _SD_PARAM.findall(m.group(2)):
            params[name] = _SD_ESCAPE.sub(r"\1", value) if "\\" in value else value
        pos = m.end()
    rest = text[pos:]
    return elements or None, rest[1:] if rest.startswith(" ") else rest


def _split_tag(rest: str, header: SyslogHeader, hostname_expected: bool) -> None:
    """Fill hostname, tag and pid from `host tag[pid]: msg` (host and tag both optional)."""
    tag = _TAG.match(rest)
    if tag is None and hostname_expected:
        host, sep, remainder = rest.partition(" ")
        if host and sep:
            header.hostname = host
            rest = remainder.lstrip(" ")
            tag = _TAG.match(rest) or _TAG_AT_END.match(rest)
        elif host and not sep:
            header.hostname = host
            rest = ""
    if tag is not None:
        header.appname = tag.group(1)
        header.procid = tag.group(2) or None
        rest = rest[tag.end() :]
    header.message = rest


def parse_header(text: str, ctx: ParseContext, *, split_tag: bool = True) -> SyslogHeader | None:
    """Parse a syslog header at the start of `text`, or None when there is none.

    With `split_tag=False` the text after the host name is left whole in `message` (for senders
    whose payload would look like a tag, e.g. `%ASA-6-302013:`).
    """
    pos = 0
    priority: int | None = None
    if text.startswith("<"):
        pri = _PRI.match(text)
        if pri is not None:
            priority = _priority(pri.group(1))
            pos = pri.end()
    m5424 = _RFC5424.match(text, pos)
    if m5424 is not None:
        header = SyslogHeader(message="", priority=priority, version=int(m5424.group(1)))
        stamp = m5424.group(2)
        header.timestamp = None if stamp == "-" else parse_iso(stamp, ctx.timezone)
        header.hostname = None if absent(m5424.group(3)) else m5424.group(3)
        header.appname = None if absent(m5424.group(4)) else m5424.group(4)
        header.procid = None if absent(m5424.group(5)) else m5424.group(5)
        header.msgid = None if absent(m5424.group(6)) else m5424.group(6)
        sd, message = parse_structured_data(m5424.group(7) or "-")
        header.structured_data = sd
        header.message = message[1:] if message.startswith("\ufeff") else message
        return header
    bsd = _BSD_TIME.match(text, pos)
    if bsd is not None:
        header = SyslogHeader(message="", priority=priority, timestamp=bsd_timestamp(bsd, ctx))
        rest = text[bsd.end() :]
    else:
        iso = _ISO_TIME.match(text, pos)
        if iso is not None:
            header = SyslogHeader(
                message="", priority=priority, timestamp=parse_iso(iso.group(1), ctx.timezone)
            )
            rest = text[iso.end() :]
        elif priority is not None:
            # `<PRI>` with no timestamp: some devices send only that; no host name either.
            header = SyslogHeader(message="", priority=priority)
            if split_tag:
                _split_tag(text[pos:], header, hostname_expected=False)
            else:
                header.message = text[pos:]
            return header
        else:
            return None
    if split_tag:
        _split_tag(rest, header, hostname_expected=True)
    else:
        host, sep, remainder = rest.partition(" ")
        if host and not host.endswith(":"):
            header.hostname = host
            header.message = remainder if sep else ""
        else:
            header.message = remainder if sep else ""
    return header


def parse_prefix(prefix: str, ctx: ParseContext) -> SyslogHeader | None:
    """The syslog header in front of a device payload (`<PRI>ts host` or `<PRI>ts host tag:`)."""
    prefix = prefix.strip(" :")
    if not prefix:
        return None
    return parse_header(prefix, ctx)
