"""HTTP bulk intake: `POST /ingest/v1/events` (what shippers send) and `POST /ingest/v1/records`
(our own shipper's explicit envelope), NDJSON or a JSON array, gzip or deflate accepted.

The token (`Authorization: Bearer <token>`, or HTTP Basic with the token as password, which is
what Fluent Bit's `http_User`/`http_Passwd` send) identifies the log source; unit and system come
from the registry, never from the payload. The whole request is validated before anything is
handed downstream, so a bad line rejects the request with its line number and nothing is
half-written. Success (202) is answered only after the store (embedded) or Kafka with `acks=all`
(distributed) has every record; Kafka down is 503 + Retry-After, a source over its rate limit is
429 + Retry-After. Every refusal is answered as problem details (`api.problems`) and counted per
source and reason (`soc_source_rejected_total`).

What shippers send by default, and how it is read (`/ingest/v1/events`):

- Fluent Bit `http` output, `format json` (one JSON array) or `json_lines` (NDJSON): each record
  is a map with the shipper's time under `date` (epoch seconds, a float) and the line under `log`
  (tail input) or `message`.
- Vector `http` sink, `encoding.codec = "json"` (a JSON array; NDJSON with
  `framing.method = "newline_delimited"`): each event has `message`, `timestamp` (RFC 3339),
  `host`, `source_type`.

For text formats (syslog, access logs, key=value) the line under `log` / `message` / `msg` is the
record. Its id hashes the line together with the shipper's time (`date`, `timestamp`,
`@timestamp`), so two identical lines sent at different instants stay two events, while a resent
batch (same record, same time) is still recognised as a duplicate. For JSON formats the object is
the record; when it has no `@timestamp`, the shipper's `date` (Fluent Bit) or `timestamp` (Vector)
is copied into `@timestamp` so the event keeps the shipper's time. A record that carries
`event.id` uses it as its shipper record id.

Our shipper (`socpipe ship`) uses `/ingest/v1/records`: one object per line,
`{"id": "<shipper record id>", "payload": "<the raw record>", "format": "<optional format>",
"evidence": {...optional}}`. The id makes a resend idempotent whatever the payload; `format`
overrides the source's format (an EVTX file imported for a Winlogbeat source is `evtx_json`).
"""

from __future__ import annotations

import base64
import binascii
import math
import zlib
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from api.context import AppContext
from api.problems import problem
from ingest.metrics import UNKNOWN_SOURCE, accepted, rejected
from ingest.sources import Attribution, attribution
from normalizers import registry as formats
from soc_core.errors import AuthError, BackPressure, IngestError, PayloadTooLarge
from soc_core.event import utcnow
from soc_core.records import RawRecord
from soc_core.registry import LogSource

router = APIRouter()

TRANSPORT = "http"
TEXT_KEYS = ("log", "message", "msg")
TIME_KEYS = ("date", "timestamp", "@timestamp")  # Fluent Bit, Vector, Beats/ECS
MAX_SHIPPER_ID = 512


def _reject(
    request: Request,
    status: int,
    reason: str,
    detail: str,
    *,
    source: str = UNKNOWN_SOURCE,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Count the refusal under `reason` and answer it as problem details."""
    rejected(source, reason, TRANSPORT)
    return problem(status, detail, instance=request.url.path, headers=headers)


async def _read_body(request: Request, limit: int) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise PayloadTooLarge(f"request body over {limit} bytes")
    return bytes(body)


def _decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    encoding = (encoding or "").strip().lower()
    if not encoding or encoding == "identity":
        return body
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise IngestError(f"unsupported Content-Encoding {encoding!r}")
    # deflate: zlib-wrapped per RFC 9110 (Vector's `zlib`); raw deflate is tolerated too.
    wbits = 16 + zlib.MAX_WBITS if encoding != "deflate" else zlib.MAX_WBITS
    if encoding == "deflate" and body[:1] != b"\x78":
        wbits = -zlib.MAX_WBITS
    decomp = zlib.decompressobj(wbits)
    try:
        out = decomp.decompress(body, limit + 1)
    except zlib.error as exc:
        raise IngestError(f"body is not valid {encoding}: {exc}") from None
    if len(out) > limit or decomp.unconsumed_tail:
        raise PayloadTooLarge(f"decompressed body over {limit} bytes")
    return out


def split_records(body: bytes, max_record: int) -> list[tuple[str, Any]]:
    """NDJSON (one JSON value a line) or one JSON array: each record as (JSON text, parsed value).

    NDJSON lines end at LF (CR LF tolerated) and nowhere else: a log line may hold NEL or U+2028,
    where `str.splitlines` would also cut, breaking the JSON of a valid line. Sizes are checked
    per line only when the body itself is over the record limit."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IngestError(f"body is not valid UTF-8 at byte {exc.start}") from None
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            items = orjson.loads(stripped)
        except orjson.JSONDecodeError as exc:
            raise IngestError(f"malformed JSON array: {exc}") from None
        records = []
        for n, item in enumerate(items, 1):
            encoded = orjson.dumps(item)
            if len(encoded) > max_record:
                raise PayloadTooLarge(f"record {n} is over {max_record} bytes")
            records.append((encoded.decode(), item))
        return records
    records = []
    check_size = len(body) > max_record
    for n, line in enumerate(text.split("\n"), 1):
        if line.endswith("\r"):
            line = line[:-1]
        if not line.strip():
            continue
        if check_size and len(line.encode()) > max_record:
            raise PayloadTooLarge(f"line {n} is over {max_record} bytes")
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise IngestError(f"malformed JSON on line {n}: {exc}") from None
        records.append((line, value))
    return records


def _shipper_time(value: dict[str, Any]) -> str | None:
    for key in TIME_KEYS:
        t = value.get(key)
        if isinstance(t, (int, float, str)) and not isinstance(t, bool) and t != "":
            return f"{key}={t}"
    return None


def _with_timestamp(line: str, value: dict[str, Any]) -> str:
    """A JSON record without `@timestamp` gets the shipper's time (Fluent Bit `date`, Vector
    `timestamp`); anything else is passed as sent."""
    if "@timestamp" in value:
        return line
    date = value.get("date")
    if isinstance(date, (int, float)) and not isinstance(date, bool) and math.isfinite(date):
        try:
            stamp = datetime.fromtimestamp(date, UTC).isoformat()
        except (OverflowError, OSError, ValueError):
            return line
    elif isinstance(value.get("timestamp"), str):
        stamp = value["timestamp"]
    else:
        return line
    return orjson.dumps({"@timestamp": stamp, **value}).decode()


def payload_for(line: str, value: Any, fmt: str | None) -> tuple[str, str | None]:
    """The raw record a normalizer should see, and the shipper identity to hash it with (if any).

    JSON formats get the JSON object as sent (plus `@timestamp` from the shipper's time when it has
    none). Text formats arrive wrapped the way shippers wrap them by default: a JSON string, or an
    object with the line under `log` (Fluent Bit) or `message` (Vector); the line is the record,
    and the wrapper's time distinguishes identical lines sent at different instants.
    """
    if isinstance(value, str):
        return value, None
    if not isinstance(value, dict):
        return line, None
    shipper_id = _event_id(value)
    if fmt in formats.JSON_FORMATS:
        return _with_timestamp(line, value), shipper_id
    for key in TEXT_KEYS:
        inner = value.get(key)
        if isinstance(inner, str):
            if shipper_id is None:
                when = _shipper_time(value)
                if when is not None:
                    shipper_id = f"{when}\x00{inner}"
            return inner, shipper_id
    return line, shipper_id


def _event_id(value: dict[str, Any]) -> str | None:
    """A shipper's own record id (`event.id`), when it sends one, makes retries idempotent."""
    meta = value.get("event")
    shipper_id = meta.get("id") if isinstance(meta, dict) else None
    return str(shipper_id) if shipper_id else None


def authenticate(ctx: AppContext, authorization: str | None) -> LogSource:
    if not authorization:
        raise AuthError("missing bearer token")
    scheme, _, credentials = authorization.strip().partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        token = credentials.strip()
    elif scheme == "basic":
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise AuthError("malformed basic credentials") from None
        token = decoded.partition(":")[2]
    else:
        raise AuthError("missing bearer token")
    source = ctx.registry.source_for_token(token) if token else None
    if source is None:
        raise AuthError("unknown token")
    return source


def _event_records(attr: Attribution, lines: list[tuple[str, Any]], received_at: datetime) -> list[RawRecord]:
    fmt = attr.source.format
    records = []
    for line, value in lines:
        payload, shipper_id = payload_for(line, value, fmt)
        records.append(attr.record(payload, shipper_id=shipper_id, received_at=received_at))
    return records


def _envelope_records(
    attr: Attribution, lines: list[tuple[str, Any]], received_at: datetime
) -> list[RawRecord]:
    known = set(formats.names())
    records = []
    for n, (_, value) in enumerate(lines, 1):
        if not isinstance(value, dict):
            raise IngestError(f"record {n} is not an object")
        rid, payload = value.get("id"), value.get("payload")
        fmt, evidence = value.get("format"), value.get("evidence")
        if not isinstance(rid, str) or not rid or len(rid) > MAX_SHIPPER_ID:
            raise IngestError(
                f"record {n}: `id` must be a non-empty string of at most {MAX_SHIPPER_ID} chars"
            )
        if not isinstance(payload, str):
            raise IngestError(f"record {n}: `payload` must be a string")
        if fmt is not None and fmt not in known:
            raise IngestError(f"record {n}: unknown format {fmt!r}")
        if evidence is not None and not isinstance(evidence, dict):
            raise IngestError(f"record {n}: `evidence` must be an object")
        records.append(
            attr.record(payload, shipper_id=rid, fmt=fmt, evidence=evidence, received_at=received_at)
        )
    return records


async def _intake(
    request: Request, authorization: str | None, content_encoding: str | None, envelope: bool
) -> JSONResponse:
    ctx: AppContext = request.app.state.ctx
    settings = ctx.settings
    try:
        source = authenticate(ctx, authorization)
    except AuthError as exc:
        return _reject(request, 401, "unauthorized", str(exc), headers={"WWW-Authenticate": "Bearer"})
    sid = source.id
    try:
        body = await _read_body(request, settings.ingest.max_body_bytes)
        body = _decompress(body, content_encoding, settings.ingest.max_body_bytes)
        lines = split_records(body, settings.ingest.max_record_bytes)
        attr = attribution(ctx.registry, source)
        build = _envelope_records if envelope else _event_records
        records = build(attr, lines, utcnow())  # one arrival time for the request
    except PayloadTooLarge as exc:
        return _reject(request, 413, "too_large", str(exc), source=sid)
    except IngestError as exc:
        return _reject(request, 400, "bad_request", str(exc), source=sid)
    wait = ctx.rate_limiter.take(sid, len(records)) if records else 0.0
    if wait > 0:
        return _reject(
            request,
            429,
            "rate_limited",
            f"source {sid} is over its rate limit; retry in {math.ceil(wait)}s",
            source=sid,
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    try:
        deadletters = await run_in_threadpool(ctx.submit, records)
    except BackPressure as exc:
        return _reject(
            request,
            503,
            "backpressure",
            str(exc),
            source=sid,
            headers={"Retry-After": str(max(1, math.ceil(exc.retry_after)))},
        )
    if records:
        accepted([(sid, len(records), len(body))])
    return JSONResponse(
        {"accepted": len(records), "deadletters": deadletters, "source": sid}, status_code=202
    )


@router.post("/ingest/v1/events", status_code=202)
async def ingest_events(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    content_encoding: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """Bulk events as shippers send them (NDJSON or a JSON array)."""
    return await _intake(request, authorization, content_encoding, envelope=False)


@router.post("/ingest/v1/records", status_code=202)
async def ingest_records(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    content_encoding: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """Records in our shipper's envelope: `{"id", "payload", "format"?, "evidence"?}` per line."""
    return await _intake(request, authorization, content_encoding, envelope=True)
