"""Rule tags -> ATT&CK (`threat.*`) and provincial checklist codes.

ATT&CK: Sigma tags `attack.<tactic shortname>` (`attack.stealth`, `attack.command-and-control`;
the older underscore spelling is accepted) and `attack.tNNNN[.NNN]` for techniques, resolved
through `detections.attack` (MITRE's data: TA ids, tactic and technique names, revoked techniques
-> their successors, so the alert carries the current id). Tags the data does not know (a group
`attack.g0016`, software, a typo, a technique id that never existed) are not threats and are
ignored. Resolution is cached per tag tuple: a rule's tags are resolved once, not per alert.

Checklist codes (DOMAIN.md, VN-01..VN-12): the one convention is the tag `checklist.vn-NN`
(namespace `checklist`, lower-case in YAML as Sigma tags are), reported as `VN-NN` on alerts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from detections.attack import AttackCatalog, catalog
from soc_core.alert import Threat

CHECKLIST_NAMESPACE = "checklist"
CHECKLIST_CODES = frozenset(f"VN-{n:02d}" for n in range(1, 13))

#: Distinct tag lists remembered: one per rule, and the corpus and pack are under 4,000 rules.
RESOLVED_TAG_LISTS = 8192

_TECHNIQUE = re.compile(r"^t\d{4}(?:\.\d{3})?$")
_CHECKLIST = re.compile(r"^vn-(\d{2})$")


def _tactic(name: str, data: AttackCatalog) -> dict[str, str] | None:
    found = data.tactic(name.replace("_", "-"))
    if found is None:
        return None
    tactic_id, title = found
    return {"id": tactic_id, "name": title, "reference": f"https://attack.mitre.org/tactics/{tactic_id}/"}


def _technique(name: str, data: AttackCatalog) -> dict[str, str] | None:
    if _TECHNIQUE.match(name) is None:
        return None
    found = data.technique(name.upper())
    if found is None:
        return None
    technique_id, title = found
    return {
        "id": technique_id,
        "name": title,
        "reference": f"https://attack.mitre.org/techniques/{technique_id.replace('.', '/')}/",
    }


def threats(tags: Iterable[str], data: AttackCatalog | None = None) -> list[Threat]:
    """ECS threat entries: one per technique (paired with the tactic when the rule names exactly one),
    and one per tactic not already paired. `data`: the catalogue (default: the process's)."""
    resolved = _resolve(tuple(tags), data or catalog())
    # Fresh objects per alert (callers may change them), built from the cached, validated pairs
    # without validating again: a deep copy per alert cost more than the rest of the alert.
    return [
        Threat.model_construct(
            tactic=dict(threat.tactic) if threat.tactic is not None else None,
            technique=dict(threat.technique) if threat.technique is not None else None,
        )
        for threat in resolved
    ]


def threat_fields(tags: Iterable[str], data: AttackCatalog | None = None) -> list[dict[str, Any]]:
    """`threats` as plain data (fresh dicts), for a model that validates them in one pass (the
    detect stage's alerts: cheaper than building each `Threat` here)."""
    return [
        {
            "tactic": dict(threat.tactic) if threat.tactic is not None else None,
            "technique": dict(threat.technique) if threat.technique is not None else None,
        }
        for threat in _resolve(tuple(tags), data or catalog())
    ]


@lru_cache(maxsize=RESOLVED_TAG_LISTS)
def _resolve(tags: tuple[str, ...], data: AttackCatalog) -> tuple[Threat, ...]:
    tactics: list[dict[str, str]] = []
    techniques: list[dict[str, str]] = []
    for tag in tags:
        namespace, _, name = tag.lower().partition(".")
        if namespace != "attack":
            continue
        tactic = _tactic(name, data)
        if tactic is not None:
            if tactic not in tactics:
                tactics.append(tactic)
            continue
        technique = _technique(name, data)
        if technique is not None and technique not in techniques:
            techniques.append(technique)
    out: list[Threat] = []
    paired = tactics[0] if len(tactics) == 1 else None
    for technique in techniques:
        out.append(Threat(tactic=paired, technique=technique))
    for tactic in tactics:
        if tactic is not paired or not techniques:
            out.append(Threat(tactic=tactic))
    return tuple(out)


def checklist_codes(tags: Iterable[str]) -> list[str]:
    """`checklist.vn-05` -> `VN-05`; unknown codes are ignored (the pack meta-test rejects them).
    The detect stage asks once per match: resolved once per tag tuple."""
    return list(_checklist_codes(tuple(tags)))


@lru_cache(maxsize=RESOLVED_TAG_LISTS)
def _checklist_codes(tags: tuple[str, ...]) -> tuple[str, ...]:
    codes: list[str] = []
    for tag in tags:
        namespace, _, name = tag.lower().partition(".")
        if namespace != CHECKLIST_NAMESPACE:
            continue
        m = _CHECKLIST.match(name)
        code = f"VN-{m.group(1)}" if m else None
        if code in CHECKLIST_CODES and code not in codes:
            codes.append(code)
    return tuple(codes)
