"""Where generated reports are kept: the files as the evidence folder keeps uploads (content
addressed under `<data_dir>/evidence/sha256/`, read back checked against their hash:
`api.inspections.evidence.keep` / `open_kept`), and one JSON record per report under
`<data_dir>/reports/` with the figures, the files and whom it was mailed to.

Records are written whole to a temporary file and renamed, so a reader never sees half a record;
each generation gets its own id, so the scheduler (which mails) and an admin's "generate now"
(which writes a new record) never write the same file. The data folder is shared by the processes
that generate and serve reports, as it already is for evidence.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.errors import NotFound
from api.inspections import evidence
from api.periodic.content import PeriodicReport
from api.periodic.periods import ReportKind

REPORT_ID = re.compile(r"(weekly|monthly)-\d{8}-\d{20}")
"""`weekly-20250602-20250609010000123456`: kind, first day, generation time (UTC, microseconds)."""
MAX_FILE_BYTES = 512 * 1024 * 1024
"""A report file is a few hundred kilobytes; `keep` wants a bound, and this one is never reached."""

Format = Literal["pdf", "docx"]
MEDIA: dict[str, str] = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


class StoredFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    filename: str
    sha256: str
    size: int
    stored_as: str


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
        return StoredReport.model_validate_json(path.read_text(encoding="utf-8"))

    def list(self) -> list[StoredReport]:
        """Every report, newest generation first."""
        if not self.folder.is_dir():
            return []
        found = [
            StoredReport.model_validate_json(p.read_text(encoding="utf-8"))
            for p in self.folder.glob("*.json")
            if not p.name.startswith(".")
        ]
        return sorted(found, key=lambda r: (r.generated_at, r.id), reverse=True)

    def has_period(self, kind: ReportKind, first: date) -> bool:
        return any(r.kind == kind and r.period_first == first for r in self.list())

    def open(self, report_id: str, fmt: Format) -> tuple[Path, StoredFile]:
        """A report's file on disk, checked against its SHA-256."""
        report = self.get(report_id)
        file = report.files.get(fmt)
        if file is None:
            raise NotFound("no such report file", report_id=report_id, format=fmt)
        return evidence.open_kept(self.data_dir, file), file
