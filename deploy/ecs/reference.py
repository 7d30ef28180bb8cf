"""Fetch the pinned ECS reference (the field catalogue `ecs_flat`) into .socpipe/tools/ecs.

Why npm: Elastic publishes each ECS release's generated `ecs_flat` as the `@elastic/ecs` package
(Apache-2.0), and the npm registry is reachable wherever the project builds. The tarball is checked
against the registry's sha512 pinned here before anything in it is read; node turns its
`generated/ecs_flat.js` (a plain object literal) into JSON for `deploy/ecs/generate.py`.

Prints the JSON file's path. Nothing is fetched when it is already there.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ECS_VERSION = "9.4.0"
PACKAGE = f"@elastic/ecs@{ECS_VERSION}"
#: `npm view @elastic/ecs@9.4.0 dist.integrity`
INTEGRITY = "sha512-znk6Jr38KNRsyUKstormNX4QKtqnwQY1EWqrMCWIg/nY6dC1imSxzrdR6xuljxnY6JHj+/9NdTiRohVbeUEA/Q=="
TARGET = ROOT / ".socpipe" / "tools" / "ecs" / f"ecs_flat-{ECS_VERSION}.json"
_EXPORT = "process.stdout.write(JSON.stringify(require(process.argv[1]).EcsFlat))"


class ReferenceFetchError(RuntimeError):
    """The reference could not be fetched or did not match its pin."""


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ReferenceFetchError(f"{name} is not installed: it is needed to fetch {PACKAGE}")
    return path


def _integrity(tarball: Path) -> str:
    digest = hashlib.sha512(tarball.read_bytes()).digest()
    return "sha512-" + base64.b64encode(digest).decode()


def fetch(target: Path = TARGET) -> Path:
    """The reference as JSON at `target`, fetched and verified if it is not there yet."""
    if target.exists():
        return target
    npm, node = _tool("npm"), _tool("node")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        subprocess.run(
            [npm, "pack", PACKAGE, "--silent", "--pack-destination", str(work)],
            check=True,
            cwd=work,
            stdout=subprocess.DEVNULL,
        )
        tarball = next(work.glob("*.tgz"))
        found = _integrity(tarball)
        if found != INTEGRITY:
            raise ReferenceFetchError(f"{PACKAGE}: integrity {found} is not the pinned {INTEGRITY}")
        with tarfile.open(tarball) as archive:
            archive.extract("package/generated/ecs_flat.js", work, filter="data")
        exported = subprocess.run(
            [node, "-e", _EXPORT, str(work / "package" / "generated" / "ecs_flat.js")],
            check=True,
            capture_output=True,
        ).stdout
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    partial.write_bytes(exported)
    partial.replace(target)
    return target


if __name__ == "__main__":
    try:
        print(fetch())
    except (ReferenceFetchError, subprocess.CalledProcessError, OSError) as exc:
        sys.exit(f"deploy/ecs/reference.py: {exc}")
