"""Tailing files by glob, through rotation by rename and by copy-truncate.

A file is known by its device and inode, not its name:

- rotation by rename (`app.log` -> `app.log.1`, a new `app.log` created): the renamed file keeps
  its inode, so it is read to its end through the open handle (also if it was deleted), then
  closed once it has been idle for `rotate_grace_s`; the new `app.log` is a new file, read from 0;
- copy-truncate (`app.log` copied, then truncated in place): the size drops below the position,
  so reading restarts at 0. Lines written between the last read and the copy exist only in the
  copy: match the copy with the glob only with rename rotation (a copy is a new inode, and would
  be shipped again); exclude `*.gz` and friends (excluded by default).

Only whole lines are shipped: a last line without LF waits until it is completed. A line over
`max_line_bytes` is skipped whole (counted, logged). Bytes that are not UTF-8 are sent with the
bad bytes escaped as `\\xNN`, counted and logged, rather than guessed at or dropped.

Shipper record id: `host:origin-path:inode:offset:digest`. The inode (not the current name)
survives a rename; the offset orders records in the file; the digest of the line tells the new
content at an offset apart from the old one after a truncation; the host tells cloned machines
apart. The same line at the same place always gets the same id, so re-reading after a crash
yields duplicates the pipeline recognises.
"""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import logging
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from ingest.shipper.storage import Checkpoint, FilePosition

log = logging.getLogger(__name__)

DEFAULT_EXCLUDES = ("*.gz", "*.bz2", "*.xz", "*.zst", "*.zip", "*.tmp")
READ_CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Line:
    id: str
    payload: str


@dataclass
class TailStats:
    lines: int = 0
    bytes: int = 0
    oversized: int = 0
    invalid_utf8: int = 0
    truncations: int = 0
    rotations: int = 0


@dataclass
class _Tracked:
    key: str
    ino: int
    path: str
    origin: str
    offset: int
    fh: BinaryIO
    last_activity: float = field(default_factory=time.monotonic)
    rotated: bool = False
    skipping: bool = False  # inside an oversized line: drop bytes up to the next LF


def _key(st: os.stat_result) -> str:
    return f"{st.st_dev}:{st.st_ino}"


def line_digest(raw: bytes) -> str:
    return hashlib.blake2b(raw, digest_size=6).hexdigest()


class Tailer:
    def __init__(
        self,
        patterns: Sequence[str],
        checkpoint: Checkpoint,
        *,
        excludes: Sequence[str] = DEFAULT_EXCLUDES,
        max_line_bytes: int = 1024 * 1024,
        rotate_grace_s: float = 5.0,
        start_at_end: bool = False,
        host: str | None = None,
    ) -> None:
        self.patterns = list(patterns)
        self.excludes = list(excludes)
        self.checkpoint = checkpoint
        self.max_line_bytes = max_line_bytes
        self.rotate_grace_s = rotate_grace_s
        self.start_at_end = start_at_end
        self.host = host or socket.gethostname()
        self.stats = TailStats()
        self._files: dict[str, _Tracked] = {}
        self._first_scan = True

    # -- discovery ---------------------------------------------------------------------------------

    def _excluded(self, path: str) -> bool:
        name = os.path.basename(path)
        return any(fnmatch.fnmatch(name, pat) or fnmatch.fnmatch(path, pat) for pat in self.excludes)

    def scan(self) -> None:
        """Match the globs; open new files; notice rotation (a name now pointing elsewhere)."""
        seen: dict[str, str] = {}  # key -> path
        for pattern in self.patterns:
            for path in sorted(glob.glob(pattern)):
                if self._excluded(path):
                    continue
                try:
                    st = os.stat(path)
                except FileNotFoundError:
                    continue
                if not os.path.isfile(path):
                    continue
                seen.setdefault(_key(st), path)
        for key, path in seen.items():
            tracked = self._files.get(key)
            if tracked is None:
                self._open(key, path)
            elif tracked.path != path:
                log.info("file %s was renamed to %s (rotation); reading on", tracked.path, path)
                tracked.path = path
        if self._first_scan:
            self._recover_rotated(seen)
        for key, tracked in self._files.items():
            if key not in seen and not tracked.rotated:
                tracked.rotated = True
                self.stats.rotations += 1
                log.info("file %s was rotated away or deleted; reading it to its end", tracked.path)
        self._first_scan = False

    def _recover_rotated(self, seen: dict[str, str]) -> None:
        """After a restart: a checkpointed file the globs no longer match was rotated while we were
        down; find it by inode next to its last known name and read it to its end."""
        for key, pos in self.checkpoint.files.items():
            if key in seen or key in self._files:
                continue
            folders = {os.path.dirname(pos.path) or ".", os.path.dirname(pos.origin) or "."}
            for folder in folders:
                try:
                    entries = list(os.scandir(folder))
                except OSError:
                    continue
                match = next((e.path for e in entries if e.is_file() and _key(e.stat()) == key), None)
                if match is not None:
                    log.info("resuming rotated file %s (was %s) at offset %d", match, pos.path, pos.offset)
                    self._open(key, match)
                    if key in self._files:
                        self._files[key].rotated = True
                    break
            else:
                log.warning(
                    "checkpointed file %s (inode %s) is gone; what it held after offset %d and "
                    "was not shipped before the restart is lost",
                    pos.path,
                    key,
                    pos.offset,
                )

    def _open(self, key: str, path: str) -> None:
        try:
            fh = open(path, "rb")  # noqa: SIM115 - kept open across calls on purpose
        except OSError as exc:
            log.warning("cannot open %s: %s", path, exc)
            return
        st = os.fstat(fh.fileno())
        if _key(st) != key:  # replaced between stat and open: pick it up on the next scan
            fh.close()
            return
        known = self.checkpoint.files.get(key)
        if known is not None:
            offset, origin = known.offset, known.origin
            if offset > st.st_size:
                log.warning(
                    "%s is shorter than its checkpoint (%d < %d): truncated, reading from 0",
                    path,
                    st.st_size,
                    offset,
                )
                self.stats.truncations += 1
                offset = 0
        else:
            offset = st.st_size if (self.start_at_end and self._first_scan) else 0
            origin = path
            log.info("shipping %s from offset %d", path, offset)
        self._files[key] = _Tracked(key, st.st_ino, path, origin, offset, fh)

    # -- reading -----------------------------------------------------------------------------------

    def read(self, max_lines: int, max_bytes: int) -> list[Line]:
        """Whole new lines from every file, at most about `max_lines` / `max_bytes`."""
        out: list[Line] = []
        budget = max_bytes
        for tracked in list(self._files.values()):
            if len(out) >= max_lines or budget <= 0:
                break
            budget -= self._read_file(tracked, out, max_lines, budget)
        self._close_idle_rotated()
        return out

    def _read_file(self, t: _Tracked, out: list[Line], max_lines: int, budget: int) -> int:
        try:
            size = os.fstat(t.fh.fileno()).st_size
        except OSError as exc:
            log.warning("cannot stat %s: %s", t.path, exc)
            return 0
        if size < t.offset:
            log.warning("%s was truncated (copy-truncate?): %d < %d, reading from 0", t.path, size, t.offset)
            self.stats.truncations += 1
            t.offset = 0
            t.skipping = False
        if size == t.offset:
            return 0
        t.fh.seek(t.offset)
        data = t.fh.read(min(READ_CHUNK, max(budget, 4096), size - t.offset))
        consumed = 0
        start = 0
        before = len(out)
        id_prefix = self._id_prefix(t)
        while len(out) < max_lines:
            nl = data.find(b"\n", start)
            if nl < 0:
                break
            raw = data[start:nl]
            line_offset = t.offset + start
            start = nl + 1
            consumed = start
            if t.skipping:
                t.skipping = False
                continue
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            if len(raw) > self.max_line_bytes:
                self._oversized(t, line_offset)
                continue
            if not raw.strip():
                continue
            out.append(
                Line(f"{id_prefix}{line_offset}:{line_digest(raw)}", self._decode(raw, t, line_offset))
            )
        self.stats.lines += len(out) - before
        if consumed == 0 and len(data) >= READ_CHUNK and data.find(b"\n") < 0:
            # a line longer than what one read returns: skip it whole once it ends
            if not t.skipping:
                self._oversized(t, t.offset)
            t.skipping = True
            consumed = len(data)
        t.offset += consumed
        if consumed:
            t.last_activity = time.monotonic()
        self.stats.bytes += consumed
        return consumed

    def _id_prefix(self, t: _Tracked) -> str:
        """`host:origin-path:inode:`, the part of a line's id shared by a file's lines; the line
        appends `offset:digest` (see the module docstring)."""
        return f"{self.host}:{t.origin}:{t.ino}:"

    def _decode(self, raw: bytes, t: _Tracked, offset: int) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.stats.invalid_utf8 += 1
            log.warning(
                "%s offset %d: line is not UTF-8 at byte %d; sent with \\x escapes", t.path, offset, exc.start
            )
            return raw.decode("utf-8", "backslashreplace")

    def _oversized(self, t: _Tracked, offset: int) -> None:
        self.stats.oversized += 1
        log.warning(
            "%s offset %d: line over %d bytes skipped (reason=too_large)", t.path, offset, self.max_line_bytes
        )

    def _close_idle_rotated(self) -> None:
        now = time.monotonic()
        for key, t in list(self._files.items()):
            if not t.rotated:
                continue
            try:
                drained = os.fstat(t.fh.fileno()).st_size <= t.offset
            except OSError:
                drained = True
            if drained and now - t.last_activity >= self.rotate_grace_s:
                log.info("finished rotated file %s (offset %d)", t.path, t.offset)
                t.fh.close()
                del self._files[key]

    # -- positions ---------------------------------------------------------------------------------

    def positions(self) -> dict[str, FilePosition]:
        """Current positions of open files (what the checkpoint should say once spooled)."""
        return {k: FilePosition(t.path, t.origin, t.offset) for k, t in self._files.items()}

    def update_checkpoint(self) -> None:
        self.checkpoint.files = self.positions()

    @property
    def open_files(self) -> int:
        return len(self._files)

    def close(self) -> None:
        for t in self._files.values():
            t.fh.close()
        self._files.clear()
