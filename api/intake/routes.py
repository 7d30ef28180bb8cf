"""HTTP bulk intake: `POST /ingest/v1/events`, NDJSON or a JSON array, gzip accepted.

The bearer token identifies the log source; unit and system come from the registry, never from
the payload. The whole request is validated before anything is handed downstream, so a bad line
rejects the request with its line number and nothing is half-written. Success (202) is answered
only after the store (embedded) or Kafka with `acks=all` (distributed) has every record.
"""

from __future__ import annotations

import zlib
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from api.context import AppContext
from soc_core.errors import AuthError, BackPressure, IngestError, PayloadTooLarge
from soc_core.metrics import INTAKE_REJECTED, SOURCE_BYTES, SOURCE_EVENTS, SOURCE_LAST_SEEN
from soc_core.records import RawRecord, record_id
from soc_core.registry import LogSource

router = APIRouter()


def _reject(status: int, reason: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    INTAKE_REJECTED.labels(reason).inc()
    return JSONResponse({"error": reason, "detail": detail}, status_code=status, headers=headers)


async def _read_body(request: Request, limit: int) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise PayloadTooLarge(f"request body over {limit} bytes")
    return bytes(body)


def _decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    if not encoding or encoding == "identity":
        return body
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise IngestError(f"unsupported Content-Encoding {encoding!r}")
    wbits = 16 + zlib.MAX_WBITS if encoding != "deflate" else zlib.MAX_WBITS
    decomp = zlib.decompressobj(wbits)
    try:
        out = decomp.decompress(body, limit + 1)
    except zlib.error as exc:
        raise IngestError(f"body is not valid {encoding}: {exc}") from None
    if len(out) > limit or decomp.unconsumed_tail:
        raise PayloadTooLarge(f"decompressed body over {limit} bytes")
    return out


JSON_FORMATS = frozenset({"winlogbeat", "evtx_json", "nxlog_windows", "journald", "web_json", "ecs"})
TEXT_KEYS = ("log", "message", "msg")


def split_records(body: bytes, max_record: int) -> list[tuple[str, Any]]:
    """NDJSON (one JSON value a line) or one JSON array: each record as (JSON text, parsed value)."""
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
            line = orjson.dumps(item).decode()
            if len(line.encode()) > max_record:
                raise PayloadTooLarge(f"record {n} is over {max_record} bytes")
            records.append((line, item))
        return records
    records = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if len(line.encode()) > max_record:
            raise PayloadTooLarge(f"line {n} is over {max_record} bytes")
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise IngestError(f"malformed JSON on line {n}: {exc}") from None
        records.append((line, value))
    return records


def payload_for(line: str, value: Any, fmt: str | None) -> str:
    """The raw record a normalizer should see.

    JSON formats get the JSON object as sent. Text formats (syslog, access logs, key=value) arrive
    wrapped the way shippers wrap them by default: a JSON string, or an object with the line under
    `log` (Fluent Bit) or `message` (Vector); the line itself is the record.
    """
    if isinstance(value, str):
        return value
    if fmt in JSON_FORMATS or not isinstance(value, dict):
        return line
    for key in TEXT_KEYS:
        inner = value.get(key)
        if isinstance(inner, str):
            return inner
    return line


def authenticate(ctx: AppContext, authorization: str | None) -> LogSource:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise AuthError("missing bearer token")
    source = ctx.registry.source_for_token(authorization[7:].strip())
    if source is None:
        raise AuthError("unknown token")
    return source


def _shipper_id(value: Any) -> str | None:
    """A shipper's own record id (`event.id`), when it sends one, makes retries idempotent."""
    meta = value.get("event") if isinstance(value, dict) else None
    shipper_id = meta.get("id") if isinstance(meta, dict) else None
    return str(shipper_id) if shipper_id else None


@router.post("/ingest/v1/events", status_code=202)
async def ingest_events(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    content_encoding: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    ctx: AppContext = request.app.state.ctx
    settings = ctx.settings
    try:
        source = authenticate(ctx, authorization)
    except AuthError as exc:
        return _reject(401, "unauthorized", str(exc), {"WWW-Authenticate": "Bearer"})
    try:
        body = await _read_body(request, settings.max_body_bytes)
        body = _decompress(body, content_encoding, settings.max_body_bytes)
        lines = split_records(body, settings.max_record_bytes)
    except PayloadTooLarge as exc:
        return _reject(413, "too_large", str(exc))
    except IngestError as exc:
        return _reject(400, "bad_request", str(exc))
    system = next((s for s in ctx.registry.registry.systems if s.id == source.system_id), None)
    records = []
    for line, value in lines:
        payload = payload_for(line, value, source.format)
        records.append(
            RawRecord(
                id=record_id(source.id, payload, _shipper_id(value)),
                source_id=source.id,
                unit_id=system.unit_id if system else None,
                system_id=source.system_id,
                format=source.format,
                payload=payload,
            )
        )
    try:
        deadletters = await run_in_threadpool(ctx.submit, records)
    except BackPressure as exc:
        return _reject(503, "unavailable", str(exc), {"Retry-After": str(int(exc.retry_after))})
    SOURCE_EVENTS.labels(source.id).inc(len(records))
    SOURCE_BYTES.labels(source.id).inc(len(body))
    if records:
        SOURCE_LAST_SEEN.labels(source.id).set_to_current_time()
    return JSONResponse(
        {"accepted": len(records), "deadletters": deadletters, "source": source.id}, status_code=202
    )
