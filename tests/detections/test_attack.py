"""ATT&CK resolution from MITRE's data: every tactic tag SigmaHQ and the provincial pack use resolves,
revoked techniques alert with their successor, unknown tags are ignored."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from detections.attack import AttackCatalog, AttackDataError, catalog, from_stix, load_stix, packaged
from detections.tags import threats
from tests.detections.conftest import sigma_corpus

PACK = Path(__file__).resolve().parents[2] / "detections" / "rules" / "provincial"
NOT_THREATS = re.compile(r"^attack\.(g|s|c|m|ds|da)\d{4}$")  # groups, software, campaigns, ...


def _attack_tags(folders: list[Path]) -> set[str]:
    """Every `attack.*` tag of the rule documents under the folders, lower-cased."""
    found: set[str] = set()
    for folder in folders:
        for path in folder.rglob("*.yml"):
            for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
                if isinstance(doc, dict):
                    found |= {t.lower() for t in doc.get("tags") or () if t.lower().startswith("attack.")}
    return found


@pytest.fixture(scope="module")
def corpus_tags() -> set[str]:
    return _attack_tags(sigma_corpus())


def test_every_sigmahq_tactic_tag_resolves(corpus_tags: set[str]) -> None:
    tactic_tags = {t for t in corpus_tags if not re.match(r"^attack\.t\d{4}", t) and not NOT_THREATS.match(t)}
    assert {"attack.stealth", "attack.defense-impairment"} <= tactic_tags
    unresolved = sorted(t for t in tactic_tags if not any(x.tactic for x in threats([t])))
    assert unresolved == []


def test_every_sigmahq_technique_tag_resolves_with_a_name(corpus_tags: set[str]) -> None:
    techniques = sorted(t for t in corpus_tags if re.match(r"^attack\.t\d{4}(\.\d{3})?$", t))
    assert len(techniques) > 300
    for tag in techniques:
        (threat,) = threats([tag])
        assert threat.technique is not None and threat.technique["name"], tag


def test_every_provincial_attack_tag_resolves() -> None:
    tags = _attack_tags([PACK])
    assert tags
    assert sorted(t for t in tags if not threats([t])) == []


def test_alert_threat_carries_ids_names_and_references() -> None:
    (threat,) = threats(["attack.defense-impairment", "attack.t1685.001", "checklist.vn-06"])
    assert threat.tactic == {
        "id": "TA0112",
        "name": "Defense Impairment",
        "reference": "https://attack.mitre.org/tactics/TA0112/",
    }
    assert threat.technique == {
        "id": "T1685.001",
        "name": "Disable or Modify Windows Event Log",
        "reference": "https://attack.mitre.org/techniques/T1685/001/",
    }


def test_unknown_tags_are_ignored() -> None:
    tags = ["attack.g0016", "attack.s0002", "attack.no-such-tactic", "attack.t9999", "attack.t1059.999"]
    assert threats(tags) == []
    assert threats(["attack.T1059", "attack.Privilege_Escalation"])  # case and underscores tolerated


def test_threats_are_independent_copies() -> None:
    first = threats(["attack.execution", "attack.t1059"])
    assert first[0].technique is not None
    first[0].technique["name"] = "changed"
    assert threats(["attack.execution", "attack.t1059"])[0].technique == {
        "id": "T1059",
        "name": "Command and Scripting Interpreter",
        "reference": "https://attack.mitre.org/techniques/T1059/",
    }


def test_packaged_table_is_the_process_default() -> None:
    data = catalog()
    assert data.tactics == packaged().tactics
    assert len(data.techniques) > 600


# --- the official STIX bundle: revocations ---------------------------------------------------------


def _ref(external_id: str) -> list[dict[str, str]]:
    return [{"source_name": "mitre-attack", "external_id": external_id}]


def _pattern(stix_id: str, external_id: str, name: str, **extra: Any) -> dict[str, Any]:
    refs = _ref(external_id)
    return {"type": "attack-pattern", "id": stix_id, "name": name, "external_references": refs} | extra


def _revoked_by(source: str, target: str) -> dict[str, Any]:
    kind = {"type": "relationship", "relationship_type": "revoked-by"}
    return kind | {"source_ref": source, "target_ref": target}


def bundle() -> dict[str, Any]:
    """A small bundle in MITRE's shape: T1562.001 revoked by T1685 (ATT&CK v19's renumbering), an
    older id revoked by T1562.001 (a chain), a deprecated technique, and a deprecated tactic."""
    return {
        "type": "bundle",
        "objects": [
            {"type": "x-mitre-collection", "id": "x-mitre-collection--1", "x_mitre_version": "19.0"},
            {
                "type": "x-mitre-tactic",
                "id": "x-mitre-tactic--di",
                "name": "Defense Impairment",
                "x_mitre_shortname": "defense-impairment",
                "external_references": _ref("TA0112"),
            },
            {
                "type": "x-mitre-tactic",
                "id": "x-mitre-tactic--old",
                "name": "Old Tactic",
                "x_mitre_shortname": "old-tactic",
                "x_mitre_deprecated": True,
                "external_references": _ref("TA0099"),
            },
            _pattern("attack-pattern--new", "T1685", "Disable or Modify Tools"),
            _pattern("attack-pattern--old", "T1562.001", "Disable or Modify Tools", revoked=True),
            _pattern("attack-pattern--older", "T1089", "Disabling Security Tools", revoked=True),
            _pattern("attack-pattern--gone", "T1000", "Gone", x_mitre_deprecated=True),
            _revoked_by("attack-pattern--old", "attack-pattern--new"),
            _revoked_by("attack-pattern--older", "attack-pattern--old"),
        ],
    }


def test_revoked_technique_maps_to_its_successor() -> None:
    data = from_stix(bundle())
    assert data.version == "19.0"
    assert data.replaced_by == {"T1562.001": "T1685", "T1089": "T1685"}
    (threat,) = threats(["attack.defense-impairment", "attack.t1562.001"], data)
    assert threat.technique is not None and threat.technique["id"] == "T1685"
    assert threat.technique["name"] == "Disable or Modify Tools"
    assert threat.tactic is not None and threat.tactic["id"] == "TA0112"
    (chained,) = threats(["attack.t1089"], data)
    assert chained.technique is not None and chained.technique["id"] == "T1685"
    assert threats(["attack.t1000", "attack.old-tactic"], data) == []  # deprecated, no successor


def test_revocation_cycle_does_not_loop() -> None:
    doc = bundle()
    doc["objects"].append(_revoked_by("attack-pattern--new", "attack-pattern--older"))
    doc["objects"][3]["revoked"] = True
    data = from_stix(doc)
    assert data.replaced_by == {} and "T1685" not in data.techniques


def test_bundle_file_is_derived_once_then_read_from_the_cache(tmp_path: Path) -> None:
    path = tmp_path / "enterprise-attack.json"
    path.write_bytes(orjson.dumps(bundle()))
    cache_dir = tmp_path / "cache"
    mtime_ns = path.stat().st_mtime_ns
    first = load_stix(path, cache_dir)
    (cached,) = cache_dir.glob("attack-*.json")
    assert AttackCatalog.from_json(cached.read_bytes()).replaced_by == first.replaced_by
    path.write_bytes(b"not json any more")  # a changed file is a new key: parsed again, and refused
    with pytest.raises(AttackDataError):
        load_stix(path, cache_dir)
    path.write_bytes(orjson.dumps(bundle()))
    os.utime(path, ns=(mtime_ns, mtime_ns))  # the original key again: served from the cache
    marked = AttackCatalog("from-cache", first.tactics, first.techniques, first.replaced_by)
    cached.write_bytes(marked.to_json())
    assert load_stix(path, cache_dir).version == "from-cache"
    cached.write_bytes(b"garbage")  # a corrupt cache entry is rebuilt, not fatal
    again = load_stix(path, cache_dir)
    assert again.replaced_by == first.replaced_by
    assert AttackCatalog.from_json(cached.read_bytes()).techniques == first.techniques


def test_missing_bundle_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(AttackDataError, match=r"nope\.json"):
        load_stix(tmp_path / "nope.json", None)
