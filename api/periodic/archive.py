"""Where generated reports are kept: the files as the evidence folder keeps uploads (content
addressed under `<data_dir>/evidence/sha256/`, read back checked against their hash:
`api.inspections.evidence.keep` / `open_kept`), and one JSON record per report under
`<data_dir>/reports/` with the figures, the files and whom it was mailed to.

Records are written whole to a temporary file and renamed, so a reader never sees half a record;
each generation gets its own id, so the scheduler (which mails) and an admin's "generate now"
(which writes a new record) never write the same file. The data folder is shared by the processes
that generate and serve reports, as it already is for evidence.

A record that cannot be read (cut short by a full disk, edited by hand, written by a newer
version) is skipped by the listing, not fatal to it: `scan` returns it apart with the reason, the
log names it once per process, `soc_report_records_unreadable` counts them and the console says
how many; the scheduler makes each a dead letter (`socpipe.jobs.ReportJob`).

The only record two processes rewrite is a report's mailing (the scheduler records deliveries,
an admin asks for a resend): `update` does that read-modify-write under an exclusive lock on the
folder, so neither loses the other's change.
"""

from __future__ import annotations

import fcntl
import io
import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.errors import NotFound
from api.inspections import evidence
from api.periodic.content import PeriodicReport
from api.periodic.periods import ReportKind
from soc_core.errors import StoreError
from soc_core.metrics import REPORT_RECORDS_UNREADABLE

log = logging.getLogger(__name__)

REPORT_ID = re.compile(r"(weekly|monthly)-\d{8}-\d{20}")
"""`weekly-20250602-20250609010000123456`: kind, first day, generation time (UTC, microseconds)."""
MAX_FILE_BYTES = 512 * 1024 * 1024
"""A report file is a few hundred kilobytes; `keep` wants a bound, and this one is never reached."""

Format = Literal["pdf", "docx"]
MEDIA: dict[str, str] = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


class ReportUnreadable(StoreError):
    """A report's record exists but cannot be read back (a problem of the data folder, not of the
    request: answered 503 like the store being unavailable)."""


@dataclass(frozen=True)
class UnreadableRecord:
    """A file under `reports/` the listing skipped, and why."""

    name: str
    reason: str
    raw: str
    """The start of what the file holds (for the dead letter), empty when it could not be read."""
    modified: datetime | None
    """When the file was last written (None: not even that could be read)."""


@dataclass(frozen=True)
class Listing:
    reports: list[StoredReport]
    """Every readable report, newest generation first."""
    unreadable: list[UnreadableRecord]


_LOGGED: set[tuple[str, int, int]] = set()
"""(path, size, mtime) of unreadable records already logged by this process: a page listed every
few seconds names a bad file once, and again only when it changes."""
RAW_CHARS = 4000


class StoredFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    filename: str
    sha256: str
    size: int
    stored_as: str


class Resend(BaseModel):
    """An admin's request to mail a report again to the addresses it could not reach."""

    model_config = ConfigDict(extra="forbid")

    at: datetime
    by: str
    addresses: list[str]
    reasons: dict[str, str] = Field(description="address: why the previous try failed")


class ReportSummary(BaseModel):
    """A generated report: what it covers, who made it and how, its files and its mailing."""

    model_config = ConfigDict(extra="forbid")

    id: str
    kind: ReportKind
    period_first: date
    period_following: date
    title: str
    generated_at: datetime
    generated_by: str
    trigger: Literal["schedule", "manual"]
    files: dict[Format, StoredFile]
    recipients: list[str] = Field(description="the mailing list when it was generated")
    delivered: dict[str, datetime] = Field(default_factory=dict, description="address: accepted at")
    failed: dict[str, str] = Field(default_factory=dict, description="address: why it was not delivered")
    resends: list[Resend] = Field(
        default_factory=list,
        description="resends asked for by an admin, oldest first (the scheduler mails them)",
    )

    def tries_before(self, address: str) -> int:
        """How many resends of this report included `address` (0: its first mailing)."""
        return sum(address in r.addresses for r in self.resends)


class StoredReport(ReportSummary):
    """The record kept for a report: the summary and the figures the documents were rendered from."""

    figures: PeriodicReport

    @property
    def period_last(self) -> date:
        return self.period_following - timedelta(days=1)

    @property
    def undelivered(self) -> list[str]:
        """Recipients neither delivered to nor given up on."""
        return [r for r in self.recipients if r not in self.delivered and r not in self.failed]


class ReportArchive:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.folder = data_dir / "reports"

    def _path(self, report_id: str) -> Path:
        if not REPORT_ID.fullmatch(report_id):
            raise NotFound("no such report", report_id=report_id)
        return self.folder / f"{report_id}.json"

    def keep(self, report_id: str, fmt: Format, content: bytes, filename: str) -> StoredFile:
        kept = evidence.keep(io.BytesIO(content), self.data_dir, MAX_FILE_BYTES)
        return StoredFile(
            id=f"{report_id}.{fmt}",
            filename=filename,
            sha256=kept.sha256,
            size=kept.size,
            stored_as=kept.stored_as,
        )

    def save(self, report: StoredReport) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(report.model_dump_json(indent=1))
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self._path(report.id))
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def get(self, report_id: str) -> StoredReport:
        path = self._path(report_id)
        if not path.is_file():
            raise NotFound("no such report", report_id=report_id)
        report = _read(path)
        if isinstance(report, UnreadableRecord):
            raise ReportUnreadable(
                "the report's record cannot be read", report_id=report_id, reason=report.reason
            )
        return report

    def scan(self) -> Listing:
        """Every readable report, newest generation first, and the records that could not be read."""
        if not self.folder.is_dir():
            REPORT_RECORDS_UNREADABLE.set(0)
            return Listing([], [])
        found: list[StoredReport] = []
        unreadable: list[UnreadableRecord] = []
        for path in sorted(self.folder.glob("*.json")):
            if path.name.startswith("."):
                continue
            read = _read(path)
            if isinstance(read, UnreadableRecord):
                unreadable.append(read)
                _log_once(path, read.reason)
            else:
                found.append(read)
        REPORT_RECORDS_UNREADABLE.set(len(unreadable))
        found.sort(key=lambda r: (r.generated_at, r.id), reverse=True)
        return Listing(found, unreadable)

    def list(self) -> list[StoredReport]:
        """Every readable report, newest generation first (`scan` says which were skipped)."""
        return self.scan().reports

    def update(self, report_id: str, change: Callable[[StoredReport], None]) -> StoredReport:
        """Read the record, apply `change` to it and save it, under the folder's lock."""
        with self._locked():
            report = self.get(report_id)
            change(report)
            self.save(report)
        return report

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / ".lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def has_period(self, kind: ReportKind, first: date) -> bool:
        return any(r.kind == kind and r.period_first == first for r in self.list())

    def open(self, report_id: str, fmt: Format) -> tuple[Path, StoredFile]:
        """A report's file on disk, checked against its SHA-256."""
        report = self.get(report_id)
        file = report.files.get(fmt)
        if file is None:
            raise NotFound("no such report file", report_id=report_id, format=fmt)
        return evidence.open_kept(self.data_dir, file), file


def _read(path: Path) -> StoredReport | UnreadableRecord:
    """The record in `path`, or why it cannot be one (unreadable, not JSON, not a report's shape,
    or holding another report than its name says)."""
    raw = b""
    try:
        modified: datetime | None = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except OSError:
        modified = None
    try:
        raw = path.read_bytes()
        report = StoredReport.model_validate_json(raw)
    except OSError as exc:
        return UnreadableRecord(path.name, f"cannot read the file: {exc.strerror or exc}", "", modified)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the document"
        reason = f"not a report record ({exc.error_count()} problems; {where}: {first['msg']})"
        return UnreadableRecord(path.name, reason, _text(raw), modified)
    if f"{report.id}.json" != path.name:
        reason = f"the record is report {report.id}, not its file name"
        return UnreadableRecord(path.name, reason, _text(raw), modified)
    return report


def _text(raw: bytes) -> str:
    return raw[:RAW_CHARS].decode("utf-8", errors="replace")


def _log_once(path: Path, reason: str) -> None:
    try:
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns)
    except OSError:
        key = (str(path), -1, -1)
    if key not in _LOGGED:
        _LOGGED.add(key)
        log.warning("report record %s skipped: %s", path, reason)
