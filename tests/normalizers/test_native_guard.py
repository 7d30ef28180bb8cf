"""A compiled normalizer built from other source is refused at import, not silently run.

`make native` (deploy/native/build.py) writes a digest of every compiled source; the package
checks it on import. These tests build a stand-in package folder (an empty file stands for the
extension module: the check reads names and digests, it never loads the file).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from normalizers import StaleCompiledModules, check_compiled_modules


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _package(tmp_path: Path, built_from: str, now: str) -> Path:
    (tmp_path / "cef.py").write_text(now)
    (tmp_path / "cef.cpython-311-x86_64-linux-gnu.so").write_bytes(b"")
    (tmp_path / "_native.json").write_text(json.dumps({"cef.py": _digest(built_from)}))
    return tmp_path


def test_plain_python_needs_no_manifest(tmp_path: Path) -> None:
    (tmp_path / "cef.py").write_text("x = 1\n")
    check_compiled_modules(tmp_path)


def test_a_build_that_matches_its_sources_is_accepted(tmp_path: Path) -> None:
    check_compiled_modules(_package(tmp_path, "x = 1\n", "x = 1\n"))


def test_a_source_changed_since_the_build_is_named(tmp_path: Path) -> None:
    with pytest.raises(StaleCompiledModules, match=r"cef\.py.*make native") as caught:
        check_compiled_modules(_package(tmp_path, "x = 1\n", "x = 2\n"))
    assert caught.value.modules == ["cef.py"]


def test_compiled_modules_without_a_manifest_are_refused(tmp_path: Path) -> None:
    folder = _package(tmp_path, "x = 1\n", "x = 1\n")
    (folder / "_native.json").unlink()
    with pytest.raises(StaleCompiledModules, match="no build manifest"):
        check_compiled_modules(folder)


def test_a_deleted_source_is_stale(tmp_path: Path) -> None:
    folder = _package(tmp_path, "x = 1\n", "x = 1\n")
    (folder / "cef.py").unlink()
    with pytest.raises(StaleCompiledModules):
        check_compiled_modules(folder)
