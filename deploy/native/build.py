"""Compile the normalizers with mypyc: the same Python source, about twice as fast.

The normalizers are the pipeline's per-record Python hot path (`bench/bench_normalize.py`): on
CPython alone the Windows shapes parsed at about 45,000 events/s on one core against a target of
50,000. mypyc (part of mypy, which already type-checks this code strictly) turns the type-annotated
modules into C extensions that sit beside their sources (`normalizers/*.so`); Python imports
those in place of the `.py` files. Nothing else changes: with no compiled modules the package runs
as plain Python, and the tests run against whatever is installed.

A compiled module that no longer matches its source would silently run old code, so this build
writes `normalizers/_native.json` (a digest of every compiled source) and `normalizers/__init__.py`
refuses to import compiled modules built from other source. `make native` rebuilds when a source
changes; `make clean-native` goes back to plain Python.

    .venv/bin/python deploy/native/build.py            # compile if a source changed (any cwd)
    .venv/bin/python deploy/native/build.py --force    # compile anyway
    .venv/bin/python deploy/native/build.py --clean    # remove the compiled modules
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "normalizers"
MANIFEST = PACKAGE / "_native.json"
BUILD_DIR = ROOT / "build" / "native"
# Not compiled: the package marker (it checks the build) and the typer CLI (not on the hot path).
EXCLUDED = frozenset({"__init__.py", "cli.py"})
# The shared mypyc runtime goes inside the package, so an editable install finds it from any cwd.
GROUP = "normalizers._native"


def sources() -> list[Path]:
    return sorted(p for p in PACKAGE.glob("*.py") if p.name not in EXCLUDED)


def digest(path: Path) -> str:
    return hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()


def compiled_files() -> list[Path]:
    return sorted([*PACKAGE.glob("*.so"), *PACKAGE.glob("*.pyd")])


def clean() -> None:
    for path in [*compiled_files(), MANIFEST]:
        path.unlink(missing_ok=True)
    shutil.rmtree(BUILD_DIR, ignore_errors=True)


def up_to_date() -> bool:
    """The compiled modules were built from exactly the current sources (`make` only sees mtimes,
    which a `git checkout` changes without changing a byte)."""
    try:
        built = json.loads(MANIFEST.read_text())
    except FileNotFoundError:
        return False
    return bool(compiled_files()) and built == {p.name: digest(p) for p in sources()}


def build() -> None:
    from mypyc.build import mypycify  # mypy is a dev dependency; imported here so --clean needs none
    from setuptools import setup

    clean()
    os.chdir(ROOT)  # mypyc names modules by their path relative to the working directory
    paths = [str(p.relative_to(ROOT)) for p in sources()]
    started = time.monotonic()
    print(f"compiling {len(paths)} normalizer modules with mypyc (about a minute)...", flush=True)
    setup(
        name="socpipe-native-normalizers",
        ext_modules=mypycify(paths, opt_level="3", group_name=GROUP, target_dir=str(BUILD_DIR / "c")),
        script_args=["--quiet", "build_ext", "--inplace", "--build-temp", str(BUILD_DIR / "obj")],
    )
    built = {p.name: digest(p) for p in sources()}
    MANIFEST.write_text(json.dumps(built, indent=1, sort_keys=True) + "\n")
    elapsed = time.monotonic() - started
    print(f"compiled {len(compiled_files())} extension modules in {elapsed:.0f} s; wrote {MANIFEST.name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clean", action="store_true", help="remove the compiled modules and exit")
    parser.add_argument("--force", action="store_true", help="compile even if the build is up to date")
    args = parser.parse_args(argv)
    if args.clean:
        clean()
        print("removed the compiled normalizers: the package runs as plain Python")
        return 0
    if not args.force and up_to_date():
        MANIFEST.touch()  # tell make, whose mtimes said otherwise
        print("compiled normalizers are up to date with their sources")
        return 0
    build()
    return 0


if __name__ == "__main__":
    sys.exit(main())
