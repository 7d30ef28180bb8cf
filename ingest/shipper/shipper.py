"""The shipper loop (tail -> spool -> send) and the one-shot import of a file (`--once`)."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.shipper.sender import IntakeClient, RejectedBatch, SendError, Stopped, compress, encode_batch
from ingest.shipper.storage import Checkpoint, Spool
from ingest.shipper.tail import DEFAULT_EXCLUDES, Tailer
from soc_core.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShipperConfig:
    url: str
    token: str
    paths: Sequence[str]
    state_dir: Path
    excludes: Sequence[str] = DEFAULT_EXCLUDES
    format: str | None = None  # overrides the source's registered format when set
    batch_records: int = 2000
    batch_bytes: int = 4 * 1024 * 1024
    max_line_bytes: int = 1024 * 1024
    max_spool_bytes: int = 1024 * 1024 * 1024
    poll_interval_s: float = 0.25
    scan_interval_s: float = 2.0
    rotate_grace_s: float = 5.0
    start_at_end: bool = False
    verify_tls: bool | str = True


@dataclass
class ShipperStats:
    spooled: int = 0
    sent: int = 0
    batches: int = 0
    deadletters: int = 0
    quarantined: int = 0
    started: float = field(default_factory=time.monotonic)


class Shipper:
    """Reader thread: files -> spool + checkpoint. Sender thread: spool -> intake. Stop with `stop`."""

    def __init__(self, config: ShipperConfig, stop: threading.Event | None = None) -> None:
        self.config = config
        self.stop = stop or threading.Event()
        config.state_dir.mkdir(parents=True, exist_ok=True)
        self.checkpoint = Checkpoint(config.state_dir / "checkpoint.json").load()
        self.spool = Spool(config.state_dir / "spool", config.max_spool_bytes)
        self.tailer = Tailer(
            config.paths,
            self.checkpoint,
            excludes=config.excludes,
            max_line_bytes=config.max_line_bytes,
            rotate_grace_s=config.rotate_grace_s,
            start_at_end=config.start_at_end,
        )
        self.client = IntakeClient(config.url, config.token, stop=self.stop, verify=config.verify_tls)
        self.stats = ShipperStats()
        self._spooled = threading.Event()

    def run(self) -> None:
        """Run until `stop` is set; what was read is spooled, what was spooled is sent next time."""
        sender = threading.Thread(target=self._send_loop, name="ship-sender", daemon=True)
        sender.start()
        try:
            self._read_loop()
        finally:
            self.stop.set()
            self._spooled.set()
            sender.join(timeout=60)
            self.tailer.close()
            self.client.close()
            log.info(
                "shipper stopped: %d lines spooled, %d sent in %d batches, %d segments pending",
                self.stats.spooled,
                self.stats.sent,
                self.stats.batches,
                len(self.spool.segments()),
            )

    # -- reading -----------------------------------------------------------------------------------

    def _read_loop(self) -> None:
        cfg = self.config
        next_scan = 0.0
        full_logged = False
        while not self.stop.is_set():
            now = time.monotonic()
            if now >= next_scan:
                self.tailer.scan()
                next_scan = now + cfg.scan_interval_s
            if self.spool.full:
                if not full_logged:
                    log.warning(
                        "spool is full (%d bytes): reading paused until the intake catches up",
                        cfg.max_spool_bytes,
                    )
                    full_logged = True
                self.stop.wait(cfg.poll_interval_s)
                continue
            full_logged = False
            if not self.read_once():
                self.stop.wait(cfg.poll_interval_s)

    def read_once(self) -> int:
        """Read one batch of new lines into a spool segment, then checkpoint. Returns lines read."""
        lines = self.tailer.read(self.config.batch_records, self.config.batch_bytes)
        if lines:
            records: list[dict[str, Any]] = [{"id": ln.id, "payload": ln.payload} for ln in lines]
            if self.config.format:
                for r in records:
                    r["format"] = self.config.format
            self.spool.write(records)  # durable first ...
            self.stats.spooled += len(lines)
            self._spooled.set()
        before = self.checkpoint.files
        self.tailer.update_checkpoint()  # ... then the position (a crash in between re-reads: duplicates)
        if lines or self.checkpoint.files != before:
            self.checkpoint.save()
        return len(lines)

    # -- sending -----------------------------------------------------------------------------------

    def _send_loop(self) -> None:
        while True:
            segment = self.spool.oldest()
            if segment is None:
                if self.stop.is_set():
                    return
                self._spooled.wait(0.5)
                self._spooled.clear()
                continue
            try:
                self.send_segment(segment)
            except Stopped:
                return

    def send_segment(self, segment: Path) -> None:
        body = segment.read_bytes()
        n = body.count(b"\n")
        try:
            answer = self.client.post(compress(body))
        except RejectedBatch as exc:
            self.stats.quarantined += n
            self.spool.quarantine(segment, str(exc))
            return
        self.spool.remove(segment)
        self.stats.sent += n
        self.stats.batches += 1
        self.stats.deadletters += int(answer.get("deadletters", 0))

    def drain(self, timeout_s: float) -> bool:
        """Wait until the spool is empty (tests, `--exit-when-idle`)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.spool.segments():
                return True
            time.sleep(0.05)
        return False


# -- one-shot import --------------------------------------------------------------------------------


@dataclass
class ImportResult:
    path: Path
    records: int
    accepted: int
    deadletters: int
    sha256: str
    format: str | None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            h.update(chunk)
    return h.hexdigest()


def _evtx_records(path: Path) -> Iterator[str]:
    try:
        from normalizers.evtx_file import iter_records
    except ImportError as exc:
        raise ConfigError(
            f"cannot read {path}: EVTX support (normalizers.evtx_file) is unavailable: {exc}"
        ) from exc
    yield from iter_records(path)


def _text_records(path: Path, max_line_bytes: int) -> Iterator[tuple[int, str]]:
    offset = 0
    with path.open("rb") as fh:
        for raw in fh:
            start = offset
            offset += len(raw)
            line = raw.rstrip(b"\r\n")
            if not line.strip():
                continue
            if len(line) > max_line_bytes:
                log.warning(
                    "%s offset %d: line over %d bytes skipped (reason=too_large)", path, start, max_line_bytes
                )
                continue
            yield start, line.decode("utf-8", "backslashreplace")


def import_file(
    path: Path,
    client: IntakeClient,
    *,
    fmt: str | None = None,
    evidence: dict[str, Any] | None = None,
    batch_records: int = 2000,
    max_line_bytes: int = 1024 * 1024,
) -> ImportResult:
    """Send one file's records and return when all are accepted. Ids derive from the file's
    SHA-256 and the record's position, so importing the same evidence twice stores it once."""
    if not path.is_file():
        raise ConfigError(f"{path} is not a file")
    digest = _sha256(path)
    is_evtx = path.suffix.lower() == ".evtx"
    fmt = fmt or ("evtx_json" if is_evtx else None)
    meta = {"file": path.name, "sha256": digest, **(evidence or {})}
    records: Iterator[tuple[str, str]]
    if is_evtx:
        records = ((f"evtx:{digest[:32]}:{n}", payload) for n, payload in enumerate(_evtx_records(path)))
    else:
        records = ((f"file:{digest[:32]}:{off}", line) for off, line in _text_records(path, max_line_bytes))
    total = accepted = deadletters = 0
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal accepted, deadletters
        if batch:
            answer = client.post(encode_batch(batch))
            accepted += int(answer.get("accepted", 0))
            deadletters += int(answer.get("deadletters", 0))
            batch.clear()

    for rid, payload in records:
        rec: dict[str, Any] = {"id": rid, "payload": payload, "evidence": meta}
        if fmt:
            rec["format"] = fmt
        batch.append(rec)
        total += 1
        if len(batch) >= batch_records:
            flush()
    flush()
    return ImportResult(path, total, accepted, deadletters, digest, fmt)


__all__ = ["ImportResult", "SendError", "Shipper", "ShipperConfig", "import_file"]
