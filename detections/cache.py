"""On-disk cache of compiled rule files, so a restart does not re-run pySigma over 3,750 rules.

Entries are `FileResult`s with the content key of their file (a hash of its bytes, not its path:
the engine looks them up by content and `loader.rebind`s them to the path in use); the file is
named by the engine fingerprint (engine version, pySigma version, and the source of the modules that
decide what a compiled rule is), so any change to the compiler invalidates it without a manual bump.
A cache that cannot be read (truncated, another version's classes, garbage) is logged and rebuilt.

The cache is a pickle: keep `cache_dir` writable only by the service account, like its code.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import os
import pickle
import tempfile
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import platformdirs

from detections.loader import FileResult

log = logging.getLogger(__name__)

ENGINE_VERSION = "3"  # 3: rules with Security-log variants (`CompiledRule.variants`)

_FINGERPRINT_MODULES = (
    "compiler.py",
    "matchers.py",
    "pipelines.py",
    "loader.py",
    "filters.py",
    "cache.py",
    "correlation/document.py",
)


@cache
def engine_fingerprint() -> str:
    digest = hashlib.blake2b(digest_size=12)
    digest.update(ENGINE_VERSION.encode())
    for dist in ("pysigma", "pysigma-pipeline-sysmon", "pysigma-pipeline-windows", "google-re2"):
        try:
            digest.update(f"{dist}={metadata.version(dist)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{dist}=none".encode())
    here = Path(__file__).parent
    for name in _FINGERPRINT_MODULES:
        digest.update((here / name).read_bytes())
    return digest.hexdigest()


class RuleCache:
    """Load and save `{content key: FileResult}` in one file under `cache_dir`.

    The file holds the rule files of the last two rule sets saved (the current one and the one
    before), so alternating runs (`socpipe detect` on the whole corpus, then `--rules` one pack,
    then the corpus again) stay warm, while versions of files edited two sets ago drop out: the
    cache stays about the size of the corpus."""

    def __init__(self, cache_dir: Path) -> None:
        self.dir = Path(cache_dir)
        self.path = self.dir / f"rules-{engine_fingerprint()}.pickle"
        self._entries: dict[str, FileResult] = {}
        self._last: frozenset[str] = frozenset()  # the content keys of the last set saved

    def load(self) -> dict[str, FileResult]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            log.warning("rule cache unreadable, rebuilding path=%s error=%s", self.path, exc)
            return {}
        try:
            payload: Any = _unpickle(data)
            files = payload["files"]
            if payload.get("fingerprint") != engine_fingerprint() or not isinstance(files, dict):
                raise ValueError("fingerprint mismatch")
            if not all(isinstance(v, FileResult) for v in files.values()):
                raise ValueError("unexpected entry type")
            last = frozenset(payload["last"])
        except Exception as exc:  # any unpickling failure means a corrupt or foreign cache: rebuild
            log.warning("rule cache corrupt, rebuilding path=%s error=%r", self.path, exc)
            return {}
        self._entries, self._last = files, last
        return dict(files)

    def stale(self, files: dict[str, FileResult]) -> bool:
        """Whether `files` (the set just loaded) differs from the last set saved."""
        return {result.key for result in files.values()} != self._last

    def save(self, files: dict[str, FileResult]) -> None:
        """Atomic replace, so a crash mid-write leaves the previous cache (or none), never half."""
        current = {result.key: result for result in files.values()}
        kept = {k: self._entries[k] for k in self._last if k in self._entries and k not in current}
        entries = current | kept
        self.dir.mkdir(parents=True, exist_ok=True)
        payload = {"fingerprint": engine_fingerprint(), "files": entries, "last": sorted(current)}
        fd, tmp = tempfile.mkstemp(prefix=".rules-", suffix=".tmp", dir=self.dir)
        try:
            with os.fdopen(fd, "wb") as handle:
                pickle.dump(payload, handle, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._entries, self._last = entries, frozenset(current)
        for stale in self.dir.glob("rules-*.pickle"):
            if stale != self.path:
                stale.unlink(missing_ok=True)


def _unpickle(data: bytes) -> Any:
    """`pickle.loads` with the cyclic collector paused: unpickling the rule set allocates over a
    hundred thousand containers, each full collection on the way re-walks all of them (measured:
    0.7 s with the collector on, 0.2-0.4 s off). Nothing it builds is garbage."""
    paused = gc.isenabled()
    gc.disable()
    try:
        return pickle.loads(data)
    finally:
        if paused:
            gc.enable()


def default_cache_dir() -> Path:
    """The compiled-rule cache of offline commands in the user's cache folder
    (`~/.cache/socpipe/rule-cache` on Linux; `deploy/local` keeps its downloads beside it)."""
    return Path(platformdirs.user_cache_dir("socpipe", appauthor=False)) / "rule-cache"
