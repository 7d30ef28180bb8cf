"""HTTP bulk intake: `POST /ingest/v1/events` (what shippers send) and `POST /ingest/v1/records`
(our own shipper's explicit envelope), NDJSON or a JSON array, gzip or deflate accepted.

The token (`Authorization: Bearer <token>`, or HTTP Basic with the token as password, which is
what Fluent Bit's `http_User`/`http_Passwd` send) identifies the log source; unit and system come
from the registry, never from the payload. The whole request is validated before anything is
handed downstream, so a bad line rejects the request with its line number and nothing is
half-written. What one request may cost is bounded whatever its compression (`ingest.limits`):
records per request, bytes as sent and once inflated, nesting depth and values per record; the
body is inflated and counted as it arrives and refused at the first limit it passes, and parsing
runs off the event loop, so `/health` and other requests keep their answers. Success (202) is
answered only after the store (embedded) or Kafka with `acks=all` (distributed) has every record;
Kafka down is 503 + Retry-After, a source over its rate limit is 429 + Retry-After (a source still
paying off an earlier batch larger than its burst is refused before its body is read). Every
refusal is answered as problem details (`api.problems`) with its `reason`, counted per source and
reason (`soc_source_rejected_total`).

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
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from api.context import AppContext
from api.problems import problem
from ingest.limits import BodyReader, Limits, check_json_payload, split_records
from ingest.metrics import UNKNOWN_SOURCE, accepted, rejected
from ingest.sources import Attribution, attribution
from normalizers import registry as formats
from soc_core.errors import AuthError, BackPressure, IngestError, PayloadTooLarge, StoreError
from soc_core.event import utcnow
from soc_core.records import RawRecord
from soc_core.registry import LogSource

router = APIRouter()

TRANSPORT = "http"
TEXT_KEYS = ("log", "message", "msg")
TIME_KEYS = ("date", "timestamp", "@timestamp")  # Fluent Bit, Vector, Beats/ECS
MAX_SHIPPER_ID = 512
STORE_RETRY_S = 5.0
"""Retry-After when the embedded store failed a write (locked, disk full): as for Kafka down."""


def _reject(
    request: Request,
    status: int,
    reason: str,
    detail: str,
    *,
    source: str = UNKNOWN_SOURCE,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Count the refusal under `reason` and answer it as problem details carrying that reason."""
    rejected(source, reason, TRANSPORT)
    return problem(status, detail, instance=request.url.path, headers=headers, reason=reason)


async def _read_body(request: Request, reader: BodyReader) -> bytes:
    """The body as it arrives, inflated and counted under the limits; a refusal stops reading."""
    async for chunk in request.stream():
        reader.feed(chunk)
    return reader.body()


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


def _event_records(
    attr: Attribution, lines: list[tuple[str, Any]], received_at: datetime, limits: Limits
) -> list[RawRecord]:
    fmt = attr.source.format
    records = []
    for line, value in lines:
        payload, shipper_id = payload_for(line, value, fmt)
        records.append(attr.record(payload, shipper_id=shipper_id, received_at=received_at))
    return records


def _envelope_records(
    attr: Attribution, lines: list[tuple[str, Any]], received_at: datetime, limits: Limits
) -> list[RawRecord]:
    """The envelope's JSON-format payloads get the record shape limits too (they are strings in
    the line, so the line's own check cannot see their nesting)."""
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
        if (fmt or attr.source.format) in formats.JSON_FORMATS:
            check_json_payload(payload, limits, f"record {n}: `payload`")
        records.append(
            attr.record(payload, shipper_id=rid, fmt=fmt, evidence=evidence, received_at=received_at)
        )
    return records


def _records(attr: Attribution, body: bytes, limits: Limits, envelope: bool) -> list[RawRecord]:
    """Parse and attribute a whole request (CPU work: run off the event loop)."""
    lines = split_records(body, limits)
    build = _envelope_records if envelope else _event_records
    return build(attr, lines, utcnow(), limits)  # one arrival time for the request


def _retry_after(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


async def _intake(
    request: Request, authorization: str | None, content_encoding: str | None, envelope: bool
) -> JSONResponse:
    ctx: AppContext = request.app.state.ctx
    try:
        source = authenticate(ctx, authorization)
    except AuthError as exc:
        return _reject(request, 401, exc.reason, str(exc), headers={"WWW-Authenticate": "Bearer"})
    sid = source.id
    limits = Limits.of(ctx.settings.ingest)
    # a source still paying off an earlier batch is refused before its body is read
    if (wait := ctx.rate_limiter.take(sid, 0)) > 0:
        return _rate_limited(request, sid, wait)
    try:
        body = await _read_body(request, BodyReader(content_encoding, limits))
        attr = attribution(ctx.registry, source)
        records = await run_in_threadpool(_records, attr, body, limits, envelope)
    except PayloadTooLarge as exc:
        return _reject(request, 413, exc.reason, str(exc), source=sid)
    except IngestError as exc:
        return _reject(request, 400, exc.reason, str(exc), source=sid)
    wait = ctx.rate_limiter.take(sid, len(records)) if records else 0.0
    if wait > 0:
        return _rate_limited(request, sid, wait)
    try:
        deadletters = await run_in_threadpool(ctx.submit, records)
    except (BackPressure, StoreError) as exc:  # Kafka, or the embedded store, cannot take it now
        wait = exc.retry_after if isinstance(exc, BackPressure) else STORE_RETRY_S
        return _reject(request, 503, "backpressure", str(exc), source=sid, headers=_retry_after(wait))
    if records:
        accepted([(sid, len(records), len(body))])
    return JSONResponse(
        {"accepted": len(records), "deadletters": deadletters, "source": sid}, status_code=202
    )


def _rate_limited(request: Request, sid: str, wait: float) -> JSONResponse:
    detail = f"source {sid} is over its rate limit; retry in {math.ceil(wait)}s"
    return _reject(request, 429, "rate_limited", detail, source=sid, headers=_retry_after(wait))


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
