"""Do the lock files agree with pyproject.toml, with each other (and with the installed environment)?

    python deploy/lockcheck.py            (the install step of `make run`/`make test` runs it)

`make lock` (uv pip compile, hashes, every platform) writes three locks, all at the same versions:

- requirements.lock: the project and its `dev` extra, what `make run`/`make test` install alone;
- requirements-prod.lock: the project only, what the image (deploy/Dockerfile) runs on;
- deploy/native/requirements-build.lock: the project plus the tools the image's build stage
  compiles with (`BUILD_TOOLS`: mypyc's mypy, setuptools), removed again before the final stage.

The last two are compiled with requirements.lock as constraints, so the image runs the versions
the tests ran on. A dependency added to pyproject.toml without re-locking would be silently
missing, so this fails, naming what to do, when:

- a requirement of pyproject.toml (the project's and, for requirements.lock, the `dev` extra's;
  for the build lock the build tools') has no pin in a lock, or its pin is outside its bounds;
- a pin has no hash (pip's --require-hashes refuses the whole file then);
- requirements-prod.lock or the build lock pins a package at another version than requirements.lock,
  the product's lock pins a build tool, or the build lock lacks a package of the product's;
- with --installed: a distribution that the requirements pull in here (extras included, read
  from the installed metadata) is not pinned, or is installed at another version than its pin;
  or a pin that applies here is pulled in by nothing (a dependency removed without re-locking).
  `--lock requirements-prod.lock --extras ""` checks the image's environment that way.

`--build-tools` prints the build tools' requirements (their bounds from the `dev` extra) for `make
lock`; `--build-only` prints the distributions of the build lock that the product's lock lacks, the
ones the image's build stage uninstalls.

Only `packaging` (pinned in the lock) and the standard library are needed.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
RELOCK = "run `make lock` and commit the lock files"
DEV_LOCK = ROOT / "requirements.lock"
PROD_LOCK = ROOT / "requirements-prod.lock"
BUILD_LOCK = ROOT / "deploy" / "native" / "requirements-build.lock"
#: What the image's build stage needs beyond the product (deploy/native/build.py: mypyc is in mypy;
#: the editable install without build isolation needs setuptools); bounds from the `dev` extra.
BUILD_TOOLS = ("mypy", "setuptools")

_HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


@dataclass
class Pin:
    name: str
    version: Version
    marker: Marker | None
    hashes: int = 0

    def applies(self, env: Mapping[str, str] | None = None) -> bool:
        return self.marker is None or self.marker.evaluate(dict(env) if env else None)


@dataclass
class Lock:
    pins: dict[str, list[Pin]] = field(default_factory=dict)

    def add(self, pin: Pin) -> None:
        self.pins.setdefault(pin.name, []).append(pin)

    def pin_for(self, name: str, env: Mapping[str, str] | None = None) -> Pin | None:
        """The pin of `name` for this environment (a universal lock may fork one by markers)."""
        return next((p for p in self.pins.get(name, ()) if p.applies(env)), None)


def read_lock(text: str) -> Lock:
    """The pins of a pip requirements file with hashes (continuation lines joined)."""
    lock = Lock()
    for entry in re.sub(r"\\\n", " ", text).splitlines():
        head = entry.split("--hash", 1)[0].strip()
        if not head or head.startswith("#"):
            continue
        req = Requirement(head)
        (spec,) = req.specifier  # uv writes exactly one `==` per entry
        if spec.operator != "==":
            raise ValueError(f"not a pin: {head}")
        hashes = len(_HASH.findall(entry))
        lock.add(Pin(canonicalize_name(req.name), Version(spec.version), req.marker, hashes))
    return lock


def requirements(pyproject: Mapping[str, object], extras: Iterable[str] = ("dev",)) -> list[Requirement]:
    """The project's dependencies and those of the given extras."""
    project = pyproject["project"]
    assert isinstance(project, dict)
    declared = list(project.get("dependencies", []))
    optional = project.get("optional-dependencies", {})
    for extra in extras:
        declared += optional.get(extra, [])
    return [Requirement(text) for text in declared]


def lock_problems(reqs: Iterable[Requirement], lock: Lock, env: Mapping[str, str] | None = None) -> list[str]:
    """What the lock misses of the declared requirements, for the environment `env`."""
    problems: list[str] = []
    for req in reqs:
        if req.marker is not None and not req.marker.evaluate(dict(env) if env else None):
            continue
        name = canonicalize_name(req.name)
        pin = lock.pin_for(name, env)
        if pin is None:
            problems.append(f"{req} is required by pyproject.toml but not pinned in the lock")
        elif req.specifier and not req.specifier.contains(pin.version, prereleases=True):
            problems.append(f"{req} is required by pyproject.toml but the lock pins {name}=={pin.version}")
    for locked, pins in sorted(lock.pins.items()):
        problems += [f"{locked}=={p.version} has no --hash in the lock" for p in pins if p.hashes == 0]
    return problems


def installed_problems(reqs: Iterable[Requirement], lock: Lock) -> list[str]:
    """The installed environment against the lock: what the requirements pull in (extras
    included) is pinned at the installed version, and every pin that applies here is pulled in."""
    problems: list[str] = []
    seen: set[str] = set()
    todo: list[tuple[Requirement, frozenset[str]]] = [(r, frozenset({""})) for r in reqs]
    while todo:
        req, parent_extras = todo.pop()
        env_ok = req.marker is None or any(req.marker.evaluate({"extra": e}) for e in parent_extras)
        if not env_ok:
            continue
        name = canonicalize_name(req.name)
        key = f"{name}[{','.join(sorted(req.extras))}]"
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            problems.append(f"{req} is not installed (install from the lock: make clean && make test)")
            continue
        pin = lock.pin_for(name)
        if pin is None:
            problems.append(f"{name} (pulled in by the requirements) is not pinned in the lock")
        elif Version(dist.version) != pin.version:
            problems.append(f"{name} is installed at {dist.version} but the lock pins {pin.version}")
        extras = frozenset({""} | set(req.extras))
        todo += [(Requirement(text), extras) for text in dist.requires or ()]
    reached = {key.partition("[")[0] for key in seen}
    for locked, pins in sorted(lock.pins.items()):
        if locked not in reached and any(p.applies() for p in pins):
            problems.append(f"{locked} is pinned in the lock but nothing in pyproject.toml pulls it in")
    return problems


def build_tools(pyproject: Mapping[str, object]) -> list[Requirement]:
    """The `dev` extra's requirements of the build tools (`BUILD_TOOLS`)."""
    dev = requirements(pyproject, ("dev",))[len(requirements(pyproject, ())) :]
    tools = [r for r in dev if canonicalize_name(r.name) in BUILD_TOOLS]
    missing = set(BUILD_TOOLS) - {canonicalize_name(r.name) for r in tools}
    if missing:
        raise ValueError(f"pyproject.toml's dev extra lacks the build tools {sorted(missing)}")
    return tools


def drift_problems(lock: Lock, reference: Lock, name: str) -> list[str]:
    """Pins of `lock` at a version `reference` (requirements.lock, the tested versions) does not
    pin. Markers may differ: a package the dev tools need everywhere the product needs on one OS."""
    return [
        f"{name} pins {pin.name}=={pin.version} but requirements.lock does not (re-lock them together)"
        for pins in sorted(lock.pins.values(), key=lambda ps: ps[0].name)
        for pin in pins
        if pin.version not in {p.version for p in reference.pins.get(pin.name, ())}
    ]


def build_only(build: Lock, prod: Lock) -> list[str]:
    """The build lock's distributions the product's lock lacks: what the build stage removes."""
    return sorted(set(build.pins) - set(prod.pins))


def all_lock_problems(pyproject: Mapping[str, object], locks: Mapping[Path, str]) -> list[str]:
    """Every lock against pyproject.toml and the dev lock (the three files `make lock` writes)."""
    dev = read_lock(locks[DEV_LOCK])
    prod = read_lock(locks[PROD_LOCK])
    build = read_lock(locks[BUILD_LOCK])
    product = requirements(pyproject, ())
    problems = [f"requirements.lock: {p}" for p in lock_problems(requirements(pyproject), dev)]
    problems += [f"requirements-prod.lock: {p}" for p in lock_problems(product, prod)]
    problems += [
        f"requirements-build.lock: {p}" for p in lock_problems(product + build_tools(pyproject), build)
    ]
    problems += drift_problems(prod, dev, "requirements-prod.lock")
    problems += drift_problems(build, dev, "requirements-build.lock")
    problems += [
        f"requirements-prod.lock pins the build tool {name}: it must not reach the image"
        for name in BUILD_TOOLS
        if name in prod.pins
    ]
    missing = set(prod.pins) - set(build.pins)
    problems += [f"requirements-build.lock lacks {name} of the product's lock" for name in sorted(missing)]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pyproject", type=Path, default=ROOT / "pyproject.toml")
    parser.add_argument("--lock", type=Path, help="check this lock alone (default: all three)")
    parser.add_argument(
        "--extras", default="dev", help="with --lock: the extras it holds, comma-separated ('' for none)"
    )
    parser.add_argument("--installed", action="store_true", help="also check the installed environment")
    parser.add_argument("--build-tools", action="store_true", help="print the build tools' requirements")
    parser.add_argument("--build-only", action="store_true", help="print the build-stage-only distributions")
    args = parser.parse_args(argv)
    pyproject = tomllib.loads(args.pyproject.read_text(encoding="utf-8"))
    if args.build_tools:
        print("\n".join(str(r) for r in build_tools(pyproject)))
        return 0
    if args.build_only:
        build, prod = (read_lock(p.read_text(encoding="utf-8")) for p in (BUILD_LOCK, PROD_LOCK))
        print("\n".join(build_only(build, prod)))
        return 0
    lock_path = args.lock or DEV_LOCK
    reqs = requirements(pyproject, [e for e in args.extras.split(",") if e] if args.lock else ("dev",))
    lock = read_lock(lock_path.read_text(encoding="utf-8"))
    if args.lock:
        problems = lock_problems(reqs, lock)
    else:
        problems = all_lock_problems(
            pyproject, {p: p.read_text(encoding="utf-8") for p in (DEV_LOCK, PROD_LOCK, BUILD_LOCK)}
        )
    if args.installed and not problems:
        problems = installed_problems(reqs, lock)
    for problem in problems:
        print(f"{lock_path.name}: {problem}" if args.lock else problem, file=sys.stderr)
    if problems:
        print(f"the lock files do not agree with {args.pyproject.name}: {RELOCK}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
