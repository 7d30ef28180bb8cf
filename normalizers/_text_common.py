"""Small helpers shared by the text-format normalizers (syslog, web, firewall, DNS).

They exist so that every format writes the same ECS shapes the same way: host names, IP checks,
timestamps, transport names, `related.*`. Everything here is pure and cheap: the normalizers run
once per record at tens of thousands of records per second, so values are checked with
precompiled patterns and small caches rather than general-purpose parsers.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any

from soc_core.errors import NormalizeError

MONTHS: dict[str, int] = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip

# IANA protocol numbers seen in firewall logs -> ECS `network.transport` names.
IANA_TRANSPORT: dict[str, str] = {
    "1": "icmp", "2": "igmp", "6": "tcp", "17": "udp", "41": "ipv6", "47": "gre",
    "50": "esp", "51": "ah", "58": "ipv6-icmp", "89": "ospf", "132": "sctp",
}  # fmt: skip

_IPV4 = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}")
_OFFSET = re.compile(r"([+-])(\d\d):?(\d\d)")


@lru_cache(maxsize=8192)
def clean_ip(value: str) -> str | None:
    """The address if `value` is a literal IPv4/IPv6 address (zone id dropped), else None.

    Only literal addresses go to `source.ip` and friends: an `ip` field that gets a host name is a
    mapping error in Elasticsearch, and that would turn a good event into a dead letter there.
    """
    if not value or len(value) > 64:
        return None
    if _IPV4.fullmatch(value):
        try:
            ipaddress.IPv4Address(value)
        except ValueError:
            return None
        return value
    if ":" not in value:
        return None
    text = value[1:-1] if value.startswith("[") and value.endswith("]") else value
    text = text.partition("%")[0]
    try:
        return str(ipaddress.IPv6Address(text)) if text != "::" else "::"
    except ValueError:
        return None


def to_int(value: str | None) -> int | None:
    """An int from a decimal string, None for '-', '' or garbage (logs write '-' for 'absent')."""
    if not value:
        return None
    if value.isdigit():
        return int(value)
    if value[0] == "-" and value[1:].isdigit():
        return int(value)
    return None


def absent(value: str | None) -> bool:
    """True for the placeholders log formats write instead of a value."""
    return value is None or value in ("", "-", "?", "(null)", "N/A", "n/a")


@lru_cache(maxsize=4096)
def host_fields(name: str) -> dict[str, str]:
    """`host.name` (lower-case short name) and `host.hostname` (as sent), per FIELDS.md.

    An IP address is kept whole as the name (splitting it on dots would be nonsense) and is also
    put in `host.ip`. Cached because the same few senders repeat on every record; callers must
    copy before mutating.
    """
    ip = clean_ip(name)
    if ip is not None:
        return {"name": ip, "hostname": name, "ip": ip}
    short = name.partition(".")[0].lower() or name.lower()
    return {"name": short, "hostname": name}


def host_doc(name: str | None) -> dict[str, Any] | None:
    """A fresh `host` object for `name`, or None when the sender did not say."""
    if absent(name):
        return None
    assert name is not None
    fields = host_fields(name)
    doc: dict[str, Any] = {"name": fields["name"], "hostname": fields["hostname"]}
    if "ip" in fields:
        doc["ip"] = [fields["ip"]]
    return doc


@lru_cache(maxsize=512)
def fixed_offset(sign: str, hours: str, minutes: str) -> tzinfo:
    """A cached fixed-offset zone: web and firewall logs repeat the same few offsets."""
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    if not delta:
        return UTC
    return timezone(-delta if sign == "-" else delta)


def parse_offset(text: str) -> tzinfo | None:
    """'+0700', '+07:00', '-0500', 'Z', 'UTC', 'GMT' -> tzinfo; None if not an offset."""
    if text in ("Z", "z", "UTC", "GMT", "UT"):
        return UTC
    m = _OFFSET.fullmatch(text)
    if m is None:
        return None
    return fixed_offset(m.group(1), m.group(2), m.group(3))


def aware(value: datetime, tz: tzinfo) -> datetime:
    """Attach the source's zone to a naive time (logs without an offset are local time)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=tz)


def parse_iso(text: str, tz: tzinfo) -> datetime:
    """ISO 8601 / RFC 3339 (also with a space instead of 'T', and 'Z'); naive -> source zone."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise NormalizeError(f"bad timestamp {text[:40]!r}: expected ISO 8601") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=tz)


_MAX_EPOCH = 32503680000  # year 3000: beyond it a number is garbage, not a time


def utc_from_epoch(seconds: int, microseconds: int = 0) -> datetime:
    """UTC datetime for whole epoch seconds, refusing values no real clock writes."""
    if not 0 < seconds <= _MAX_EPOCH:
        raise NormalizeError(f"epoch timestamp out of range: {seconds}")
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=microseconds)


def epoch_to_datetime(value: str | float | int) -> datetime:
    """Epoch seconds, milliseconds, microseconds or nanoseconds (told apart by magnitude).

    Devices pick different units (FortiOS 6.2 `eventtime` is seconds, 6.4+ nanoseconds; CEF `rt`
    milliseconds; journald microseconds), so the magnitude decides: any real timestamp from
    2001 on is above 1e9 seconds and far below 1e11 for the next millennia. Integers are split
    exactly (no float rounding of nanoseconds).
    """
    if isinstance(value, str) and value.isdigit():
        whole = int(value)
        for unit in (1_000_000_000, 1_000_000, 1_000, 1):
            if whole >= 100_000_000 * unit or unit == 1:
                seconds, rest = divmod(whole, unit)
                return utc_from_epoch(seconds, rest * 1_000_000 // unit)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise NormalizeError(f"bad epoch timestamp {str(value)[:40]!r}") from None
    if number != number or number <= 0 or number == float("inf"):
        raise NormalizeError(f"bad epoch timestamp {str(value)[:40]!r}")
    for scale in (1e9, 1e6, 1e3):
        if number >= 1e8 * scale:
            number /= scale
            break
    seconds = int(number)
    return utc_from_epoch(seconds, min(999_999, round((number - seconds) * 1_000_000)))


def transport(proto: str | None) -> str | None:
    """ECS `network.transport`: lower-case name, from a name ('TCP') or an IANA number ('6')."""
    if absent(proto):
        return None
    assert proto is not None
    if proto.isdigit():
        return IANA_TRANSPORT.get(proto, proto)
    return proto.lower()


def add_related(doc: dict[str, Any], kind: str, value: str | None) -> None:
    """Append to `related.<kind>` once (ECS pivots: every IP, user and host the event names)."""
    if not value:
        return
    related = doc.get("related")
    if related is None:
        doc["related"] = {kind: [value]}
        return
    values = related.get(kind)
    if values is None:
        related[kind] = [value]
    elif value not in values:
        values.append(value)


def endpoint(doc: dict[str, Any], side: str, address: str | None, port: str | int | None = None) -> None:
    """Set `source`/`destination` from an address (IP or host name) and a port, plus related.ip."""
    target: dict[str, Any] = doc.get(side) or {}
    if not absent(address):
        assert address is not None
        ip = clean_ip(address)
        if ip is not None:
            target["ip"] = ip
            add_related(doc, "ip", ip)
        else:
            target["domain"] = address
        target["address"] = address
    if port is not None:
        number = port if isinstance(port, int) else to_int(port)
        if number is not None and 0 <= number <= 65535:
            target["port"] = number
    if target:
        doc[side] = target


def truncate(text: str, limit: int = 200) -> str:
    """A record excerpt for an error reason: enough to recognise it, not a second copy of it."""
    return text if len(text) <= limit else text[:limit] + "..."
