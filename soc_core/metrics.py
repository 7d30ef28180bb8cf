"""Prometheus counters every stage emits (Vector's rule: received, sent, dropped, errors).

Labels are bounded: `stage` is one of a handful of names, `reason` a short fixed vocabulary,
`source` the registry's source ids (a few hundred in a province), `format` the registered formats.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

UNKNOWN_SOURCE = "unknown"
"""The `source` (and `format`) label of what no registered source sent: never the name a sender
made up, so that the label set stays the registry's."""

EVENTS_RECEIVED = Counter("soc_stage_events_received", "Records a stage took in", ["stage"])
EVENTS_SENT = Counter("soc_stage_events_sent", "Records a stage passed on or stored", ["stage"])
EVENTS_DROPPED = Counter(
    "soc_stage_events_dropped",
    "Records a stage did not pass on (dead letters, duplicates)",
    ["stage", "reason"],
)
STAGE_ERRORS = Counter("soc_stage_errors", "Failures of a stage (batch retried, not lost)", ["stage"])
BATCH_SECONDS = Histogram("soc_stage_batch_seconds", "Time to process one batch", ["stage"])

INTAKE_REJECTED = Counter("soc_intake_rejected", "Requests or records refused at intake", ["reason"])
SOURCE_EVENTS = Counter("soc_source_events_received", "Records received per source", ["source"])
SOURCE_BYTES = Counter(
    "soc_source_received_bytes", "Bytes received per source (was soc_source_bytes_received)", ["source"]
)
SOURCE_LAST_SEEN = Gauge(
    "soc_source_last_event_timestamp_seconds", "Unix time of the last record", ["source"]
)

CONSUMER_LAG = Gauge(
    "soc_consumer_lag_records",
    "Records in a consumer group's assigned partitions not yet read by this process (after its last poll)",
    ["group"],
)

REGISTRY_REFRESH_FAILURES = Counter(
    "soc_registry_refresh_failures",
    "Registry reloads that failed (store down); the process goes on with the last good registry",
)

NORMALIZE_RESULTS = Counter(
    "soc_normalize_results", "Normalization outcomes per source and format", ["source", "format", "outcome"]
)
ALERTS_RAISED = Counter("soc_alerts_raised", "Alerts raised", ["severity"])
DETECTION_LATENCY = Histogram(
    "soc_detection_latency_seconds",
    "From an event's arrival (event.ingested, set by the normalize stage) to the alert it raised",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
)

CORRELATION_LATE_HITS = Counter(
    "soc_correlation_late_hits",
    "Rule hits older than the correlation watermark (beyond the allowed lateness), dropped",
    ["correlation"],
)
CORRELATION_GROUP_OVERFLOW = Counter(
    "soc_correlation_group_overflow",
    "Correlation groups dropped because the engine held max_groups groups",
    ["correlation"],
)
CORRELATION_REPLAYED_HITS = Counter(
    "soc_correlation_replayed_hits",
    "Rule hits skipped because the restored group state already holds them (replay after a restart)",
)
CORRELATION_GROUPS = Gauge(
    "soc_correlation_groups",
    "Correlation groups (open windows, buffered hits) this process holds",
    ["correlation"],
)
CORRELATION_BUFFERED_HITS = Gauge(
    "soc_correlation_buffered_hits",
    "Rule hits this process buffers until the watermark passes them",
    ["correlation"],
)

REPORT_RECORDS_UNREADABLE = Gauge(
    "soc_report_records_unreadable",
    "Periodic report records under <data_dir>/reports/ that could not be read at the last listing "
    "(skipped from the list, named in the log)",
)
