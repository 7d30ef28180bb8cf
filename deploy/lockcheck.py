"""Does requirements.lock agree with pyproject.toml (and with the installed environment)?

    python deploy/lockcheck.py            (the install step of `make run`/`make test` runs it)

requirements.lock is written by `make lock` (uv pip compile, hashes, every platform) and the
Makefile installs from it alone, so a dependency added to pyproject.toml without re-locking would
be silently missing. This fails, naming what to do, when:

- a requirement of pyproject.toml (the project's and the `dev` extra's) has no pin in the lock,
  or its pin is outside the requirement's bounds;
- a pin has no hash (pip's --require-hashes refuses the whole file then);
- with --installed: a distribution that the requirements pull in here (extras included, read
  from the installed metadata) is not pinned, or is installed at another version than its pin;
  or a pin that applies here is pulled in by nothing (a dependency removed without re-locking).

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
RELOCK = "run `make lock` and commit requirements.lock"

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pyproject", type=Path, default=ROOT / "pyproject.toml")
    parser.add_argument("--lock", type=Path, default=ROOT / "requirements.lock")
    parser.add_argument("--installed", action="store_true", help="also check the installed environment")
    args = parser.parse_args(argv)
    reqs = requirements(tomllib.loads(args.pyproject.read_text(encoding="utf-8")))
    lock = read_lock(args.lock.read_text(encoding="utf-8"))
    problems = lock_problems(reqs, lock)
    if args.installed and not problems:
        problems = installed_problems(reqs, lock)
    for problem in problems:
        print(f"{args.lock.name}: {problem}", file=sys.stderr)
    if problems:
        print(f"{args.lock.name} does not agree with {args.pyproject.name}: {RELOCK}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
