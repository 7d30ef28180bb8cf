"""Sigma rules -> alerts: loading, compiling, the matcher, the detect stage.

The matcher nodes, the dispatch index, the engine and the detect stage (`detections.matchers`,
`detections.index`, `detections.engine`, `detections.stage`: the per-event hot path) may run
compiled by mypyc (`make native`, see `deploy/native/build.py`);
importing the package refuses a build made from other source (`soc_core.native`). Without
compiled modules the package is plain Python.
"""

from __future__ import annotations

from pathlib import Path

from soc_core.native import check_compiled_modules

check_compiled_modules(Path(__file__).resolve().parent)
