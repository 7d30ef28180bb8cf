"""Crash-safe files for the shipper: the checkpoint (atomic replace) and the spool (segments).

The checkpoint is written as temp file + fsync + rename + fsync of the folder, so after a crash it
is either the old or the new version, never a torn one. Spool segments are written the same way
and are immutable afterwards; the sender deletes a segment only after the intake answered 202.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from soc_core.errors import ConfigError

log = logging.getLogger(__name__)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Replace `path` with `data`: readers see the old or the new content, whatever happens."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


@dataclass
class FilePosition:
    """Where reading of one file (identified by device and inode) stands."""

    path: str
    origin: str
    offset: int


class Checkpoint:
    """File positions by `dev:ino`, saved atomically as JSON."""

    VERSION = 1

    def __init__(self, path: Path) -> None:
        self.path = path
        self.files: dict[str, FilePosition] = {}

    def load(self) -> Checkpoint:
        if not self.path.exists():
            return self
        try:
            doc: dict[str, Any] = orjson.loads(self.path.read_bytes())
            self.files = {
                key: FilePosition(str(v["path"]), str(v.get("origin", v["path"])), int(v["offset"]))
                for key, v in doc.get("files", {}).items()
            }
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ConfigError(
                f"checkpoint {self.path} is unreadable: {exc}; move it away to start over"
            ) from exc
        return self

    def save(self) -> None:
        doc = {
            "version": self.VERSION,
            "files": {
                k: {"path": p.path, "origin": p.origin, "offset": p.offset} for k, p in self.files.items()
            },
        }
        atomic_write(self.path, orjson.dumps(doc, option=orjson.OPT_INDENT_2))


class Spool:
    """Immutable NDJSON segments named by a growing sequence number; oldest first."""

    SUFFIX = ".ndjson"

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.rejected = folder / "rejected"
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob(".*.tmp-*"):
            stale.unlink(missing_ok=True)  # a segment torn by a crash was never checkpointed
        existing = self.segments()
        self._seq = int(existing[-1].stem) + 1 if existing else 1

    def segments(self) -> list[Path]:
        return sorted(self.folder.glob(f"*{self.SUFFIX}"))

    def oldest(self) -> Path | None:
        segments = self.segments()
        return segments[0] if segments else None

    def size(self) -> int:
        total = 0
        for seg in self.segments():
            with contextlib.suppress(FileNotFoundError):
                total += seg.stat().st_size
        return total

    @property
    def full(self) -> bool:
        return self.size() >= self.max_bytes

    def write(self, records: list[dict[str, Any]]) -> Path:
        path = self.folder / f"{self._seq:020d}{self.SUFFIX}"
        self._seq += 1
        atomic_write(path, b"".join(orjson.dumps(r) + b"\n" for r in records))
        return path

    def remove(self, segment: Path) -> None:
        segment.unlink(missing_ok=True)

    def quarantine(self, segment: Path, reason: str) -> Path:
        """Keep a segment the intake refused for good (400/413) aside, for an operator."""
        self.rejected.mkdir(exist_ok=True)
        target = self.rejected / segment.name
        os.replace(segment, target)
        target.with_suffix(".reason").write_text(reason + "\n", encoding="utf-8")
        log.error("spool segment %s refused by the intake, moved to %s: %s", segment.name, target, reason)
        return target
