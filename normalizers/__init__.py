"""Log formats -> ECS: one module per format, listed in `normalizers.registry`.

The modules may run compiled by mypyc (`make native`, see `deploy/native/build.py`): extension
modules beside the sources that Python imports in their place. A compiled module built from other
source would silently run old code, so importing the package checks the build's manifest and
refuses a stale build (`soc_core.native`). Without compiled modules the package is plain Python.
"""

from __future__ import annotations

from pathlib import Path

from soc_core.native import StaleCompiledModules, check_compiled_modules

__all__ = ["StaleCompiledModules", "check_compiled_modules"]

check_compiled_modules(Path(__file__).resolve().parent)
