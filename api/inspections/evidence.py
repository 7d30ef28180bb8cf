"""Evidence collected on site: keep the file, then run its records through the normal stages.

An uploaded `.evtx` or log file is first kept as it came, under the data folder by its SHA-256
(`evidence/sha256/ab/abcd...`), so what the team took from the unit can be shown unchanged later.
Its records then take the same path as live telemetry (normalize -> detect -> `store_outcome`), with
one difference: each `RawRecord` carries `evidence = {"visit_id", "file_id", "unit_id"}`, which the
normalize stage stamps into `Event.soc.evidence`. Coverage ignores such events (they say nothing
about whether the unit's systems deliver logs), and the dossier shows them as evidence of the visit.

Record ids hash the unit's evidence source, the visit, the file's hash and the record's position,
so uploading the same file to the same visit again changes nothing (the upload answers the file
already kept), while the same file from a later visit is new evidence of that visit.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from api.auth.deps import Principal
from api.errors import InvalidChange
from api.inspections import service
from api.inspections.errors import EvidenceRejected, EvidenceTooLarge
from api.inspections.models import EvidenceFile, Visit
from normalizers.registry import names as normalizer_names
from normalizers.stage import NormalizeStage
from soc_core.alert import Alert, AlertRepeat
from soc_core.inspections import InspectionRepository
from soc_core.pipeline import BatchOutcome, Detect, detect_batch, normalize_batch, store_outcome
from soc_core.records import RawRecord, record_id
from soc_core.registry import Registry, SourceContext
from soc_core.store import Store

log = logging.getLogger(__name__)

MAX_RECORD_CHARS = 1024 * 1024
BATCH = 500
EVTX_MAGIC = b"ElfFile\x00"
KEPT_ALERT_IDS = 200
KEPT_PROBLEMS = 20


def detect_for_upload(engine: object) -> Detect:
    """A fresh detect stage with its own suppression state over the process's rule engine.

    The live stage's suppressor would fold an evidence alert into a live alert of the same rule and
    host (losing the evidence mark), and its window is about arrival, not about a file of last
    month's events; a stage per upload keeps both apart while repeats inside the file still fold.
    Correlation rules run over the whole file: their hits are applied in event-time order when the
    file ends (`_process` calls `SuppressingDetect.finish`), whatever the order of its records.
    """
    from detections.correlation.engine import LiveCorrelation
    from detections.engine import DetectionEngine
    from detections.stage import DetectStage, SuppressingDetect

    if not isinstance(engine, DetectionEngine):
        raise TypeError(f"not a detection engine: {type(engine).__name__}")
    return SuppressingDetect(
        DetectStage(engine),
        LiveCorrelation(
            lambda: engine.correlations,
            disabled=lambda: engine.disabled,  # a correlation disabled in the console runs nowhere
            lateness_s=math.inf,
            gauges=False,  # the live gauges are about the live stream
        ),
    )


def _finish(detect: Detect) -> list[Alert | AlertRepeat]:
    from detections.stage import SuppressingDetect

    return detect.finish() if isinstance(detect, SuppressingDetect) else []


def evidence_source_id(unit_id: str) -> str:
    """One pseudo log source per unit for its evidence: bounded metric labels, never a registry source."""
    return f"evidence.{unit_id}"


@dataclass
class Kept:
    """A file kept in the evidence folder: its hash, its size and its path under the data folder."""

    sha256: str
    size: int
    stored_as: str


@dataclass
class Received:
    """An upload read into the evidence folder's temporary area, hashed, not yet filed by its hash:
    a caller that may still refuse it (an incident at its attachment limit) records it first and
    `commit`s after, so a refusal leaves nothing behind (`receiving` drops the temporary file)."""

    data_dir: Path
    tmp: Path
    sha256: str
    size: int

    @property
    def stored_as(self) -> str:
        return str(Path("evidence") / "sha256" / self.sha256[:2] / self.sha256)

    def commit(self) -> Kept:
        """File it by hash, read-only (the same bytes kept before: the temporary copy is dropped)."""
        final = self.data_dir / self.stored_as
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            self.tmp.unlink()
        else:
            os.replace(self.tmp, final)
            final.chmod(0o440)  # evidence is read, never rewritten
        return Kept(sha256=self.sha256, size=self.size, stored_as=self.stored_as)


@contextmanager
def receiving(source: BinaryIO, data_dir: Path, max_bytes: int) -> Iterator[Received]:
    """Read the upload to a temporary file, refusing it past `max_bytes` or empty; whatever was not
    committed when the block ends (an error, a refusal) is removed."""
    folder = data_dir / "evidence"
    (folder / "tmp").mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    fd, tmp_name = tempfile.mkstemp(dir=folder / "tmp", prefix="upload-")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := source.read(1024 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    raise EvidenceTooLarge("the file is larger than the upload limit", limit=max_bytes)
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if size == 0:
            raise EvidenceRejected("the file is empty")
        yield Received(data_dir=data_dir, tmp=tmp, sha256=digest.hexdigest(), size=size)
    finally:
        if tmp.exists():
            tmp.unlink()


def keep(source: BinaryIO, data_dir: Path, max_bytes: int) -> Kept:
    """Copy the upload to the evidence folder by content hash, refusing it past `max_bytes`.

    Incident attachments use `receiving` and commit once the incident lists them."""
    with receiving(source, data_dir, max_bytes) as received:
        return received.commit()


def _is_evtx(path: Path, filename: str, fmt: str | None) -> bool:
    if fmt in ("evtx", "evtx_file"):
        return True
    with path.open("rb") as fh:
        return fh.read(len(EVTX_MAGIC)) == EVTX_MAGIC or (fmt is None and filename.lower().endswith(".evtx"))


def _text_lines(path: Path) -> Iterator[str]:
    """Lines of a text log: UTF-16 when it says so (Windows exports), else UTF-8 with bad bytes replaced."""
    with path.open("rb") as raw:
        head = raw.read(2)
    encoding = "utf-16" if head in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
    with (
        path.open("rb") as raw,
        io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline=None) as text,
    ):
        for line in text:
            line = line.rstrip("\r\n")
            if line.strip():
                yield line[:MAX_RECORD_CHARS]


@dataclass
class _Counts:
    records: int = 0
    events: int = 0
    duplicates: int = 0
    deadletters: int = 0
    alerts: int = 0
    repeats: int = 0
    first: datetime | None = None
    last: datetime | None = None


def ingest_evidence(
    *,
    store: Store,
    repo: InspectionRepository,
    data_dir: Path,
    visit_id: str,
    source: BinaryIO,
    filename: str,
    actor: Principal,
    max_bytes: int,
    fmt: str | None = None,
    system_id: str | None = None,
    detect: Detect | None = None,
    ip: str | None = None,
    now: datetime | None = None,
) -> tuple[EvidenceFile, bool]:
    """Keep, normalize, detect and store one uploaded file as evidence of a visit.

    Returns the file record and whether it is new (False: this visit already holds this file).
    `detect` is a detect stage (`soc_core.pipeline.Detect`); give each upload its own (see
    `detect_for_upload`) so suppression folds repeats within the file, never into live alerts.
    Without one the events are stored and shown, and no alert is raised for them.
    """
    now = now or datetime.now(UTC)
    if fmt is not None and fmt not in ("evtx", *normalizer_names()):
        raise InvalidChange("unknown log format", format=fmt, known=",".join(normalizer_names()))
    visit, _plan = service.upload_target(repo=repo, visit_id=visit_id, principal=actor)
    registry = store.load_registry()
    system = None
    if system_id:
        system = next((s for s in registry.systems if s.id == system_id), None)
        if system is None or system.unit_id != visit.unit_id:
            raise InvalidChange("the system is not one of this unit's", system_id=system_id)
    name = Path(filename.replace("\\", "/")).name[:255] or "upload"
    kept = keep(source, data_dir, max_bytes)
    existing = repo.file_by_hash(visit.id, kept.sha256)
    if existing is not None:
        return existing, False
    file = EvidenceFile(
        id=f"TL-{now:%Y%m%d}-{uuid.uuid4().hex[:6].upper()}",
        visit_id=visit.id,
        plan_id=visit.plan_id,
        unit_id=visit.unit_id,
        system_id=system_id,
        filename=name,
        sha256=kept.sha256,
        size=kept.size,
        format=fmt,
        stored_as=kept.stored_as,
        uploaded_at=now,
        uploaded_by=actor.username,
    )
    file = _process(store, registry, data_dir / kept.stored_as, file, visit, detect, now)
    repo.put_file(file)
    service.record_change(
        store,
        actor,
        "inspection.evidence.upload",
        "inspection_evidence",
        file.id,
        ip,
        {
            "visit_id": visit.id,
            "unit_id": visit.unit_id,
            "filename": file.filename,
            "sha256": file.sha256,
            "size": file.size,
            "format": file.format,
            "events": file.events,
            "alerts": file.alerts,
            "deadletters": file.deadletters,
        },
    )
    log.info(
        "evidence file ingested file_id=%s unit=%s events=%d alerts=%d deadletters=%d",
        file.id,
        file.unit_id,
        file.events,
        file.alerts,
        file.deadletters,
    )
    return file, True


def _process(
    store: Store,
    registry: Registry,
    path: Path,
    file: EvidenceFile,
    visit: Visit,
    detect: Detect | None,
    now: datetime,
) -> EvidenceFile:
    unit = next((u for u in registry.units if u.id == visit.unit_id), None)
    system = next((s for s in registry.systems if s.id == file.system_id), None)
    source_id = evidence_source_id(visit.unit_id)
    context = SourceContext(
        source_id=source_id,
        unit_id=visit.unit_id,
        unit_name=unit.name if unit else None,
        system_id=system.id if system else None,
        system_name=system.name if system else None,
        system_level=system.level if system else None,
    )
    stage = NormalizeStage(lambda sid: context if sid == source_id else None)
    problems: list[str] = []
    counts = _Counts()
    alert_ids: list[str] = []
    unreadable = 0
    if _is_evtx(path, file.filename, file.format):
        from normalizers.evtx_file import ReadStats, iter_records  # the Rust reader, loaded when needed

        stats = ReadStats()
        payloads: Iterator[str] = iter_records(path, stats)
        fmt: str | None = "evtx_json"
    else:
        stats = None
        payloads = _text_lines(path)
        fmt = file.format
    evidence = {"visit_id": visit.id, "file_id": file.id, "unit_id": visit.unit_id}
    batch: list[RawRecord] = []

    def flush(finish: bool = False) -> None:
        outcome: BatchOutcome = normalize_batch(stage, batch)
        if detect is not None:
            outcome.alerts, outcome.repeats = detect_batch(detect, outcome.events)
            if finish:  # the correlation alerts, decided at the end of the file
                decided = _finish(detect)
                outcome.alerts += [a for a in decided if isinstance(a, Alert)]
                outcome.repeats += [r for r in decided if isinstance(r, AlertRepeat)]
        result = store_outcome(store, outcome)
        counts.events += len(outcome.events)
        counts.repeats += len(outcome.repeats)
        counts.deadletters += len(outcome.deadletters) + len(result.failed)
        counts.duplicates += result.duplicates
        counts.alerts += len(outcome.alerts)
        for alert in outcome.alerts:
            if len(alert_ids) < KEPT_ALERT_IDS and alert.id not in alert_ids:
                alert_ids.append(alert.id)
        for event in outcome.events:
            counts.first = min(counts.first or event.timestamp, event.timestamp)
            counts.last = max(counts.last or event.timestamp, event.timestamp)
        for letter in outcome.deadletters:
            if len(problems) < KEPT_PROBLEMS:
                problems.append(letter.reason[:300])
        batch.clear()

    for n, payload in enumerate(payloads):
        counts.records += 1
        batch.append(
            RawRecord(
                id=record_id(source_id, payload, shipper_id=f"{visit.id}:{file.sha256}:{n}"),
                source_id=source_id,
                unit_id=visit.unit_id,
                system_id=file.system_id,
                format=fmt,
                received_at=now,
                payload=payload,
                evidence=evidence,
            )
        )
        if len(batch) >= BATCH:
            flush()
    flush(finish=True)
    if stats is not None:
        unreadable = stats.errors
        if stats.file_error:
            problems.insert(0, stats.file_error[:300])
        problems.extend(r[:300] for r in stats.reasons[: max(0, KEPT_PROBLEMS - len(problems))])
        if counts.records == 0 and not problems:
            problems.append("the EVTX file holds no readable record")
    elif counts.records == 0:
        problems.append("the file holds no line of text")
    store.refresh()
    return file.model_copy(
        update={
            "format": fmt or file.format,
            "records": counts.records,
            "events": counts.events,
            "duplicates": counts.duplicates,
            "deadletters": counts.deadletters,
            "unreadable": unreadable,
            "alerts": counts.alerts,
            "alert_repeats": counts.repeats,
            "alert_ids": alert_ids,
            "first_event_at": counts.first,
            "last_event_at": counts.last,
            "problems": problems,
        }
    )


class KeptRecord(Protocol):
    """What `open_kept` reads of a record of a kept file (an evidence file, an incident attachment)."""

    @property
    def id(self) -> str: ...

    @property
    def stored_as(self) -> str: ...

    @property
    def sha256(self) -> str: ...


def open_kept(data_dir: Path, file: KeptRecord) -> Path:
    """The kept file on disk, checked against its hash so what is handed out is what was received."""
    path = (data_dir / file.stored_as).resolve()
    root = (data_dir / "evidence").resolve()
    if root not in path.parents or not path.is_file():
        raise EvidenceRejected("the kept file is missing", file_id=file.id)
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
    if digest.hexdigest() != file.sha256:
        raise EvidenceRejected("the kept file no longer matches its SHA-256", file_id=file.id)
    return path
