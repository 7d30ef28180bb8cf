"""deploy/Dockerfile and .dockerignore (issue 17): multi-stage, non-root, no compiler in the image,
every package from a lock with hashes, hadolint clean. No Docker engine here: the file is checked,
the image is not built."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tests.deploy.tools import ROOT, run, tool

DOCKERFILE = ROOT / "deploy" / "Dockerfile"
COMPILERS = re.compile(r"\b(gcc|g\+\+|clang|build-essential|libc6-dev|mypy)\b")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)


def stages(text: str) -> list[Stage]:
    """The Dockerfile's stages with their instructions (continuation lines joined, comments dropped)."""
    joined = re.sub(r"\\\n(\s*#[^\n]*\n)*", " ", text)
    out: list[Stage] = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        op, _, rest = line.partition(" ")
        if op.upper() == "FROM":
            words = rest.split()
            out.append(Stage(words[0], words[2] if len(words) > 2 and words[1].upper() == "AS" else None))
        elif out:
            out[-1].instructions.append((op.upper(), rest))
    return out


def test_hadolint_passes() -> None:
    result = run([tool("hadolint"), "--no-color", str(DOCKERFILE)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_is_the_real_linter() -> None:
    """The check above could pass by not linting: hadolint must flag a Dockerfile with known faults."""
    bad = "FROM python\nRUN cd /app && pip install flask\nUSER root\n"
    result = run([tool("hadolint"), "--no-color", "-"], input=bad)
    assert result.returncode != 0
    for rule in ("DL3006", "DL3003", "DL3013", "DL3002"):  # untagged, cd, unpinned pip, root user
        assert rule in result.stdout, result.stdout


def test_multi_stage_final_stage_has_no_compiler_and_runs_as_a_user() -> None:
    parsed = stages(DOCKERFILE.read_text())
    assert len(parsed) >= 2, "the compiler belongs in a build stage"
    final = parsed[-1]
    builders = {stage.name for stage in parsed[:-1]}
    runs = " ".join(rest for op, rest in final.instructions if op == "RUN")
    assert not COMPILERS.search(runs), f"the final stage installs a compiler: {runs}"
    copies = [rest for op, rest in final.instructions if op == "COPY"]
    assert copies and all(re.match(r"--from=(\S+)", c) for c in copies), (
        "the final stage copies only built files"
    )
    assert {re.match(r"--from=(\S+)", c).group(1) for c in copies} <= builders  # type: ignore[union-attr]
    users = [rest for op, rest in final.instructions if op == "USER"]
    assert users, "no USER: the image would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), user
    build = " ".join(rest for stage in parsed[:-1] for op, rest in stage.instructions if op == "RUN")
    assert "deploy/native/build.py" in build, "the compiled modules are built in the build stage"


def test_dockerignore_keeps_out_what_the_image_must_not_carry() -> None:
    """The context is everything but what is let back in: each package of pyproject.toml, and no
    virtualenv, state, tests or host-compiled modules."""
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", "start from nothing, so a new top-level folder is not shipped by accident"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    pyproject = (ROOT / "pyproject.toml").read_text()
    include = re.search(r"\[tool\.setuptools\.packages\.find\]\ninclude = \[([^\]]*)\]", pyproject)
    assert include is not None
    packages = {name.strip(' "*') for name in include.group(1).split(",")}
    assert packages <= allowed, f"packages the image would lack: {packages - allowed}"
    assert {
        "pyproject.toml",
        "README.md",
        "deploy/native",
        "requirements-prod.lock",
        "deploy/lockcheck.py",
    } <= allowed
    assert not allowed & {"tests", "bench", ".venv", ".socpipe", ".git", "deploy", "requirements.lock"}
    for leftover in ("**/*.so", "**/_native.json", "**/__pycache__"):
        assert leftover in lines, leftover


def _pip_commands(stage: Stage) -> list[list[str]]:
    """Every `pip ...` command in the stage's RUN instructions, as words."""
    commands = []
    for op, rest in stage.instructions:
        if op == "RUN":
            for part in re.split(r"&&|\|", rest):
                words = part.split()
                if "pip" in words:  # `pip install ...`, `xargs pip uninstall ...`
                    commands.append(words[words.index("pip") + 1 :])
    return commands


def test_every_package_comes_from_a_lock_with_hashes() -> None:
    """The build stage installs the build lock with --require-hashes (so every package, and its
    dependencies, are pinned and hash-checked), socpipe itself without dependencies, nothing named
    on the command line; then uninstalls what only the build needed and checks the environment
    against the product's lock before the final stage copies it."""
    parsed = stages(DOCKERFILE.read_text())
    commands = [c for stage in parsed for c in _pip_commands(stage)]
    installs = [c for c in commands if c[0] == "install"]
    assert installs == [
        ["install", "--no-cache-dir", "--require-hashes", "-r", "deploy/native/requirements-build.lock"],
        ["install", "--no-cache-dir", "--no-deps", "--no-build-isolation", "-e", "."],
    ], installs
    build = " ".join(rest for stage in parsed[:-1] for op, rest in stage.instructions if op == "RUN")
    assert "deploy/lockcheck.py --build-only | xargs pip uninstall --yes" in build
    check = 'deploy/lockcheck.py --lock requirements-prod.lock --extras "" --installed'
    assert check in build and build.index("build.py") < build.index("--build-only") < build.index(check)
    final = parsed[-1]
    assert not _pip_commands(final), "the final stage installs nothing: it copies the checked environment"
    for lock in ("requirements-prod.lock", "deploy/native/requirements-build.lock"):
        assert (ROOT / lock).is_file(), f"{lock}: run `make lock`"
