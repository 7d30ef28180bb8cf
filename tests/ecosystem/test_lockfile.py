"""requirements.lock (what `make run` and `make test` install) agrees with pyproject.toml and with
the environment the tests run in, and the image's locks (requirements-prod.lock, the product only;
deploy/native/requirements-build.lock, plus mypyc's build tools) agree with both, at the tested
versions (deploy/lockcheck.py; `make lock` re-locks all three)."""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from pathlib import Path
from types import ModuleType

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
PROD_LOCK = ROOT / "requirements-prod.lock"
BUILD_LOCK = ROOT / "deploy" / "native" / "requirements-build.lock"


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


def pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def lock_texts(**changed: str) -> dict[Path, str]:
    texts = {LOCK: LOCK.read_text(), PROD_LOCK: PROD_LOCK.read_text(), BUILD_LOCK: BUILD_LOCK.read_text()}
    names = {"dev": LOCK, "prod": PROD_LOCK, "build": BUILD_LOCK}
    texts.update({names[k]: v for k, v in changed.items()})
    return texts


def test_the_image_locks_agree_with_pyproject_and_the_tested_versions() -> None:
    assert lockcheck.all_lock_problems(pyproject(), lock_texts()) == []
    dev, prod = lockcheck.read_lock(LOCK.read_text()), lockcheck.read_lock(PROD_LOCK.read_text())
    assert {"pytest", "mypy", "ruff", "setuptools"}.isdisjoint(prod.pins), "dev tools in the product's lock"
    for name, pins in prod.pins.items():
        assert {p.version for p in pins} <= {p.version for p in dev.pins[name]}, name


def test_the_build_stage_removes_exactly_the_build_tools_and_what_only_they_need() -> None:
    build, prod = (lockcheck.read_lock(p.read_text()) for p in (BUILD_LOCK, PROD_LOCK))
    removed = lockcheck.build_only(build, prod)
    assert {"mypy", "setuptools"} <= set(removed)
    assert not set(removed) & set(prod.pins)
    assert set(build.pins) == set(prod.pins) | set(removed)


def _repin(text: str, name: str, version: str) -> str:
    start = text.index(f"\n{name}==") + 1
    end = text.index(" ", start)
    return text[:start] + f"{name}=={version}" + text[end:]


def test_image_locks_out_of_step_are_caught() -> None:
    """A product lock re-resolved alone (another version than the tested one), one with a build
    tool in it, one missing a requirement, and a build lock without a product package."""
    prod = PROD_LOCK.read_text()
    problems = lockcheck.all_lock_problems(pyproject(), lock_texts(prod=_repin(prod, "fastapi", "0.1.0")))
    assert (
        "requirements-prod.lock pins fastapi==0.1.0 but requirements.lock does not (re-lock them together)"
        in (problems)
    )
    build = BUILD_LOCK.read_text()
    mypy_entry = build[build.index("\nmypy==") + 1 :].split("\n", 1)[0].rstrip(" \\")
    with_tool = prod + f"{mypy_entry} --hash=sha256:{'0' * 64}\n"
    problems = lockcheck.all_lock_problems(pyproject(), lock_texts(prod=with_tool))
    assert "requirements-prod.lock pins the build tool mypy: it must not reach the image" in problems
    without = "\n".join(line for line in prod.split("\n") if not line.startswith("ijson=="))
    problems = lockcheck.all_lock_problems(pyproject(), lock_texts(prod=without))
    assert any(p.startswith("requirements-prod.lock: ijson") and "not pinned" in p for p in problems), (
        problems
    )
    build_without = "\n".join(line for line in build.split("\n") if not line.startswith("orjson=="))
    problems = lockcheck.all_lock_problems(pyproject(), lock_texts(build=build_without))
    assert "requirements-build.lock lacks orjson of the product's lock" in problems


def test_make_lock_writes_the_image_locks_from_the_dev_lock() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\nlock: $(STAMP)\n", 1)[1].split("\n\n", 1)[0]
    lines = [line.strip() for line in recipe.splitlines()]
    assert lines[0].startswith("$(UV_LOCK)") and lines[0].endswith("-o $(LOCK)")
    assert "$(UV_COMPILE) --constraint $(LOCK) -o $(PROD_LOCK)" in lines
    tools = "$(BIN)/python deploy/lockcheck.py --build-tools"
    assert f"{tools} | $(UV_COMPILE) - --constraint $(LOCK) -o $(BUILD_LOCK)" in lines
    assert lines[-1] == "$(BIN)/python deploy/lockcheck.py"
    assert "PROD_LOCK  = requirements-prod.lock" in makefile
    assert "BUILD_LOCK = deploy/native/requirements-build.lock" in makefile
