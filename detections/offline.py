"""`socpipe detect`'s per-record loop: a file's records read, normalized, detected and written.

Kept apart from `detections.cli` (the typer command, its options and its summary) so that mypyc
can compile it with the engine and the stage (`deploy/native/build.py`): as interpreted Python the
loop and its record generator were about a twentieth of the command's instructions per event.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from detections.correlation.engine import CorrelationEngine
from detections.stage import DetectStage
from normalizers.stage import NormalizeStage
from soc_core.alert import Alert, AlertRepeat
from soc_core.event import Event
from soc_core.records import record_id

NEWLINE = b"\n"


def records(
    path: Path, fmt: str | None, counters: Counter[str], reasons: Counter[str]
) -> Iterator[tuple[str, str, str | None, bool]]:
    """The file's records as (record id, payload, format, nesting bounded): a `RawRecord`'s fields,
    without the model (the stage takes them as they are, see `NormalizeStage.normalize`). An `.evtx`
    file's records are JSON the `evtx` package rendered, read by a normalizer that keeps none of
    their structure (`nesting_bounded`: the depth guard is not needed for them)."""
    source = f"cli:{path.name}"
    if path.suffix.lower() == ".evtx":
        from normalizers.evtx_file import ReadStats, iter_identified  # imported on use

        read = ReadStats()
        evtx_format = fmt or "evtx_json"
        # each record's id is `record_id(source, payload, shipper_id=f"{path}:{n}")`
        for rid, payload in iter_identified(path, source, read):
            yield rid, payload, evtx_format, True
        if read.errors:  # unreadable records are dead letters too, counted with their reasons
            counters["records"] += read.errors
            counters["dead_letters"] += read.errors
            for reason in read.reasons:
                reasons[f"{path.name}: {reason}"[:120]] += 1
        return
    # Framed as `socpipe normalize` frames a file: an auditd event's records become one record, and
    # an IIS log's `#Fields:` header travels with each data line (its header lines are no records).
    from normalizers.cli import frame

    with path.open(encoding="utf-8", errors="replace") as handle:
        for n, (payload, _, framed) in enumerate(frame(handle, fmt), 1):
            yield record_id(source, payload, shipper_id=f"{path}:{n}"), payload, framed, False


def detect_file(
    path: Path,
    fmt: str | None,
    unit: str | None,
    normalize: NormalizeStage,
    detect: DetectStage,
    correlate: CorrelationEngine,
    write: Callable[[bytes], object],
    decided: list[Alert | AlertRepeat],
    counters: Counter[str],
    reasons: Counter[str],
    reads: frozenset[str] | None = None,
) -> None:
    """One file through the stages: each event's alerts written (`Alert.to_json()`'s bytes, one a
    line), its correlation hits offered (what they decide is added to `decided`), dead letters
    counted with their reasons. `reads`: the engine's `read_fields()`, for the stage's flat views
    (see `NormalizeStage.normalize`)."""
    source = f"cli:{path.name}"
    read = events = 0  # counted here, added once (a Counter update per record cost more)
    for rid, payload, record_format, bounded in records(path, fmt, counters, reasons):
        read += 1
        result = normalize.normalize(
            payload,
            record_id=rid,
            source_id=source,
            format_name=record_format,
            received_at=datetime.now(UTC),  # `utcnow()`, without a call into an interpreted module
            unit_id=unit,
            nesting_bounded=bounded,
            deferred=True,  # the flat view first; the document only for the events that alert
            reads=reads,
        )
        if not isinstance(result, Event):
            counters["dead_letters"] += 1
            reasons[result.reason[:120]] += 1
            continue
        events += 1
        alerts, hits = detect.evaluate_json(result)
        if alerts:
            counters["alerts"] += len(alerts)
            for line in alerts:
                write(line + NEWLINE)
        if hits:
            decided += correlate.offer(hits)
    if read:  # as before: no count of a file that had none
        counters["records"] += read
    if events:
        counters["events"] += events
