"""IIS logs in the W3C extended format -> ECS.

The `#Fields:` directive names the columns of the lines after it. A raw record is one data line,
optionally preceded by the header lines of its file (`#Software`, `#Version`, `#Date`, `#Fields`);
the CLI and the file shippers carry the last `#Fields:` line in front of each data line so that
every record can be read on its own. Without a header the IIS default field selection is assumed
(IIS 8.5 and later, nothing added or removed in IIS Manager):

    date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent)
    cs(Referer) sc-status sc-substatus sc-win32-status time-taken

W3C times are UTC by definition (IIS writes UTC whatever the server's zone), so `ctx.timezone` is
not used. Values never contain spaces: IIS writes `+` for a space in the user agent and `-` for
absent. Mapping: `c-ip` -> `source.ip`, `s-ip`/`s-port` -> `destination.ip/port`, `cs-method`,
`cs-uri-stem`/`cs-uri-query` -> `url.*`, `sc-status` -> `http.response.status_code`,
`sc-bytes`/`cs-bytes` -> `http.response.bytes`/`http.request.bytes` (IIS counts headers too, so
not `body.bytes`), `time-taken` (ms) -> `event.duration` (ns), `cs-host` -> `url.domain`,
`s-computername` -> `host.*`, `sc-substatus`/`sc-win32-status`/`s-sitename` and any other column
-> `iis.access.*` (names lower-cased, `-` and `()` to `_`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from normalizers._text_common import absent, add_related, endpoint, host_doc, to_int, truncate
from normalizers._text_web import set_url, web_event
from normalizers.base import ParseContext
from soc_core.errors import NormalizeError

DEFAULT_FIELDS = (
    "date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) "
    "cs(Referer) sc-status sc-substatus sc-win32-status time-taken"
)
_DATE = re.compile(r"(\d{4})-(\d\d)-(\d\d)")
_TIME = re.compile(r"(\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?")
_SNIFF = re.compile(r"#(?:Software|Version|Date|Fields): |\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+ [A-Z]+ /")
_KNOWN = frozenset(
    {
        "date", "time", "s-ip", "cs-method", "cs-uri-stem", "cs-uri-query", "s-port", "cs-username",
        "c-ip", "cs(user-agent)", "cs(referer)", "sc-status", "time-taken", "sc-bytes", "cs-bytes",
        "cs-version", "cs-host", "s-computername",
    }
)  # fmt: skip


@lru_cache(maxsize=64)
def _columns(fields_line: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(lower-case names, iis.access keys) for a `#Fields:` value; cached, files repeat it."""
    names = tuple(fields_line.split())
    lowered = tuple(n.lower() for n in names)
    extra = tuple(n.replace("(", "_").replace(")", "").replace("-", "_") for n in lowered)
    return lowered, extra


def _timestamp(date: str | None, time: str | None) -> datetime:
    d = _DATE.fullmatch(date or "")
    t = _TIME.fullmatch(time or "")
    if d is None or t is None:
        raise NormalizeError(f"IIS line has no valid date/time columns ({date!r} {time!r})")
    fraction = t.group(4)
    try:
        return datetime(
            int(d.group(1)), int(d.group(2)), int(d.group(3)),
            int(t.group(1)), int(t.group(2)), int(t.group(3)),
            int(fraction.ljust(6, "0")) if fraction else 0, tzinfo=UTC,
        )  # fmt: skip
    except ValueError as exc:
        raise NormalizeError(f"IIS line has an invalid date/time {date} {time}: {exc}") from None


def _plus(value: str | None) -> str | None:
    """IIS writes a space in a logged header as '+'."""
    if value is None or absent(value):
        return None
    return value.replace("+", " ")


class IisW3c:
    name = "iis_w3c"
    typed_output = True  # documents built from typed values: see Normalizer.typed_output

    def parse(self, raw: str, ctx: ParseContext) -> dict[str, Any]:
        fields_line = DEFAULT_FIELDS
        data: str | None = None
        for line in raw.split("\n"):
            line = line.rstrip("\r")
            if not line.strip():
                continue
            if line[0] == "#":
                if line.startswith("#Fields:"):
                    fields_line = line[8:].strip()
                continue
            if data is not None:
                raise NormalizeError("IIS record holds more than one data line: send one line per record")
            data = line
        if data is None:
            raise NormalizeError("IIS record holds only header lines, no data line")
        names, keys = _columns(fields_line)
        values = data.split(" ")
        if len(values) != len(names):
            raise NormalizeError(
                f"IIS line has {len(values)} values but the #Fields header names {len(names)} "
                f"({'default IIS fields' if fields_line is DEFAULT_FIELDS else 'from the record'}): "
                f"{truncate(data, 120)!r}"
            )
        row = dict(zip(names, values, strict=True))
        event: dict[str, Any] = {"kind": "event", "module": "iis", "dataset": "iis.access"}
        doc: dict[str, Any] = {"@timestamp": _timestamp(row.get("date"), row.get("time")), "event": event}
        version = row.get("cs-version")
        web_event(
            doc,
            client=row.get("c-ip"),
            user=row.get("cs-username"),
            method=row.get("cs-method"),
            status=row.get("sc-status"),
            version=version[5:] if version and version.startswith("HTTP/") else None,
            referrer=row.get("cs(referer)"),
            agent=_plus(row.get("cs(user-agent)")),
        )
        stem = row.get("cs-uri-stem")
        if not absent(stem):
            set_url(doc, stem, row.get("cs-uri-query"))
        endpoint(doc, "destination", row.get("s-ip"), row.get("s-port"))
        host_header = row.get("cs-host")
        if not absent(host_header):
            doc.setdefault("url", {})["domain"] = host_header
        http = doc.setdefault("http", {})
        sent = to_int(row.get("sc-bytes"))
        if sent is not None:
            http.setdefault("response", {})["bytes"] = sent
        received = to_int(row.get("cs-bytes"))
        if received is not None:
            http.setdefault("request", {})["bytes"] = received
        if not http:
            del doc["http"]
        taken = to_int(row.get("time-taken"))
        if taken is not None:
            event["duration"] = taken * 1_000_000
        host = host_doc(row.get("s-computername"))
        if host is not None:
            doc["host"] = host
            add_related(doc, "hosts", host["name"])
        access: dict[str, str] = {}
        for name, key, value in zip(names, keys, values, strict=True):
            if name not in _KNOWN and not absent(value):
                access[key] = value
        if access:
            doc["iis"] = {"access": access}
        return doc

    def sniff(self, raw: str) -> bool:
        return _SNIFF.match(raw) is not None


NORMALIZER = IisW3c()
