"""`socpipe normalize`: run a log file (or standard input) through the normalize stage, offline.

For checking a new source's logs before it is connected, replaying evidence from an inspection,
or feeding a file to the pipeline by hand. ECS events go to standard output as JSON lines, dead
letters to standard error as JSON lines, then one summary line on standard error, so
`socpipe normalize auth.log > events.jsonl` keeps the two apart.

Framing (what one record is) follows the format: one line per record, except
- `.evtx` files: read with `normalizers.evtx_file.iter_records` (format `evtx_json`); records the
  reader cannot decode are reported as dead letters of stage `read`;
- `auditd`: lines are grouped into events by `normalizers.auditd.AuditdAssembler`;
- `iis_w3c`: `#` header lines are not records; the last `#Fields:` line is carried in front of
  each data line so that every record names its own columns.
Without `--format`, each record is recognised by content, and the auditd/IIS framing is chosen
from the first line. `.gz` files are read decompressed.

Record ids are `soc_core.records.record_id(source, line)` (for auditd, the joined group), so
replaying the same file gives the same event ids. The time a file's records were "received" is
the file's modification time, which anchors year-less syslog timestamps to when the file was
written rather than to today; standard input uses the current time.
"""

from __future__ import annotations

import gzip
import sys
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Annotated

import typer

from normalizers.auditd import NORMALIZER as AUDITD
from normalizers.auditd import AuditdAssembler
from normalizers.stage import NormalizeStage
from soc_core.event import utcnow
from soc_core.records import DeadLetter, RawRecord, record_id

Emit = Callable[[str, str, str | None, datetime], None]
_IIS_HEADERS = ("#Software:", "#Version:", "#Date:", "#Fields:", "#Remark:", "#Start-Date:", "#End-Date:")


def frame(lines: Iterable[str], fmt: str | None) -> Iterator[tuple[str, str, str | None]]:
    """(payload, id basis, format) for each record of a line stream; pure, for tests and tools."""
    stream = iter(lines)
    first: str | None = None
    for line in stream:
        line = line.rstrip("\r\n")
        if line.strip():
            first = line
            break
    if first is None:
        return
    framing = fmt
    if framing is None:
        if AUDITD.sniff(first):
            framing = "auditd"
        elif first.startswith(_IIS_HEADERS):
            framing = "iis_w3c"
    rest = (line.rstrip("\r\n") for line in stream)
    everything = _chain(first, rest)
    if framing == "auditd":
        assembler = AuditdAssembler()
        for line in everything:
            for group in assembler.push(line):
                yield group, group, "auditd"
        for group in assembler.flush():
            yield group, group, "auditd"
    elif framing == "iis_w3c":
        fields: str | None = None
        for line in everything:
            if not line.strip():
                continue
            if line.startswith("#"):
                if line.startswith("#Fields:"):
                    fields = line
                continue
            yield (f"{fields}\n{line}" if fields else line), line, "iis_w3c"
    else:
        for line in everything:
            if line.strip():
                yield line, line, fmt


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


def _open(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="")
    return path.open(encoding="utf-8", errors="replace", newline="")


def normalize_command(
    file: Annotated[
        Path | None,
        typer.Argument(
            help="Log file to read (.evtx and .gz understood); '-' or nothing reads standard input."
        ),
    ] = None,
    format: Annotated[
        str | None,
        typer.Option(
            "--format", "-f", help="Registry format name; default: recognise each record by content."
        ),
    ] = None,
    source: Annotated[
        str, typer.Option(help="Source id stamped on the events and mixed into their ids.")
    ] = "offline",
) -> None:
    """Normalize a log file to ECS JSON lines (stdout); dead letters and a summary go to stderr."""
    from normalizers import registry

    if format is not None and format not in registry.names():
        raise typer.BadParameter(f"unknown format {format!r}; known: {', '.join(registry.names())}")
    stdin = file is None or str(file) == "-"
    if not stdin and file is not None and not file.is_file():
        raise typer.BadParameter(f"no such file: {file}")
    stage = NormalizeStage()
    out = sys.stdout.buffer
    err = sys.stderr.buffer
    counts = {"records": 0, "events": 0, "dead_letters": 0}

    def emit(payload: str, basis: str, fmt: str | None, received_at: datetime) -> None:
        counts["records"] += 1
        record = RawRecord(
            id=record_id(source, basis),
            source_id=source,
            format=fmt,
            received_at=received_at,
            payload=payload,
        )
        result = stage(record)
        if isinstance(result, DeadLetter):
            counts["dead_letters"] += 1
            err.write(result.to_json() + b"\n")
        else:
            counts["events"] += 1
            out.write(result.to_json() + b"\n")

    if not stdin and file is not None and file.suffix.lower() == ".evtx":
        _evtx(file, source, format or "evtx_json", emit, counts, err)
    elif stdin:
        now = utcnow()
        for payload, basis, fmt in frame(sys.stdin, format):
            emit(payload, basis, fmt, now)
    else:
        assert file is not None
        modified = datetime.fromtimestamp(file.stat().st_mtime, UTC)
        with _open(file) as handle:
            for payload, basis, fmt in frame(handle, format):
                emit(payload, basis, fmt, modified)
    out.flush()
    name = "-" if stdin else str(file)
    err.write(
        f"normalize: {name}: {counts['records']} records, {counts['events']} events, "
        f"{counts['dead_letters']} dead letters\n".encode()
    )
    err.flush()


def _evtx(
    path: Path,
    source: str,
    fmt: str,
    emit: Emit,
    counts: dict[str, int],
    err: IO[bytes],
) -> None:
    """EVTX records through the stage; unreadable ones become `read` dead letters."""
    from normalizers.evtx_file import iter_records

    def unreadable(name: str, reason: str) -> None:
        counts["dead_letters"] += 1
        letter = DeadLetter(
            id=record_id(source, f"{name}\x00{reason}\x00{counts['dead_letters']}"),
            source_id=source,
            stage="read",
            format_tried=fmt,
            reason=reason,
            raw="",
        )
        err.write(letter.to_json() + b"\n")

    modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    for payload in iter_records(path, on_error=unreadable):
        emit(payload, payload, fmt, modified)
