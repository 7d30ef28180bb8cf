"""The guard for modules compiled by mypyc (`make native`, `deploy/native/build.py`).

A package with compiled hot paths (the normalizers; the detection matchers and index) holds
extension modules beside their sources, which Python imports in their place. A compiled module
built from other source would silently run old code, so the build writes `_native.json` (a digest
of every compiled source) into the package, and the package's `__init__` calls
`check_compiled_modules` on import: a stale build is refused (`StaleCompiledModules` says what to
run). A package with no compiled modules is plain Python and needs no manifest.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

MANIFEST = "_native.json"


class StaleCompiledModules(ImportError):
    """Compiled modules that do not match their sources (edited or checked out since the build)."""

    def __init__(self, modules: list[str]) -> None:
        self.modules = modules
        super().__init__(
            f"modules compiled from other source ({', '.join(modules)}): "
            "run `make native` to rebuild, or `make clean-native` to run the Python sources"
        )


def check_compiled_modules(folder: Path) -> None:
    """Raise `StaleCompiledModules` if `folder` holds compiled modules its sources no longer match."""
    compiled = [*folder.glob("*.so"), *folder.glob("*.pyd")]
    if not compiled:
        return
    try:
        built: dict[str, str] = json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError:
        raise StaleCompiledModules(["no build manifest"]) from None
    stale = [
        name
        for name, digest in sorted(built.items())
        if not (folder / name).exists()
        or hashlib.blake2b((folder / name).read_bytes(), digest_size=16).hexdigest() != digest
    ]
    if stale:
        raise StaleCompiledModules(stale)
