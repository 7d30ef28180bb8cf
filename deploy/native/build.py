"""Compile the per-record hot paths with mypyc: the same Python source, faster.

Packages with modules compiled (`TARGETS`):

- the normalizers (`bench/bench_normalize.py`): on CPython alone the Windows shapes parsed at
  about 45,000 events/s on one core against a target of 50,000; compiled, about twice as fast;
- the detection matcher nodes and dispatch index (`detections/matchers.py`, `detections/index.py`),
  the engine, the detect stage and the offline command's loop around them (`detections/engine.py`,
  `detections/stage.py`, `detections/offline.py`: the per-event glue and the offline alert writer,
  a tenth of `socpipe detect` as Python) and the
  dotted view of an event they read (`soc_core/flat.py`): every event meets them
  (`bench/bench_detect_cli.py`);
- the correlation engine's hits, windows and event-time ordering (`detections/correlation/`
  `hits.py`, `windows.py`, `engine.py`): every rule hit a correlation reads;
- the nesting guard every message between stages passes (`soc_core/guards.py`: a walk over each
  parsed message's objects and arrays, a twentieth of the detect and index workers as Python);
- the free-text words of every document stored (`soc_core/kql/text.py`: a quarter of the index
  worker as Python).

mypyc (part of mypy, which already type-checks this code strictly) turns the type-annotated
modules into C extensions that sit beside their sources (`<package>/*.so`); Python imports those
in place of the `.py` files. Nothing else changes: with no compiled modules
the packages run as plain Python, and the tests run against whatever is installed.

A compiled module that no longer matches its source would silently run old code, so this build
writes `<package>/_native.json` (a digest of every compiled source) and the package's `__init__`
refuses to import compiled modules built from other source (`soc_core.native`). `make native`
rebuilds when a source changes; `make clean-native` goes back to plain Python.

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
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = ROOT / "build" / "native"


@dataclass(frozen=True)
class Target:
    """One package's compiled modules: `modules` (None: every module but `excluded`)."""

    package: str
    modules: tuple[str, ...] | None = None
    excluded: frozenset[str] = frozenset()

    @property
    def folder(self) -> Path:
        return ROOT / self.package

    @property
    def manifest(self) -> Path:
        return self.folder / "_native.json"

    @property
    def group(self) -> str:
        # The shared mypyc runtime goes inside the package, so an editable install finds it from any cwd.
        return f"{self.package.replace('/', '.')}._native"

    def sources(self) -> list[Path]:
        if self.modules is not None:
            return [self.folder / name for name in self.modules]
        return sorted(p for p in self.folder.glob("*.py") if p.name not in self.excluded)

    def compiled_files(self) -> list[Path]:
        return sorted([*self.folder.glob("*.so"), *self.folder.glob("*.pyd")])

    def clean(self) -> None:
        for path in [*self.compiled_files(), self.manifest]:
            path.unlink(missing_ok=True)
        shutil.rmtree(BUILD_DIR / self.package, ignore_errors=True)

    def up_to_date(self) -> bool:
        """The compiled modules were built from exactly the current sources (`make` only sees
        mtimes, which a `git checkout` changes without changing a byte)."""
        try:
            built = json.loads(self.manifest.read_text())
        except FileNotFoundError:
            return False
        return bool(self.compiled_files()) and built == {p.name: digest(p) for p in self.sources()}


TARGETS = (
    # Not compiled: the package marker (it checks the build) and the typer CLI (not on the hot path).
    Target("normalizers", excluded=frozenset({"__init__.py", "cli.py"})),
    Target("detections", modules=("matchers.py", "index.py", "engine.py", "stage.py", "offline.py")),
    Target("detections/correlation", modules=("hits.py", "windows.py", "engine.py")),
    Target("soc_core", modules=("flat.py", "guards.py")),
    Target("soc_core/kql", modules=("text.py",)),
)


def digest(path: Path) -> str:
    return hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()


def build(target: Target) -> None:
    from mypyc.build import mypycify  # mypy is a dev dependency; imported here so --clean needs none
    from setuptools import setup

    target.clean()
    os.chdir(ROOT)  # mypyc names modules by their path relative to the working directory
    paths = [str(p.relative_to(ROOT)) for p in target.sources()]
    # The digests of the sources as mypyc reads them: a source edited during the (minute-long)
    # compile must make the build stale, not be recorded as built.
    built = {p.name: digest(p) for p in target.sources()}
    started = time.monotonic()
    print(f"compiling {len(paths)} {target.package} modules with mypyc...", flush=True)
    work = BUILD_DIR / target.package
    setup(
        name=f"socpipe-native-{target.package}",
        ext_modules=mypycify(paths, opt_level="3", group_name=target.group, target_dir=str(work / "c")),
        script_args=["--quiet", "build_ext", "--inplace", "--build-temp", str(work / "obj")],
    )
    target.manifest.write_text(json.dumps(built, indent=1, sort_keys=True) + "\n")
    elapsed = time.monotonic() - started
    print(
        f"compiled {len(target.compiled_files())} {target.package} extension modules in {elapsed:.0f} s; "
        f"wrote {target.package}/{target.manifest.name}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clean", action="store_true", help="remove the compiled modules and exit")
    parser.add_argument("--force", action="store_true", help="compile even if the build is up to date")
    args = parser.parse_args(argv)
    if args.clean:
        for target in TARGETS:
            target.clean()
        print("removed the compiled modules: the packages run as plain Python")
        return 0
    for target in TARGETS:
        if not args.force and target.up_to_date():
            target.manifest.touch()  # tell make, whose mtimes said otherwise
            print(f"compiled {target.package} modules are up to date with their sources")
            continue
        build(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
