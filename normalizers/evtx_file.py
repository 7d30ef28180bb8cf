"""Read `.evtx` files (EVTX uploads, evidence from an inspection) into evtx-JSON records.

Each record comes out as the JSON text `normalizers.evtx_json` parses, so a file's events take
the same path as every other Windows event: `RawRecord(payload=..., format="evtx_json")` into the
normalize stage. Parsing is the `evtx` package (Rust, `PyEvtxParser(path).records_json()`).

Uploaded files are often damaged (copied from a live system, truncated, carved). A record the
parser cannot decode is skipped, counted and reported, never fatal: the rest of the file still
flows. Example::

    stats = ReadStats()
    for payload in iter_records("Security.evtx", stats):
        stage(RawRecord(id=..., source_id=src, format="evtx_json", payload=payload))
    if stats.errors:
        log.warning("evtx file had unreadable records path=%s errors=%d", stats.path, stats.errors)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from evtx import PyEvtxParser

from soc_core.records import record_id_hasher

ErrorHandler = Callable[[str, str], None]
"""Called with (path, reason) for each record or file that could not be read."""

MAX_KEPT_ERRORS = 100
MAX_ERRORS_IN_A_ROW = 10_000  # a parser that stopped advancing must not spin forever


@dataclass
class ReadStats:
    """What one read produced: records yielded, records skipped, and why (first 100 reasons)."""

    path: str = ""
    records: int = 0
    errors: int = 0
    file_error: str | None = None
    reasons: list[str] = field(default_factory=list)

    def _failed(self, reason: str) -> None:
        self.errors += 1
        if len(self.reasons) < MAX_KEPT_ERRORS:
            self.reasons.append(reason)


def iter_records(
    path: str | os.PathLike[str],
    stats: ReadStats | None = None,
    on_error: ErrorHandler | None = None,
    *,
    threads: int = 1,
) -> Iterator[str]:
    """The evtx-JSON text of every readable record of `path`, in file order.

    Unreadable records are skipped; each one increments `stats.errors` and calls `on_error`. A
    file that cannot be opened at all (not an EVTX file, missing) yields nothing and is reported
    the same way, with `stats.file_error` set. `threads` caps the Rust worker threads (the
    parser's default is one per core, too greedy next to the other stages).
    """
    report = stats if stats is not None else ReadStats()
    name = os.fspath(path)
    report.path = name
    try:
        records = PyEvtxParser(name, number_of_threads=threads).records_json()
    except (OSError, RuntimeError, ValueError) as exc:
        reason = f"cannot read EVTX file: {exc}"
        report.file_error = reason
        report._failed(reason)
        if on_error is not None:
            on_error(name, reason)
        return
    in_a_row = 0
    while True:
        try:
            record = next(records)
        except StopIteration:
            return
        except RuntimeError as exc:  # how the binding reports one undecodable record or chunk
            reason = f"unreadable record: {exc}"
        else:
            data = record.get("data") if isinstance(record, dict) else None
            if isinstance(data, str):
                in_a_row = 0
                report.records += 1
                yield data
                continue
            reason = "record without JSON data"
        report._failed(reason)
        if on_error is not None:
            on_error(name, reason)
        in_a_row += 1
        if in_a_row >= MAX_ERRORS_IN_A_ROW:
            report.file_error = f"gave up after {in_a_row} unreadable records in a row"
            return


def iter_identified(
    path: str | os.PathLike[str], source_id: str, stats: ReadStats | None = None
) -> Iterator[tuple[str, str]]:
    """`iter_records(path, stats)` with each record's id: the n-th record yielded (from 0) is
    `record_id(source_id, payload, shipper_id=f"{path}:{n}")`, hashed here from a copy of the
    hash of its prefix (`socpipe detect` reads every record of a file so, and formatting the path
    and hashing it again for each record cost as much as a tenth of reading the record)."""
    hasher = record_id_hasher(source_id, f"{os.fspath(path)}:")
    for n, payload in enumerate(iter_records(path, stats)):
        record = hasher.copy()
        record.update(str(n).encode())
        yield record.hexdigest(), payload
