"""Rule tags -> ATT&CK (`threat.*`) and provincial checklist codes.

ATT&CK: Sigma tags `attack.<tactic-name>` (`attack.execution`, `attack.command-and-control`; the
older underscore spelling is accepted) and `attack.tNNNN[.NNN]` for techniques. The tactic table
is static: pySigma's ATT&CK data is downloaded at run time, which production machines cannot do.
Technique names are not shipped for the same reason; the id and the reference URL are.

Checklist codes (DOMAIN.md, VN-01..VN-12): the one convention is the tag `checklist.vn-NN`
(namespace `checklist`, lower-case in YAML as Sigma tags are), reported as `VN-NN` on alerts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from soc_core.alert import Threat

TACTICS: dict[str, tuple[str, str]] = {
    "reconnaissance": ("TA0043", "Reconnaissance"),
    "resource-development": ("TA0042", "Resource Development"),
    "initial-access": ("TA0001", "Initial Access"),
    "execution": ("TA0002", "Execution"),
    "persistence": ("TA0003", "Persistence"),
    "privilege-escalation": ("TA0004", "Privilege Escalation"),
    "defense-evasion": ("TA0005", "Defense Evasion"),
    "credential-access": ("TA0006", "Credential Access"),
    "discovery": ("TA0007", "Discovery"),
    "lateral-movement": ("TA0008", "Lateral Movement"),
    "collection": ("TA0009", "Collection"),
    "command-and-control": ("TA0011", "Command and Control"),
    "exfiltration": ("TA0010", "Exfiltration"),
    "impact": ("TA0040", "Impact"),
}

CHECKLIST_NAMESPACE = "checklist"
CHECKLIST_CODES = frozenset(f"VN-{n:02d}" for n in range(1, 13))

_TECHNIQUE = re.compile(r"^t(\d{4})(?:\.(\d{3}))?$")
_CHECKLIST = re.compile(r"^vn-(\d{2})$")


def _tactic(name: str) -> dict[str, str] | None:
    found = TACTICS.get(name.replace("_", "-"))
    if found is None:
        return None
    tactic_id, title = found
    return {"id": tactic_id, "name": title, "reference": f"https://attack.mitre.org/tactics/{tactic_id}/"}


def _technique(name: str) -> dict[str, str] | None:
    m = _TECHNIQUE.match(name)
    if m is None:
        return None
    base = f"T{m.group(1)}"
    if m.group(2):
        return {
            "id": f"{base}.{m.group(2)}",
            "reference": f"https://attack.mitre.org/techniques/{base}/{m.group(2)}/",
        }
    return {"id": base, "reference": f"https://attack.mitre.org/techniques/{base}/"}


def threats(tags: Iterable[str]) -> list[Threat]:
    """ECS threat entries: one per technique (paired with the tactic when the rule names exactly one),
    and one per tactic not already paired. Group/software tags (`attack.g0016`) are not threats."""
    tactics: list[dict[str, str]] = []
    techniques: list[dict[str, str]] = []
    for tag in tags:
        namespace, _, name = tag.lower().partition(".")
        if namespace != "attack":
            continue
        tactic = _tactic(name)
        if tactic is not None and tactic not in tactics:
            tactics.append(tactic)
            continue
        technique = _technique(name)
        if technique is not None and technique not in techniques:
            techniques.append(technique)
    out: list[Threat] = []
    paired = tactics[0] if len(tactics) == 1 else None
    for technique in techniques:
        out.append(Threat(tactic=paired, technique=technique))
    for tactic in tactics:
        if tactic is not paired or not techniques:
            out.append(Threat(tactic=tactic))
    return out


def checklist_codes(tags: Iterable[str]) -> list[str]:
    """`checklist.vn-05` -> `VN-05`; unknown codes are ignored (the pack meta-test rejects them)."""
    codes: list[str] = []
    for tag in tags:
        namespace, _, name = tag.lower().partition(".")
        if namespace != CHECKLIST_NAMESPACE:
            continue
        m = _CHECKLIST.match(name)
        code = f"VN-{m.group(1)}" if m else None
        if code in CHECKLIST_CODES and code not in codes:
            codes.append(code)
    return codes
