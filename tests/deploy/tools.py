"""The deployment tests' tools (`make deploy-tools`, pinned in deploy/tools): where they are, and a
missing one fails the test in CI and skips it elsewhere (like the servers: tests/servers.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.servers import in_ci

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".socpipe" / "tools"
SCHEMAS = TOOLS / "schemas"


def missing(what: str) -> None:
    message = f"{what} is missing: run `make deploy-tools`"
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)


def tool(name: str) -> str:
    """A binary from .socpipe/tools/bin (Go tools) or the virtualenv's bin (PyPI tools)."""
    for folder in (TOOLS / "bin", Path(sys.executable).parent):
        if (folder / name).is_file():
            return str(folder / name)
    found = shutil.which(name)
    if found is None:
        missing(name)
        raise AssertionError  # unreachable: missing() fails or skips
    return found


def schemas() -> dict[str, Any]:
    """The schema folder's versions.json (deploy/tools/schemas.py)."""
    versions = SCHEMAS / "versions.json"
    if not versions.is_file():
        missing(f"the schemas ({versions})")
    return dict(json.loads(versions.read_text()))


def run(cmd: list[str], *, input: str | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, input=input, cwd=cwd, check=False, timeout=120)
