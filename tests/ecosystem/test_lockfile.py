"""requirements.lock (what `make run` and `make test` install) agrees with pyproject.toml and with
the environment the tests run in (deploy/lockcheck.py; `make lock` re-locks)."""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from pathlib import Path
from types import ModuleType

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"


def _lockcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("socpipe_lockcheck", ROOT / "deploy" / "lockcheck.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


lockcheck = _lockcheck()


def declared() -> list[Requirement]:
    reqs: list[Requirement] = lockcheck.requirements(tomllib.loads((ROOT / "pyproject.toml").read_text()))
    return reqs


def test_the_lock_pins_every_declared_requirement_within_its_bounds_with_hashes() -> None:
    assert lockcheck.lock_problems(declared(), lockcheck.read_lock(LOCK.read_text())) == []


def test_a_dependency_added_or_bounded_without_relocking_is_caught() -> None:
    lock = lockcheck.read_lock(LOCK.read_text())
    added = [*declared(), Requirement("left-pad-socpipe>=1.0")]
    assert lockcheck.lock_problems(added, lock) == [
        "left-pad-socpipe>=1.0 is required by pyproject.toml but not pinned in the lock"
    ]
    pinned = lock.pin_for("fastapi").version
    raised = [r for r in declared() if r.name != "fastapi"] + [Requirement(f"fastapi>{pinned}")]
    assert lockcheck.lock_problems(raised, lock) == [
        f"fastapi>{pinned} is required by pyproject.toml but the lock pins fastapi=={pinned}"
    ]


def test_a_pin_without_hash_is_caught() -> None:
    text = LOCK.read_text()
    start = text.index("\nfastapi==")
    stripped = text[: start + 1] + f"fastapi=={lockcheck.read_lock(text).pin_for('fastapi').version}\n"
    stripped += text[start + 1 :].split("\n", 1)[1].split("\n", 1)[1]  # the pin and its first hash line
    problems = lockcheck.lock_problems(declared(), lockcheck.read_lock(stripped))
    assert any(p.startswith("fastapi==") and "no --hash" in p for p in problems), problems


def test_the_installed_environment_is_the_locked_one() -> None:
    """`make test` installs the lock before running the tests: every distribution the requirements
    pull in (extras included) is pinned at the installed version, and no pin is left over."""
    assert lockcheck.installed_problems(declared(), lockcheck.read_lock(LOCK.read_text())) == []


def test_an_extra_pulled_in_and_a_removed_dependency_are_caught() -> None:
    lock = lockcheck.read_lock(LOCK.read_text())
    # uvicorn[standard] pulls in watchfiles: a lock without it is incomplete
    del lock.pins["watchfiles"]
    problems = lockcheck.installed_problems(declared(), lock)
    assert "watchfiles (pulled in by the requirements) is not pinned in the lock" in problems
    # a dependency dropped from pyproject.toml but left in the lock
    without = [r for r in declared() if r.name != "ijson"]
    problems = lockcheck.installed_problems(without, lockcheck.read_lock(LOCK.read_text()))
    assert "ijson is pinned in the lock but nothing in pyproject.toml pulls it in" in problems


def test_the_makefile_installs_from_the_lock_only() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("$(STAMP): pyproject.toml $(LOCK)\n", 1)[1].split("\n\n", 1)[0]
    pip_lines = [line.strip() for line in recipe.splitlines() if "pip install" in line]
    assert pip_lines == [
        "$(BIN)/pip install --quiet --require-hashes -r $(LOCK)",
        "$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .",
    ]
    assert "deploy/lockcheck.py --installed" in recipe
