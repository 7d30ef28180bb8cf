"""ECS fields shared by the web server formats (`web_access`, `web_json`, `iis_w3c`).

One function builds `url.*`, `http.*`, `source.*`, `user_agent.*` and the event classification
from the values every access log has, so the three formats cannot drift apart.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from normalizers._text_common import MONTHS, absent, add_related, endpoint, fixed_offset, to_int
from soc_core.errors import NormalizeError

_APACHE_TIME = re.compile(
    r"(\d{1,2})/([A-Za-z]{3})/(\d{4}):(\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))? ?([+-])(\d\d):?(\d\d)"
)
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|.)")
_METHOD = re.compile(r"[A-Z][A-Z_-]{0,19}")


def apache_time(text: str) -> datetime:
    """`10/Oct/2025:13:55:36 +0700` (Apache `%t`, nginx `$time_local`) -> aware datetime."""
    m = _APACHE_TIME.fullmatch(text)
    if m is None:
        raise NormalizeError(f"bad access-log time {text[:40]!r}: expected dd/Mon/yyyy:HH:MM:SS +zzzz")
    month = MONTHS.get(m.group(2).lower())
    if month is None:
        raise NormalizeError(f"bad month {m.group(2)!r} in access-log time")
    fraction = m.group(7)
    try:
        return datetime(
            int(m.group(3)), month, int(m.group(1)), int(m.group(4)), int(m.group(5)), int(m.group(6)),
            int(fraction.ljust(6, "0")) if fraction else 0,
            tzinfo=fixed_offset(m.group(8), m.group(9), m.group(10)),
        )  # fmt: skip
    except ValueError as exc:
        raise NormalizeError(f"bad access-log time {text[:40]!r}: {exc}") from None


def _unescape_one(match: re.Match[str]) -> str:
    code = match.group(1)
    if code[0] == "x" and len(code) == 3:
        return chr(int(code[1:], 16))
    return {"n": "\n", "t": "\t", "r": "\r"}.get(code, code)


def unescape(text: str) -> str:
    """Undo the escaping Apache (`\\"`, `\\\\`, `\\xhh`) and nginx (`\\x22`) apply in logged strings."""
    if "\\" not in text:
        return text
    raw = _ESCAPE.sub(_unescape_one, text)
    if any("\x80" <= ch <= "\xff" for ch in raw):
        # \xhh escapes are bytes: re-read a run of them as the UTF-8 they were (Vietnamese URLs).
        try:
            return raw.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            return raw
    return raw


def split_request(request: str) -> tuple[str | None, str | None, str | None]:
    """`GET /a?b=1 HTTP/1.1` -> (method, target, version); junk (TLS on a plain port) -> Nones."""
    method, sep, rest = request.partition(" ")
    if not sep or _METHOD.fullmatch(method) is None:
        return None, None, None
    target, sep, protocol = rest.rpartition(" ")
    if not sep:
        return method, rest or None, None
    if protocol.startswith("HTTP/"):
        return method, target, protocol[5:]
    return method, rest, None


def set_url(doc: dict[str, Any], target: str | None, query: str | None = None) -> None:
    """`url.original/path/query` from the request target (path?query, or absolute for proxies)."""
    if absent(target):
        return
    assert target is not None
    url: dict[str, Any] = doc.setdefault("url", {})
    if query and not absent(query):
        url["original"] = f"{target}?{query}"
        url["path"] = target
        url["query"] = query
        return
    url["original"] = target
    if target[:1] == "/":
        path, sep, q = target.partition("?")
        url["path"] = path
        if sep and q:
            url["query"] = q
    elif "://" in target:
        try:
            parts = urlsplit(target)
        except ValueError:
            return
        if parts.scheme:
            url["scheme"] = parts.scheme
        if parts.hostname:
            url["domain"] = parts.hostname
        if parts.path:
            url["path"] = parts.path
        if parts.query:
            url["query"] = parts.query
    else:
        url["path"] = target  # CONNECT host:port, OPTIONS *


def web_event(
    doc: dict[str, Any],
    *,
    client: str | None,
    user: str | None,
    method: str | None,
    status: str | int | None,
    version: str | None = None,
    body_bytes: str | int | None = None,
    referrer: str | None = None,
    agent: str | None = None,
) -> None:
    """Fill the shared web fields and `event.category: [web]`, `type: [access]`, outcome by status."""
    event = doc["event"]
    event["category"] = ["web"]
    event["type"] = ["access"]
    if not absent(client):
        endpoint(doc, "source", client)
    if user is not None and not absent(user):
        # Windows-authenticated sites log DOMAIN\user: ECS keeps the two apart.
        domain, sep, name = user.rpartition("\\")
        doc["user"] = {"name": name, "domain": domain} if sep and domain and name else {"name": user}
        add_related(doc, "user", doc["user"]["name"])
    http: dict[str, Any] = doc.setdefault("http", {})
    request: dict[str, Any] = {}
    if method and not absent(method):
        request["method"] = method
    if referrer and not absent(referrer):
        request["referrer"] = referrer
    if request:
        http["request"] = request
    if version and not absent(version):
        http["version"] = version
    code = status if isinstance(status, int) else to_int(status)
    response: dict[str, Any] = {}
    if code is not None:
        response["status_code"] = code
        event["outcome"] = "failure" if code >= 400 else "success"
    size = body_bytes if isinstance(body_bytes, int) else to_int(body_bytes)
    if size is not None:
        response["body"] = {"bytes": size}
    if response:
        http["response"] = response
    if not http:
        del doc["http"]
    if agent and not absent(agent):
        doc["user_agent"] = {"original": agent}
