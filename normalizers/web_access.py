"""Apache and nginx access logs in the combined and common formats -> ECS.

Accepted shapes (`%h %l %u %t "%r" %>s %b` plus, for combined, `"%{Referer}i" "%{User-agent}i"`):

    203.0.113.9 - - [01/Jul/2025:08:00:00 +0700] "GET /index.php?id=1 HTTP/1.1" 200 5120
    203.0.113.9 - alice [01/Jul/2025:08:00:00 +0700] "POST /login HTTP/1.1" 302 0 "https://x/" "Mozilla/5.0"
    portal.vn:443 203.0.113.9 - - [01/Jul/2025:08:00:00 +0700] "GET / HTTP/2.0" 200 10 "-" "curl/8"

The optional leading `vhost[:port]` is Apache's `vhost_combined` (nginx configs often prepend
`$host` the same way). Anything after the user agent (nginx `main` adds `"$http_x_forwarded_for"`,
many add `$request_time`) is tolerated and left in `event.original`. `-` means absent. Escapes in
quoted strings (`\\"`, `\\xhh`) are undone; a request line that is not HTTP (a TLS handshake sent
to a plain-text port) keeps the event with no method or URL rather than dropping it.
"""

from __future__ import annotations

import re
from typing import Any

from normalizers._text_common import endpoint, to_int, truncate
from normalizers._text_web import apache_time, set_url, split_request, unescape, web_event
from normalizers.base import ParseContext
from soc_core.errors import NormalizeError

_QUOTED = r'"([^"\\]*(?:\\.[^"\\]*)*)"'  # unrolled loop: no per-character alternation
_BODY = (
    r"(\S+) (\S+) (\"[^\"\\]*(?:\\.[^\"\\]*)*\"|\S+) "  # client ident user
    r"\[([^\]]{20,40})\] "  # time
    + _QUOTED  # request
    + r" (\d{3}|-) (\d+|-)"  # status bytes
    + r"(?: "
    + _QUOTED
    + " "
    + _QUOTED
    + r")?"  # referrer agent
    + r"(.*)"
)
# Most lines have no vhost: try that shape first, so the optional prefix never costs backtracking.
_LINE = re.compile(r"()()" + _BODY, re.S)  # two empty groups keep the vhost shape's numbering
_VHOST_LINE = re.compile(r"([^\s:\[\"]+)(?::(\d{1,5}))? " + _BODY, re.S)
_SNIFF = re.compile(r"(?:\S+ )?\S+ \S+ \S+ \[\d{1,2}/[A-Za-z]{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] \"")


class WebAccess:
    name = "web_access"
    typed_output = True  # documents built from typed values: see Normalizer.typed_output

    def parse(self, raw: str, ctx: ParseContext) -> dict[str, Any]:
        line = raw.rstrip("\r\n")
        m = _LINE.match(line) or _VHOST_LINE.match(line)
        if m is None:
            raise NormalizeError(f"not an Apache/nginx combined or common log line: {truncate(line, 120)!r}")
        vhost, vport, client, _ident, user, when, request, status, size, referrer, agent, _rest = m.groups()
        event: dict[str, Any] = {"kind": "event", "module": "web", "dataset": "web.access"}
        doc: dict[str, Any] = {"@timestamp": apache_time(when), "event": event}
        if user[:1] == '"':
            user = unescape(user[1:-1])
        request = unescape(request)
        method, target, version = split_request(request)
        web_event(
            doc,
            client=client,
            user=user,
            method=method,
            status=status,
            version=version,
            body_bytes=size,
            referrer=unescape(referrer) if referrer else None,
            agent=unescape(agent) if agent else None,
        )
        set_url(doc, target)
        if vhost:
            doc.setdefault("url", {})["domain"] = vhost
            if vport:
                endpoint(doc, "destination", None, to_int(vport))
        return doc

    def sniff(self, raw: str) -> bool:
        return _SNIFF.match(raw) is not None


NORMALIZER = WebAccess()
