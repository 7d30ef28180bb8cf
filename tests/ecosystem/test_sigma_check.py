"""`sigma check` over the provincial rules (make sigma-check, part of `make check`): offline, with
pySigma's and SigmaHQ's validators and our `checklist.*` namespace (deploy/sigma)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / "deploy" / "sigma" / "check.py"
CONFIG = ROOT / "deploy" / "sigma" / "validation.yml"
PACK = ROOT / "detections" / "rules" / "provincial"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def sigma_check(*paths: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, str(CHECK), "-c", str(CONFIG), "--fail-on-issues", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    return subprocess.CompletedProcess(
        result.args, result.returncode, ANSI.sub("", result.stdout), ANSI.sub("", result.stderr)
    )


def test_the_provincial_rules_are_clean() -> None:
    result = sigma_check(PACK)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "Found 0 errors, 0 condition errors and 0 issues." in result.stdout
    assert "tried to reach the network" not in result.stderr


def _rule(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_the_check_reports_what_the_pack_had_and_what_it_must_not_have(tmp_path: Path) -> None:
    """The defects issue #18 found (a technique without its tactic, a Security 4688 rule instead of
    a process_creation one) and misuse of our namespace fail the check, each under its validator."""
    base = (PACK / "win_security_vn05_member_added_to_administrators.yml").read_text(encoding="utf-8")
    rule_id = re.search(r"^id: (.+)$", base, re.M)
    assert rule_id is not None

    def variant(name: str, new_id: str, old: str, new: str) -> Path:
        assert old in base, old
        return _rule(tmp_path / name, base.replace(rule_id.group(1), new_id).replace(old, new))

    no_tactic = variant(
        "win_security_no_tactic.yml",
        "0b5e7a4e-0000-4000-8000-000000000001",
        "    - attack.persistence\n",
        "",
    )
    bad_code = variant(
        "win_security_bad_code.yml",
        "0b5e7a4e-0000-4000-8000-000000000002",
        "checklist.vn-05",
        "checklist.vn-13",
    )
    d3fend = variant(
        "win_security_d3fend.yml",
        "0b5e7a4e-0000-4000-8000-000000000003",
        "checklist.vn-05",
        "d3fend.d3-uam",
    )
    security_4688 = _rule(
        tmp_path / "win_security_process_4688.yml",
        (PACK / "proc_creation_win_vn05_net_guest_active.yml")
        .read_text(encoding="utf-8")
        .replace("category: process_creation", "service: security")
        .replace("detection:\n", "detection:\n    selection_eid:\n        EventID: 4688\n", 1)
        .replace("condition: ", "condition: selection_eid and ", 1),
    )
    result = sigma_check(no_tactic, bad_code, d3fend, security_4688)
    assert result.returncode == 1, result.stdout + result.stderr
    issues = {
        (m.group(1), Path(m.group(2)).name)
        for m in re.finditer(r"^issue=(\w+) .* rule=(\S+)", result.stdout, re.M)
    }
    assert ("SigmahqTagsTechniquesWithoutTacticsIssue", no_tactic.name) in issues
    assert ("InvalidChecklistTagIssue", bad_code.name) in issues
    assert ("InvalidNamespaceTagIssue", d3fend.name) in issues
    assert ("SpecificInsteadOfGenericLogsourceIssue", security_4688.name) in issues


def test_falsepositives_that_parse_as_mappings_fail_the_check(tmp_path: Path) -> None:
    """`- None: the Guest account ...` is a YAML mapping, not text: the pack had four."""
    rule = PACK / "win_security_vn05_guest_account_enabled.yml"
    text = rule.read_text(encoding="utf-8").replace("    - Unlikely (the Guest", "    - None: the Guest")
    assert "None: the Guest" in text
    result = sigma_check(_rule(tmp_path / rule.name, text))
    assert result.returncode != 0
    assert "falsepositive" in (result.stdout + result.stderr).lower()


def test_the_check_refuses_the_network(tmp_path: Path) -> None:
    """The audit hook deploy/sigma/check.py installs turns any connection into a failure."""
    script = (
        "import importlib.util, socket, sys\n"
        f"spec = importlib.util.spec_from_file_location('check', {str(CHECK)!r})\n"
        "check = importlib.util.module_from_spec(spec); spec.loader.exec_module(check)\n"
        "attempts = []\n"
        "check.refuse_network(attempts)\n"
        "try:\n"
        "    socket.create_connection(('127.0.0.1', 9), timeout=1)\n"
        "except check.NetworkRefused:\n"
        "    print('refused', attempts)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.stdout.startswith("refused") and "socket.getaddrinfo '127.0.0.1'" in result.stdout, (
        result.stdout + result.stderr
    )


@pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")
def test_make_check_runs_the_lock_and_sigma_checks() -> None:
    result = subprocess.run(["make", "-n", "check"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert "deploy/lockcheck.py --installed" in result.stdout
    assert "deploy/sigma/check.py --validation-config deploy/sigma/validation.yml" in result.stdout
