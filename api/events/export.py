"""The explorer's exports, written as they are read: CSV for spreadsheets, NDJSON for tools.

CSV is UTF-8 with a byte order mark (without it Excel reads Vietnamese as Windows-1252) and CRLF
line ends; every text cell goes through `api.reports.cells.escape`, so a log line such as
`=HYPERLINK("http://evil")` is text in the analyst's spreadsheet, not a formula. Columns are the
explorer's chosen columns (dotted ECS names); a list is written as its values joined by ", ".
NDJSON is each whole event document as stored, one per line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence

from api.events.service import cell_text
from api.reports import cells
from soc_core.event import Event

BOM = "\ufeff"
FLUSH_ROWS = 200
"""Rows buffered before a piece of the response is sent (a few tens of kilobytes)."""
DEFAULT_COLUMNS = ("@timestamp", "host.name", "event.action", "user.name", "source.ip", "message")


def csv_chunks(columns: Sequence[str], events: Iterable[Event]) -> Iterator[bytes]:
    """The header row then the events' rows, in pieces of `FLUSH_ROWS` rows."""
    out = io.StringIO()
    writer = csv.writer(out)
    out.write(BOM)
    writer.writerow([cells.escape(c) for c in columns])
    pending = 0
    for event in events:
        flat = event.flat()
        writer.writerow([cells.escape(cell_text(flat.get(c)) or "") for c in columns])
        pending += 1
        if pending >= FLUSH_ROWS:
            yield out.getvalue().encode("utf-8")
            out.seek(0)
            out.truncate()
            pending = 0
    yield out.getvalue().encode("utf-8")


def ndjson_chunks(events: Iterable[Event]) -> Iterator[bytes]:
    """One JSON document per line, in pieces of `FLUSH_ROWS` lines."""
    lines: list[bytes] = []
    for event in events:
        lines.append(event.to_json())
        if len(lines) >= FLUSH_ROWS:
            yield b"\n".join(lines) + b"\n"
            lines = []
    if lines:
        yield b"\n".join(lines) + b"\n"
