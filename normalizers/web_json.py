"""JSON access logs (nginx `log_format ... escape=json`, Apache JSON, Caddy, Traefik) -> ECS.

There is no standard JSON access-log schema, so each ECS field is read from the first of the key
names people commonly use for it (nginx variable names first, then the usual variants):

| ECS | keys tried |
| --- | --- |
| `@timestamp` | `@timestamp time_iso8601 time_local timestamp time ts msec StartUTC date` (see below) |
| `source.ip` | `remote_addr client_ip clientip client remote_ip ip src_ip ClientHost ClientAddr` |
| `user.name` | `remote_user user username auth_user ClientUsername` |
| request line | `request` (the whole `GET /x HTTP/1.1`), else the three parts below |
| `http.request.method` | `request_method method RequestMethod` |
| `url.*` | `request_uri uri url path RequestPath` (+ `args query_string query` when no `?`) |
| `http.version` | `server_protocol protocol RequestProtocol` |
| `http.response.status_code` | `status status_code response_code DownstreamStatus` |
| `http.response.body.bytes` | `body_bytes_sent bytes_sent bytes size response_size DownstreamContentSize` |
| `http.request.referrer` | `http_referer http_referrer referer referrer request_Referer` |
| `user_agent.original` | `http_user_agent user_agent agent useragent request_User-Agent` |
| `url.domain`, `destination.port` | `host http_host server_name vhost RequestHost`, `server_port` |
| `event.duration` (ns) | `request_time duration Duration` (seconds; Traefik `Duration` is ns) |

Times may be ISO 8601, `dd/Mon/yyyy:HH:MM:SS +zzzz` or epoch numbers; a record without any
time key gets the time it was received. Caddy's nested
`request: {remote_ip, method, uri, proto, host, headers}` is read too. Empty strings and `-`
(what nginx writes for unset variables) count as absent.
"""

from __future__ import annotations

from typing import Any

import orjson

from normalizers._text_common import absent, endpoint, epoch_to_datetime, parse_iso, to_int, truncate
from normalizers._text_web import apache_time, set_url, split_request, web_event
from normalizers.base import ParseContext
from soc_core.errors import NormalizeError

_TIME = ("@timestamp", "time_iso8601", "time_local", "timestamp", "time", "ts", "msec", "StartUTC", "date")
_CLIENT = (
    "remote_addr",
    "client_ip",
    "clientip",
    "client",
    "remote_ip",
    "ip",
    "src_ip",
    "ClientHost",
    "ClientAddr",
)
_USER = ("remote_user", "user", "username", "auth_user", "ClientUsername", "user_id")
_REQUEST = ("request", "request_line")
_METHOD = ("request_method", "method", "http_method", "RequestMethod", "verb")
_URI = ("request_uri", "uri", "url", "path", "RequestPath", "request_path")
_QUERY = ("args", "query_string", "query")
_PROTOCOL = ("server_protocol", "protocol", "http_version", "RequestProtocol", "proto")
_STATUS = ("status", "status_code", "response_code", "DownstreamStatus", "response_status")
_BYTES = (
    "body_bytes_sent",
    "bytes_sent",
    "bytes",
    "size",
    "response_size",
    "DownstreamContentSize",
    "bytes_out",
)
_REFERRER = ("http_referer", "http_referrer", "referer", "referrer", "request_Referer")
_AGENT = ("http_user_agent", "user_agent", "agent", "useragent", "request_User-Agent")
_HOST = ("host", "http_host", "server_name", "vhost", "RequestHost")
_PORT = ("server_port",)
_DURATION = ("request_time", "duration", "Duration")


def _pick(record: dict[str, Any], keys: tuple[str, ...]) -> Any:
    """The first present, non-placeholder value among `keys` (numbers kept as numbers)."""
    for key in keys:
        value = record.get(key)
        if value is None or isinstance(value, dict | list):
            continue
        if isinstance(value, str):
            if absent(value):
                continue
            return value
        return value
    return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _time(value: Any, ctx: ParseContext) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return epoch_to_datetime(value)
    text = str(value)
    if text.replace(".", "", 1).isdigit():
        return epoch_to_datetime(text)
    if "/" in text and ":" in text:
        return apache_time(text)
    return parse_iso(text.replace(",", "."), ctx.timezone)


def _duration_ns(key: str | None, value: Any) -> int | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if number < 0 or number != number:
        return None
    return int(number) if key == "Duration" else int(number * 1_000_000_000)


def _caddy(record: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    """Flatten Caddy's `request` object into the flat key names read below."""
    flat = dict(record)
    del flat["request"]
    headers = request.get("headers")
    headers = headers if isinstance(headers, dict) else {}

    def header(name: str) -> Any:
        value = headers.get(name)
        return value[0] if isinstance(value, list) and value else value

    for key, value in (
        ("remote_addr", request.get("client_ip") or request.get("remote_ip")),
        ("request_method", request.get("method")),
        ("request_uri", request.get("uri")),
        ("server_protocol", request.get("proto")),
        ("host", request.get("host")),
        ("http_user_agent", header("User-Agent")),
        ("http_referer", header("Referer")),
    ):
        if value is not None:
            flat.setdefault(key, value)
    return flat


class WebJson:
    name = "web_json"
    typed_output = True  # documents built from typed values: see Normalizer.typed_output

    def parse(self, raw: str, ctx: ParseContext) -> dict[str, Any]:
        try:
            record = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise NormalizeError(f"web JSON log is not JSON: {exc}") from None
        if not isinstance(record, dict):
            raise NormalizeError(f"web JSON log must be a JSON object, got {type(record).__name__}")
        nested = record.get("request")
        if isinstance(nested, dict):
            record = _caddy(record, nested)
        status = _pick(record, _STATUS)
        request_line = _text(_pick(record, _REQUEST))
        method = _text(_pick(record, _METHOD))
        uri = _text(_pick(record, _URI))
        if to_int(_text(status)) is None and request_line is None and uri is None:
            raise NormalizeError(
                f"JSON record is not an access log (no status, request or uri key): {truncate(raw, 120)!r}"
            )
        version = _text(_pick(record, _PROTOCOL))
        if request_line is not None:
            line_method, uri_from_line, line_version = split_request(request_line)
            method = method or line_method
            uri = uri or uri_from_line
            version = version or line_version
        query = _text(_pick(record, _QUERY)) if uri is not None and "?" not in uri else None
        if version and version.startswith("HTTP/"):
            version = version[5:]
        when = _pick(record, _TIME)
        event: dict[str, Any] = {"kind": "event", "module": "web", "dataset": "web.access"}
        doc: dict[str, Any] = {
            "@timestamp": _time(when, ctx) if when is not None else ctx.received_at,
            "event": event,
        }
        web_event(
            doc,
            client=_text(_pick(record, _CLIENT)),
            user=_text(_pick(record, _USER)),
            method=method,
            status=_text(status),
            version=version,
            body_bytes=_text(_pick(record, _BYTES)),
            referrer=_text(_pick(record, _REFERRER)),
            agent=_text(_pick(record, _AGENT)),
        )
        set_url(doc, uri, query)
        host = _text(_pick(record, _HOST))
        if host:
            domain, _, port = host.partition(":") if host.count(":") == 1 else (host, "", "")
            doc.setdefault("url", {})["domain"] = domain
            if port:
                endpoint(doc, "destination", None, to_int(port))
        server_port = _text(_pick(record, _PORT))
        if server_port:
            endpoint(doc, "destination", None, to_int(server_port))
        for key in _DURATION:
            if key in record:
                duration = _duration_ns(key, record[key])
                if duration is not None:
                    event["duration"] = duration
                break
        return doc

    def sniff(self, raw: str) -> bool:
        if raw[:1] != "{" and raw.lstrip()[:1] != "{":
            return False
        has_status = '"status"' in raw or '"DownstreamStatus"' in raw
        return has_status and ('"request' in raw or '"uri"' in raw or '"RequestPath"' in raw)


NORMALIZER = WebJson()
