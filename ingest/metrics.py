"""Counters the receivers add to `soc_core.metrics` (received events/bytes/last-seen live there).

`reason` is a fixed vocabulary (`REASONS`); `source` is a registry id, or `unknown` when the sender
could not be identified (the peer address goes to the log line, never into a label).
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable

from prometheus_client import Counter, Gauge

from soc_core.metrics import INTAKE_REJECTED, SOURCE_BYTES, SOURCE_EVENTS, SOURCE_LAST_SEEN
from soc_core.metrics import UNKNOWN_SOURCE as UNKNOWN_SOURCE

REASONS = (
    "unauthorized",  # HTTP: missing or unknown token
    "unknown_source",  # syslog: peer address / certificate not in the registry
    "bad_certificate",  # syslog TLS: handshake failed or certificate refused
    "rate_limited",  # over the source's token bucket (HTTP 429, UDP drop)
    "too_large",  # a record or body over the size limit
    "decompressed_too_large",  # HTTP: the body inflates past its limit (413)
    "too_many_records",  # HTTP: more records in one request than its limit (413)
    "too_deep",  # HTTP: a JSON record nested past the depth limit (400)
    "too_many_fields",  # HTTP: a JSON record with more values than the field limit (400)
    "bad_request",  # malformed JSON, unsupported encoding, broken framing
    "invalid_utf8",  # bytes that are not UTF-8 (syslog: kept as a dead letter)
    "backpressure",  # downstream unavailable (HTTP 503; UDP: dropped beyond the backlog)
    "submit_error",  # downstream failed with an unexpected error (UDP: dropped)
)

SOURCE_REJECTED = Counter(
    "soc_source_rejected",
    "Records (or requests, for HTTP refusals) refused per source and reason",
    ["source", "reason", "transport"],
)
SYSLOG_CONNECTIONS = Gauge("soc_syslog_connections", "Open syslog TCP/TLS connections", ["transport"])
SOURCE_THROTTLED_SECONDS = Counter(
    "soc_source_throttled_seconds",
    "Time a TCP syslog source was paused by its rate limit (no data lost: it waited)",
    ["source"],
)


def rejected(source: str, reason: str, transport: str, n: int = 1) -> None:
    """Count `n` refused records (and the global per-reason intake counter)."""
    SOURCE_REJECTED.labels(source, reason, transport).inc(n)
    INTAKE_REJECTED.labels(reason).inc(n)


def accepted(counts: Iterable[tuple[str, int, int]]) -> None:
    """Count durable records per source: (source id, records, bytes)."""
    events: Tally[str] = Tally()
    size: Tally[str] = Tally()
    for source, n, nbytes in counts:
        events[source] += n
        size[source] += nbytes
    for source, n in events.items():
        SOURCE_EVENTS.labels(source).inc(n)
        SOURCE_BYTES.labels(source).inc(size[source])
        SOURCE_LAST_SEEN.labels(source).set_to_current_time()
