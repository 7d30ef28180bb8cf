"""What one HTTP intake request may cost, checked before the cost is paid.

A few kilobytes of gzip can inflate to a million tiny records (issue #14: 3.9 KB became 1,000,000
records, 6.8 GB of memory and a stalled `/health`), and one record nested hundreds of levels deep
can crash whatever recurses over it downstream. So:

- `BodyReader` takes the body as it arrives, inflates it in bounded slices and counts NDJSON lines
  as they appear: a request over the decompressed-bytes or records limit is refused while it is
  still being read, before a single record is parsed. Nothing about the compression ratio matters.
- `split_records` parses NDJSON line by line (orjson) and a JSON array item by item (ijson, a
  streaming parser), so an array over the records limit is refused at its first extra item,
  never parsed whole.
- `check_shape` refuses a record nested deeper than `max_record_depth` or holding more than
  `max_record_fields` values. Counting `{ [ : ,` in the text (C speed) bounds both from above, so
  only a record that might be over a limit is walked.

Every refusal is an `IngestError` whose `reason` is the label it is counted under
(`soc_source_rejected_total`).
"""

from __future__ import annotations

import io
import re
import zlib
from dataclasses import dataclass
from typing import Any

import ijson
import orjson

from soc_core.errors import IngestError, PayloadTooLarge
from soc_core.settings import IngestSettings

_BLANK = re.compile(rb"[ \t\r\n]*")
INFLATE_SLICE = 256 * 1024
"""Bytes inflated at a time: the most a request can be over its limits before it is refused."""


class TooManyRecords(PayloadTooLarge):
    reason = "too_many_records"


class DecompressedTooLarge(PayloadTooLarge):
    reason = "decompressed_too_large"


class RecordTooDeep(IngestError):
    reason = "too_deep"


class TooManyFields(IngestError):
    reason = "too_many_fields"


@dataclass(frozen=True)
class Limits:
    body_bytes: int
    decompressed_bytes: int
    records: int
    record_bytes: int
    depth: int
    fields: int

    @classmethod
    def of(cls, ingest: IngestSettings) -> Limits:
        return cls(
            body_bytes=ingest.max_body_bytes,
            decompressed_bytes=ingest.max_decompressed_bytes,
            records=ingest.max_request_records,
            record_bytes=ingest.max_record_bytes,
            depth=ingest.max_record_depth,
            fields=ingest.max_record_fields,
        )


def _inflater(encoding: str | None, first: bytes) -> Any:
    """A zlib decompressor for the Content-Encoding (None: identity)."""
    encoding = (encoding or "").strip().lower()
    if not encoding or encoding == "identity":
        return None
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise IngestError(f"unsupported Content-Encoding {encoding!r}")
    if encoding != "deflate":
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    # deflate: zlib-wrapped per RFC 9110 (Vector's `zlib`); raw deflate is tolerated too.
    return zlib.decompressobj(zlib.MAX_WBITS if first[:1] == b"\x78" else -zlib.MAX_WBITS)


class BodyReader:
    """The request body, fed chunk by chunk as it arrives, inflated and counted under the limits."""

    def __init__(self, encoding: str | None, limits: Limits) -> None:
        self._encoding = encoding
        self._limits = limits
        self._inflate: Any = None
        self._started = False
        self._sent = 0
        self._body = bytearray()
        self._array: bool | None = None  # decided by the first non-blank byte
        self._lines = 0

    @property
    def inflated_bytes(self) -> int:
        return len(self._body)

    def feed(self, chunk: bytes) -> None:
        self._sent += len(chunk)
        if self._sent > self._limits.body_bytes:
            raise PayloadTooLarge(f"request body over {self._limits.body_bytes} bytes")
        if not self._started:
            self._started = True
            self._inflate = _inflater(self._encoding, chunk)
        if self._inflate is None:
            self._take(chunk)
            return
        data = chunk
        while data and not self._inflate.eof:
            try:
                piece = self._inflate.decompress(data, INFLATE_SLICE)
            except zlib.error as exc:
                raise IngestError(f"body is not valid {self._encoding}: {exc}") from None
            self._take(piece)
            data = self._inflate.unconsumed_tail

    def body(self) -> bytes:
        return bytes(self._body)

    def _take(self, piece: bytes) -> None:
        self._body += piece
        limits = self._limits
        if len(self._body) > limits.decompressed_bytes:
            raise DecompressedTooLarge(f"decompressed body over {limits.decompressed_bytes} bytes")
        start = 0
        if self._array is None:  # what came before this piece was blank: it decides nothing
            blank = _BLANK.match(piece)
            start = blank.end() if blank else 0
            if start == len(piece):
                return
            self._array = piece[start : start + 1] == b"["
        if not self._array:
            self._lines += piece.count(b"\n", start)
            if self._lines > limits.records:
                raise TooManyRecords(f"more than {limits.records} records (lines) in one request")


def split_records(body: bytes, limits: Limits) -> list[tuple[str, Any]]:
    """NDJSON (one JSON value a line) or one JSON array: each record as (JSON text, parsed value).

    NDJSON lines end at LF (CR LF tolerated) and nowhere else: a log line may hold NEL or U+2028,
    where `str.splitlines` would also cut, breaking the JSON of a valid line. Sizes are checked
    per line only when the body itself is over the record limit."""
    if _is_array(body):
        return _array_records(body, limits)  # read as bytes: no copy of the body as text
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IngestError(f"body is not valid UTF-8 at byte {exc.start}") from None
    records: list[tuple[str, Any]] = []
    check_size = len(body) > limits.record_bytes
    for n, line in enumerate(text.split("\n"), 1):
        if line.endswith("\r"):
            line = line[:-1]
        if not line.strip():
            continue
        if len(records) == limits.records:
            raise TooManyRecords(f"more than {limits.records} records in one request")
        if check_size and len(line.encode()) > limits.record_bytes:
            raise PayloadTooLarge(f"line {n} is over {limits.record_bytes} bytes")
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise IngestError(f"malformed JSON on line {n}: {exc}") from None
        check_shape(line, value, limits, f"line {n}")
        records.append((line, value))
    return records


def _is_array(body: bytes) -> bool:
    blank = _BLANK.match(body)
    start = blank.end() if blank else 0
    return body[start : start + 1] == b"["


def _array_records(body: bytes, limits: Limits) -> list[tuple[str, Any]]:
    """A JSON array, item by item (ijson's C backend, yajl): refused at the first item over the
    records limit. yajl refuses integers past 64 bits, which orjson reads as floats on an NDJSON
    line: such an array is a 400 (re-reading it with a slower parser would be a way to make the
    intake slow)."""
    records: list[tuple[str, Any]] = []
    try:
        for n, item in enumerate(ijson.items(io.BytesIO(body), "item", use_float=True), 1):
            if n > limits.records:
                raise TooManyRecords(f"more than {limits.records} records in one request")
            where = f"record {n}"
            try:
                encoded = orjson.dumps(item).decode()
            except orjson.JSONEncodeError as exc:  # nested past the 254 levels orjson writes
                measure(item, limits, where)
                raise IngestError(f"{where}: {exc}") from None
            if len(encoded) > limits.record_bytes:
                raise PayloadTooLarge(f"{where} is over {limits.record_bytes} bytes")
            check_shape(encoded, item, limits, where)
            records.append((encoded, item))
    except ijson.JSONError as exc:
        raise IngestError(f"malformed JSON array: {exc}") from None
    return records


def check_shape(text: str, value: Any, limits: Limits, where: str) -> None:
    """Refuse a record nested deeper than the depth limit or holding more values than the field
    limit. Its text bounds both (every container opens with `{`/`[`, every value but a container's
    first follows `:` or `,`), so the walk runs only when the text says it might be over."""
    if _within(text, limits):
        return
    measure(value, limits, where)


def _within(text: str, limits: Limits) -> bool:
    containers = text.count("{") + text.count("[")
    return containers <= limits.depth and text.count(":") + text.count(",") + containers <= limits.fields


def measure(value: Any, limits: Limits, where: str) -> None:
    """Walk a parsed record (no recursion) until it is known to be within the limits or over one."""
    if not isinstance(value, dict | list):
        return
    stack: list[tuple[dict[str, Any] | list[Any], int]] = [(value, 1)]
    fields = 0
    while stack:
        node, depth = stack.pop()
        if depth > limits.depth:
            raise RecordTooDeep(f"{where} is nested deeper than {limits.depth} levels")
        children = node.values() if isinstance(node, dict) else node
        fields += len(children)
        if fields > limits.fields:
            raise TooManyFields(f"{where} has more than {limits.fields} fields")
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def check_json_payload(payload: str, limits: Limits, where: str) -> None:
    """The shape limits for a JSON record carried as a string (the shipper envelope's `payload`).
    A payload that is not JSON (or past orjson's own 1024 levels) is left to its normalizer,
    which dead-letters it."""
    if _within(payload, limits):
        return
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return
    measure(value, limits, where)
