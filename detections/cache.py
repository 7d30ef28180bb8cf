"""On-disk cache of compiled rule files, so a restart does not re-run pySigma over 3,750 rules.

Entries are `FileResult`s keyed by a hash of each file's path and bytes; the whole cache file is
named by the engine fingerprint (engine version, pySigma version, and the source of the modules that
decide what a compiled rule is), so any change to the compiler invalidates it without a manual bump.
A cache that cannot be read (truncated, another version's classes, garbage) is logged and rebuilt.

The cache is a pickle: keep `cache_dir` writable only by the service account, like its code.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import tempfile
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from detections.loader import FileResult

log = logging.getLogger(__name__)

ENGINE_VERSION = "3"  # 3: rules with Security-log variants (`CompiledRule.variants`)

_FINGERPRINT_MODULES = ("compiler.py", "matchers.py", "pipelines.py", "loader.py", "cache.py")


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
    """Load and save `{file key: FileResult}` in one file under `cache_dir`."""

    def __init__(self, cache_dir: Path) -> None:
        self.dir = Path(cache_dir)
        self.path = self.dir / f"rules-{engine_fingerprint()}.pickle"

    def load(self) -> dict[str, FileResult]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            log.warning("rule cache unreadable, rebuilding path=%s error=%s", self.path, exc)
            return {}
        try:
            payload: Any = pickle.loads(data)
            files = payload["files"]
            if payload.get("fingerprint") != engine_fingerprint() or not isinstance(files, dict):
                raise ValueError("fingerprint mismatch")
            if not all(isinstance(v, FileResult) for v in files.values()):
                raise ValueError("unexpected entry type")
        except Exception as exc:  # any unpickling failure means a corrupt or foreign cache: rebuild
            log.warning("rule cache corrupt, rebuilding path=%s error=%r", self.path, exc)
            return {}
        return files

    def save(self, files: dict[str, FileResult]) -> None:
        """Atomic replace, so a crash mid-write leaves the previous cache (or none), never half."""
        self.dir.mkdir(parents=True, exist_ok=True)
        payload = {"fingerprint": engine_fingerprint(), "files": files}
        fd, tmp = tempfile.mkstemp(prefix=".rules-", suffix=".tmp", dir=self.dir)
        try:
            with os.fdopen(fd, "wb") as handle:
                pickle.dump(payload, handle, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        for stale in self.dir.glob("rules-*.pickle"):
            if stale != self.path:
                stale.unlink(missing_ok=True)
