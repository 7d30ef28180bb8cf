"""CSV files for spreadsheets, streamed: UTF-8 with a byte order mark, every text cell escaped.

Excel opens a CSV as the machine's legacy code page unless the file starts with a BOM, which would
turn "Đã xử lý" into mojibake; LibreOffice and Python's `utf-8-sig` read the BOM and drop it. Cells
pass through `api.reports.cells.escape`, so a rule name or a host name written as `=HYPERLINK(...)`
stays text. Rows are written in chunks as they come, so a large export never sits whole in memory.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence

from api.reports import cells

BOM = "\ufeff"
CHUNK_ROWS = 500


def csv_stream(header: Sequence[str], rows: Iterable[Sequence[object]]) -> Iterator[bytes]:
    """The header (after the BOM) and then the rows, as UTF-8 chunks of up to `CHUNK_ROWS` rows."""
    out = io.StringIO()
    writer = csv.writer(out)
    out.write(BOM)
    writer.writerow(header)
    pending = 0
    for row in rows:
        writer.writerow(["" if value is None else cells.escape(value) for value in row])
        pending += 1
        if pending == CHUNK_ROWS:
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
            pending = 0
    yield out.getvalue().encode()
