"""Log formats -> ECS: one module per format, listed in `normalizers.registry`.

The modules may run compiled by mypyc (`make native`, see `deploy/native/build.py`): extension
modules beside the sources that Python imports in their place. A compiled module built from other
source would silently run old code, so importing the package checks the build's manifest and
refuses a stale build (`StaleCompiledModules` says what to run). Without compiled modules the
package is plain Python.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

_HERE = Path(__file__).resolve().parent
_MANIFEST = _HERE / "_native.json"


class StaleCompiledModules(ImportError):
    """The compiled normalizers do not match their sources (edited or checked out since the build)."""

    def __init__(self, modules: list[str]) -> None:
        self.modules = modules
        super().__init__(
            f"normalizers compiled from other source ({', '.join(modules)}): "
            "run `make native` to rebuild, or `make clean-native` to run the Python sources"
        )


def check_compiled_modules(folder: Path = _HERE) -> None:
    """Raise `StaleCompiledModules` if `folder` holds compiled modules its sources no longer match."""
    compiled = [*folder.glob("*.so"), *folder.glob("*.pyd")]
    if not compiled:
        return
    try:
        built: dict[str, str] = json.loads((folder / _MANIFEST.name).read_text())
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


check_compiled_modules()
