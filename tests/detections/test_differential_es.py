"""Differential test: our engine against Elasticsearch running the same Sigma rules.

Every record of EVTX-ATTACK-SAMPLES (`shared/data/evtx-attack-samples`, every `.evtx` file) goes
through `iter_records` + `NormalizeStage` (`evtx_json`), the path uploads take, and is indexed into
the real Elasticsearch. Every rule those events can reach (dispatched by our index: SigmaHQ and the
provincial pack) is converted by pysigma-backend-elasticsearch (`LuceneBackend`, its `dsl_lucene`
output) with OUR pipeline and run with `_msearch`; a rule with a Security-log variant (4688, 4657:
`detections.pipelines.security_pipeline`) is converted through both pipelines, queries ORed. Per
rule, the matched event ids must equal the engine's. The report goes to
`bench/results/differential.json` with `SOCPIPE_UPDATE_DOCS=1` (the README quotes it), else to the
temp directory, so a test run never changes the checkout.

The test index gives the backend's queries Sigma's semantics where Elasticsearch can:

- every string field is a `keyword` with a `lowercase` normalizer: Sigma matches case-insensitively,
  and the backend emits plain `query_string` (no `case_insensitive` flag), whose term and wildcard
  queries are normalized on such fields. `winlog.event_data.*` is mapped field by field, because the
  production mapping's `flattened` type takes no normalizer: its subfields match case-sensitively
  (see `test_production_flattened_event_data_is_case_sensitive`);
- `index.query.default_field` is `message` and `event.original`, the fields the engine searches for
  keyword (field-less) values, instead of every field.

A disagreement is accepted only when it is localized and explained:

1. the rule's detection is split into items (one `field|modifiers: values`, or one keyword list);
   each becomes a one-item rule with the same logsource, evaluated by both sides on the disagreeing
   events;
2. each side's item verdicts, put through the rule's condition, must give that side's rule verdict
   (so the differing items account for the whole disagreement and no condition logic is suspect);
3. every differing item must use a construct of a known class (`KNOWN_DIFFERENCES`), and for `re`
   and `cidr` items a third opinion (Python's `re.search`, `ipaddress`) must side with the engine.

Anything else fails the test with the rule, the items and the events. Queries Elasticsearch refuses
are localized the same way (which item it refuses), except a circuit-breaker trip (see `msearch`).
"""

from __future__ import annotations

import copy
import ipaddress
import json
import os
import re
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml
from elasticsearch import Elasticsearch, helpers
from sigma.backends.elasticsearch.elasticsearch_lucene import LuceneBackend
from sigma.collection import SigmaCollection
from sigma.conditions import ConditionAND, ConditionIdentifier, ConditionNOT, ConditionOR, ConditionSelector
from sigma.exceptions import SigmaError
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule

from detections.engine import DetectionEngine
from detections.matchers import KEYWORD_FIELDS
from detections.pipelines import has_security_variant, security_pipeline, socpipe_pipeline
from soc_core.event import Event
from soc_core.records import RawRecord, record_id
from stores.elastic.event_template import event_mapping_for
from tests.detections.conftest import SIGMA, sigma_corpus
from tests.servers import Servers

ROOT = Path(__file__).resolve().parents[2]
EVTX = SIGMA.parent / "evtx-attack-samples"
PACK = ROOT / "detections" / "rules" / "provincial"
REPORT = (
    ROOT / "bench" / "results" / "differential.json"
    if os.environ.get("SOCPIPE_UPDATE_DOCS") == "1"
    else Path(tempfile.gettempdir()) / "socpipe-differential.json"
)

#: Lucene refuses terms over 32,766 bytes; `ignore_above` counts UTF-16 units, at most 3 UTF-8 bytes each.
IGNORE_ABOVE = 32766 // 3
NORMALIZER = "sigma_lowercase"
KEYWORD: dict[str, Any] = {"type": "keyword", "normalizer": NORMALIZER, "ignore_above": IGNORE_ABOVE}
BATCH = 100
MIN_AGREEMENT = 0.99
ITEM_NAMESPACE = uuid.UUID("6f0c1d3e-5b7a-4c2e-9d1f-000000000d1f")

#: The known, explained classes of disagreement. An item is put in a class by what it uses.
KNOWN_DIFFERENCES: dict[str, str] = {
    "regex": (
        "Sigma `re` searches anywhere in the value with a PCRE-like dialect; Lucene regular expressions "
        'are anchored to the whole value, have their own dialect (`"`, `<>`, `#`, `@`, `&`, `~` are '
        "operators; `(?i)`, `(?:...)` and `\\b` are not PCRE's) and here run over the lower-cased terms "
        "of the normalized keyword. Elasticsearch refuses some outright (syntax, or more than 10,000 "
        "determinization states)."
    ),
    "cidr": (
        "On a keyword field the backend's `field:10.0.0.0\\/8` is a term query for that literal text; "
        "the engine tests network membership. An `ip` field would do CIDR but not the wildcard "
        "queries (`startswith`, `contains`) rules also put on the same IP fields."
    ),
    "long_value": (
        f"Values over {IGNORE_ABOVE} characters are not indexed as keywords (Lucene's 32,766-byte term "
        "limit), so Elasticsearch cannot match them; the engine reads the whole value."
    ),
    "fieldref": "The Lucene backend refuses `fieldref` (field-to-field comparison): nothing to compare.",
    "cased": "The Lucene backend refuses `cased` (case-sensitive matching): nothing to compare.",
    "es_limit": (
        "Elasticsearch refused the query as too expensive for this 1 GB heap (request circuit breaker on "
        "the automaton of a long list of leading-wildcard patterns)."
    ),
}

#: Semantics made equal by the test index, listed in the report (they cause no disagreement here).
ALIGNED = {
    "case": "keyword fields with a lowercase normalizer: Sigma's default case-insensitive matching",
    "keyword_scope": (
        "Lucene's field-less `*value*` searches `index.query.default_field`, set to message and "
        "event.original: the fields the engine searches (instead of every field)"
    ),
    "empty_values": (
        'the normalizers keep an empty EventData value as `""` (a keyword term Elasticsearch indexes, '
        "so `exists` holds) and leave an absent one out: `field: ''` matches the former and "
        "`field: null` (`NOT _exists_`) only the latter, on both sides"
    ),
    "variants": (
        "a rule with a Security-log variant (process_creation -> 4688, registry -> 4657) is converted "
        "through both pipelines and its queries ORed, as the engine ORs the compiled variants"
    ),
}


# ---------------------------------------------------------------- data


@dataclass
class Corpus:
    events: list[Event]
    files: int
    read_errors: int
    dead: list[str]
    seconds: float

    @property
    def flats(self) -> dict[str, dict[str, Any]]:
        return {e.id: e.flat() for e in self.events}


def load_events() -> Corpus:
    """Every record of every .evtx file, normalized as an upload would be."""
    from normalizers.evtx_file import ReadStats, iter_records
    from normalizers.stage import NormalizeStage

    started = time.perf_counter()
    paths = sorted(EVTX.rglob("*.evtx"))
    if not paths:
        pytest.fail(f"EVTX-ATTACK-SAMPLES missing: no .evtx under {EVTX}")
    stage = NormalizeStage()
    events: list[Event] = []
    dead: list[str] = []
    errors = 0
    for path in paths:
        stats = ReadStats()
        name = str(path.relative_to(EVTX))
        for n, payload in enumerate(iter_records(path, stats)):
            rid = record_id("evtx-attack-samples", payload, shipper_id=f"{name}:{n}")
            result = stage(
                RawRecord(id=rid, source_id="evtx-attack-samples", format="evtx_json", payload=payload)
            )
            if isinstance(result, Event):
                events.append(result)
            else:
                dead.append(f"{name}[{n}]: {result.reason}")
        errors += stats.errors
    return Corpus(events, len(paths), errors, dead, time.perf_counter() - started)


def rule_cache_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pytest's cache dir when available: the rule cache is keyed by the engine's own fingerprint."""
    cache = getattr(request.config, "cache", None)
    if cache is not None:
        return Path(cache.mkdir("socpipe-rule-cache"))
    return tmp_path_factory.mktemp("rule-cache")


# ---------------------------------------------------------------- Elasticsearch side


def sigma_index_mapping(flats: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Explicit keyword (lowercase-normalized) fields for every field present in the events."""
    properties: dict[str, Any] = {"@timestamp": {"type": "date"}}
    for flat in flats:
        for key in flat:
            if key == "@timestamp":
                continue
            node = properties
            parts = key.split(".")
            for part in parts[:-1]:
                child = node.setdefault(part, {"properties": {}})
                assert "properties" in child, f"{key}: {part} is both a value and an object"
                node = child["properties"]
            existing = node.setdefault(parts[-1], dict(KEYWORD))
            assert "properties" not in existing, f"{key} is both a value and an object"
    return {"dynamic": False, "properties": properties}


def create_index(es: Elasticsearch, index: str, mapping: dict[str, Any], fields: int) -> None:
    es.indices.create(
        index=index,
        settings={
            "number_of_shards": 1,
            "number_of_replicas": 0,
            "analysis": {"normalizer": {NORMALIZER: {"type": "custom", "filter": ["lowercase"]}}},
            "index.query.default_field": list(KEYWORD_FIELDS),
            "index.mapping.total_fields.limit": fields + 1000,
        },
        mappings=mapping,
    )


def index_events(es: Elasticsearch, index: str, events: Sequence[Event]) -> None:
    actions = ({"_index": index, "_id": e.id, "_source": e.to_doc()} for e in events)
    ok, errors = helpers.bulk(es.options(request_timeout=120), actions, chunk_size=1000, raise_on_error=False)
    assert isinstance(errors, list) and errors == [] and ok == len(events), errors
    es.indices.refresh(index=index)


@dataclass
class Outcome:
    """What Elasticsearch answered for one query: the matching ids, or the error."""

    ids: set[str] = field(default_factory=set)
    error: dict[str, Any] | None = None

    @property
    def error_type(self) -> str:
        if self.error is None:
            return ""
        causes = self.error.get("root_cause") or [self.error]
        return str(causes[0].get("type", self.error.get("type", "")))

    @property
    def error_reason(self) -> str:
        if self.error is None:
            return ""
        causes = self.error.get("root_cause") or [self.error]
        return str(causes[0].get("reason", ""))[:300]


def msearch(es: Elasticsearch, index: str, queries: dict[str, dict[str, Any]]) -> dict[str, Outcome]:
    """Run named queries in `_msearch` batches of `BATCH` (the node runs a few at a time).

    No retry: the one query that trips the request breaker here (a 4,400-pattern `Hashes|contains`
    list) spends ~35 s building its automaton and fails alone too, so it is classified, not retried.
    """
    out: dict[str, Outcome] = {}
    names = list(queries)
    for start in range(0, len(names), BATCH):
        chunk = names[start : start + BATCH]
        searches: list[dict[str, Any]] = []
        for name in chunk:
            searches += [{"index": index}, {"size": 10_000, "_source": False, **queries[name]}]
        responses = es.options(request_timeout=300).msearch(searches=searches)["responses"]
        for name, resp in zip(chunk, responses, strict=True):
            if "error" in resp:
                out[name] = Outcome(error=resp["error"])
                continue
            hits = resp["hits"]
            assert hits["total"]["relation"] == "eq" and hits["total"]["value"] <= 10_000, name  # all ids
            out[name] = Outcome(ids={hit["_id"] for hit in hits["hits"]})
    return out


def dsl(converted: list[Any]) -> dict[str, Any]:
    """The backend's `dsl_lucene` output (one query per rule condition) as one search body."""
    clauses = [q["query"] for q in converted]
    return {"query": clauses[0] if len(clauses) == 1 else {"bool": {"should": clauses}}}


class Converter:
    """The Lucene backend over each variant's pipeline, ORed as the engine ORs compiled variants."""

    def __init__(self) -> None:
        self.main = LuceneBackend(processing_pipeline=socpipe_pipeline())
        self.security = LuceneBackend(processing_pipeline=security_pipeline())

    def convert(self, rule: SigmaRule) -> dict[str, Any]:
        """Raises what the backend raises (SigmaError, NotImplementedError) for either variant."""
        variants = [copy.deepcopy(rule)] if has_security_variant(rule) else []
        converted = self.main.convert_rule(rule, "dsl_lucene")
        for variant in variants:
            converted += self.security.convert_rule(variant, "dsl_lucene")
        return dsl(converted)


def restricted(query: dict[str, Any], ids: Iterable[str]) -> dict[str, Any]:
    """The query on the given events only (localization looks at the disagreeing events)."""
    return {"query": {"bool": {"must": [query["query"]], "filter": [{"ids": {"values": sorted(ids)}}]}}}


# ---------------------------------------------------------------- rules and their items


@dataclass
class RuleCase:
    rule_id: str
    title: str
    path: str
    ruleset: str
    doc: dict[str, Any]
    query: dict[str, Any] | None = None
    not_convertible: str | None = None
    security_variant: bool = False


def _yaml_docs(path: Path) -> Iterator[dict[str, Any]]:
    for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        if isinstance(doc, dict):
            yield doc


def convert_rules(engine: DetectionEngine, rule_ids: set[str]) -> dict[str, RuleCase]:
    """Each reachable rule, parsed from its file again and converted by the Lucene backend."""
    converter = Converter()
    by_path: dict[str, list[str]] = defaultdict(list)
    for rule_id in sorted(rule_ids):
        by_path[engine.rule(rule_id).path].append(rule_id)
    cases: dict[str, RuleCase] = {}
    for path, ids in sorted(by_path.items()):
        text = Path(path).read_text(encoding="utf-8")
        docs = {str(d.get("id")): d for d in _yaml_docs(Path(path))}
        collection = SigmaCollection.from_yaml(
            text, collect_errors=True, collect_filters=True, resolve_references=False
        )
        for rule in collection.rules:
            if not isinstance(rule, SigmaRule) or str(rule.id) not in ids:
                continue
            info = engine.rule(str(rule.id))
            case = RuleCase(info.id, info.title, path, info.ruleset, docs[info.id])
            case.security_variant = has_security_variant(rule)
            try:
                case.query = converter.convert(rule)
            except (SigmaError, NotImplementedError) as exc:
                case.not_convertible = f"{type(exc).__name__}: {exc}"
            cases[case.rule_id] = case
    missing = rule_ids - set(cases)
    assert not missing, f"reachable rules not found in their files: {sorted(missing)[:5]}"
    return cases


@dataclass
class Item:
    """One item of a rule's detection, and its one-item rule."""

    name: str
    key: str | None  # `Field|mod|mod`, or None for a keyword list
    rule: dict[str, Any]

    @property
    def modifiers(self) -> list[str]:
        return self.key.split("|")[1:] if self.key else []

    @property
    def rule_id(self) -> str:
        return str(self.rule["id"])


def split_items(case: RuleCase) -> list[Item]:
    """Every `field|modifiers: values` of every selection (and each keyword list) as a one-item rule."""
    detection = case.doc["detection"]
    items: list[Item] = []

    def add(name: str, key: str | None, value: Any) -> None:
        body = {key: value} if key is not None else value
        rule = {
            "title": f"{case.title} [{name}]",
            "id": str(uuid.uuid5(ITEM_NAMESPACE, f"{case.rule_id}/{name}")),
            "status": "test",
            "level": "low",
            "logsource": case.doc["logsource"],
            "detection": {"item": body, "condition": "item"},
        }
        items.append(Item(name, key, rule))

    for sel_name, sel in detection.items():
        if sel_name in ("condition", "timeframe"):
            continue
        if isinstance(sel, dict):
            for key, value in sel.items():
                add(f"{sel_name}.{key}", key, value)
        elif isinstance(sel, list) and sel and all(isinstance(v, dict) for v in sel):
            for n, part in enumerate(sel):
                for key, value in part.items():
                    add(f"{sel_name}[{n}].{key}", key, value)
        else:
            add(sel_name, None, sel)
    return items


def item_fields(item: Item) -> set[str]:
    """The ECS fields an item reads once our pipeline has mapped it (not the logsource's)."""
    if item.key is None:
        return set(KEYWORD_FIELDS)
    rule = SigmaRule.from_dict(item.rule)
    rules = [rule, copy.deepcopy(rule)] if has_security_variant(rule) else [rule]
    socpipe_pipeline().apply(rules[0])
    if len(rules) > 1:
        security_pipeline().apply(rules[1])
    found: set[str] = set()

    def walk(detection: SigmaDetection) -> None:
        for part in detection.detection_items:
            if isinstance(part, SigmaDetection):
                walk(part)
            elif isinstance(part, SigmaDetectionItem) and part.field:
                found.add(part.field)

    for variant in rules:
        walk(variant.detection.detections["item"])
    return found


def _strings(value: Any) -> list[str]:
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return [value] if isinstance(value, str) else []


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def oracle(item: Item, flat: dict[str, Any], fields: set[str]) -> bool | None:
    """A third opinion on a `re` or `cidr` item: Python's `re.search` (Sigma's unanchored regex)
    or `ipaddress` network membership. None when it has none (another item kind, or a pattern
    Python's `re` cannot compile)."""
    assert item.key is not None
    patterns = [str(v) for v in _strings(item.rule["detection"]["item"][item.key])]
    found = [v for name in fields for v in _strings(flat.get(name))]
    if "re" in item.modifiers:
        flags = (
            (re.IGNORECASE if "i" in item.modifiers else 0)
            | (re.MULTILINE if "m" in item.modifiers else 0)
            | (re.DOTALL if "s" in item.modifiers else 0)
        )
        try:
            compiled = [re.compile(p, flags) for p in patterns]
        except re.error:
            return None
        hits = [any(c.search(v) for v in found) for c in compiled]
    elif "cidr" in item.modifiers:
        addresses = [a for a in map(_address, found) if a is not None]
        networks = [ipaddress.ip_network(p, strict=False) for p in patterns]
        hits = [any(a.version == n.version and a in n for a in addresses) for n in networks]
    else:
        return None
    return all(hits) if "all" in item.modifiers else any(hits)


def rule_verdict(case: RuleCase, items: Mapping[str, bool]) -> bool:
    """The rule's condition over per-item verdicts (named as `split_items` names them; absent: False).

    Substituting one side's item verdicts must give that side's rule verdict: then the items that
    differ account for the whole disagreement, and neither side's condition logic is suspect.
    """
    rule = SigmaRule.from_dict(case.doc)
    detection = case.doc["detection"]

    def selection(name: str) -> bool:
        sel = detection[name]
        if isinstance(sel, dict):
            return all(items.get(f"{name}.{key}", False) for key in sel)
        if isinstance(sel, list) and sel and all(isinstance(v, dict) for v in sel):
            return any(
                all(items.get(f"{name}[{n}].{key}", False) for key in part) for n, part in enumerate(sel)
            )
        return items.get(name, False)

    def evaluate(node: Any) -> bool:
        if isinstance(node, ConditionIdentifier):
            return selection(node.identifier)
        if isinstance(node, ConditionSelector):
            names = [i.identifier for i in node.resolve_referenced_detections(rule.detection)]
            results = [selection(name) for name in names]
            return all(results) if node.cond_class is ConditionAND else any(results)
        if isinstance(node, ConditionNOT):
            return not evaluate(node.args[0])
        if isinstance(node, ConditionAND):
            return all(evaluate(arg) for arg in node.args)
        if isinstance(node, ConditionOR):
            return any(evaluate(arg) for arg in node.args)
        raise AssertionError(f"unexpected condition element {node!r}")

    return any(evaluate(c.parse(postprocess=False)) for c in rule.detection.parsed_condition)


def second_opinion(
    item: Item, entry: dict[str, Any], mine: set[str], theirs: set[str], flats: dict[str, dict[str, Any]]
) -> list[str]:
    """A `regex`/`cidr` difference is accepted only if the oracle sides with the engine on every
    event in question (else the engine, not Lucene, may be wrong). Records the tally in `entry`."""
    fields = item_fields(item)
    opinions = {e: oracle(item, flats[e], fields) for e in mine ^ theirs}
    entry["oracle"] = "python re" if entry["class"] == "regex" else "ipaddress"
    entry["oracle_agrees_with_engine"] = sum(1 for e, o in opinions.items() if o == (e in mine))
    entry["oracle_unavailable"] = sum(1 for o in opinions.values() if o is None)
    wrong = sorted(e for e, o in opinions.items() if o is not None and o != (e in mine))
    return [f"{item.name}: {entry['oracle']} disagrees with the engine on {wrong[:5]}"] if wrong else []


def classify(item: Item, events: Iterable[dict[str, Any]]) -> str | None:
    """The known class that explains a difference on this item, or None."""
    fields = item_fields(item)
    for flat in events:
        for name in fields:
            value = flat.get(name)
            if isinstance(value, str) and len(value) > IGNORE_ABOVE:
                return "long_value"
    for modifier, known in (("re", "regex"), ("cidr", "cidr"), ("fieldref", "fieldref"), ("cased", "cased")):
        if modifier in item.modifiers:
            return known
    return None


# ---------------------------------------------------------------- localization


@dataclass
class Finding:
    """One rule that did not agree (or could not be compared), and why."""

    case: RuleCase
    engine_only: set[str] = field(default_factory=set)
    es_only: set[str] = field(default_factory=set)
    kind: str = "disagreement"  # or "not_compared"
    reason: str | None = None
    error_type: str = ""
    items: list[dict[str, Any]] = field(default_factory=list)
    unexplained: list[str] = field(default_factory=list)

    @property
    def classes(self) -> list[str]:
        return sorted({str(i["class"]) for i in self.items if i.get("class")})

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.case.rule_id,
            "title": self.case.title,
            "path": _shown(self.case.path),
            "ruleset": self.case.ruleset,
            "engine_only": len(self.engine_only),
            "es_only": len(self.es_only),
            "engine_only_sample": sorted(self.engine_only)[:5],
            "es_only_sample": sorted(self.es_only)[:5],
            "reason": self.reason,
            "classes": self.classes,
            "explanation": " ".join(KNOWN_DIFFERENCES[c] for c in self.classes),
            "items": self.items,
            "unexplained": self.unexplained,
        }


def _shown(path: str) -> str:
    """A rule's path relative to the repository, or to the SigmaHQ checkout."""
    resolved = Path(path).resolve()
    for base, label in ((ROOT, ""), (SIGMA, "sigma/")):
        if resolved.is_relative_to(base):
            return label + str(resolved.relative_to(base))
    return path


def accounted_for(
    finding: Finding, engine_items: dict[str, set[str]], es_items: dict[str, set[str]]
) -> list[str]:
    """Check, per disagreeing event, that each side's item verdicts give that side's rule verdict."""
    problems: list[str] = []
    for event_id in sorted(finding.engine_only | finding.es_only):
        sides = (
            ("engine", engine_items, event_id in finding.engine_only),
            ("elasticsearch", es_items, event_id in finding.es_only),
        )
        for side, items, fired in sides:
            verdicts = {name: event_id in ids for name, ids in items.items()}
            if rule_verdict(finding.case, verdicts) != fired:
                problems.append(f"{side}: its item verdicts do not give its rule verdict on {event_id}")
    return problems


def localize(
    findings: list[Finding],
    es: Elasticsearch,
    index: str,
    flats: dict[str, dict[str, Any]],
    folder: Path,
) -> None:
    """Evaluate every item of each finding's rule on both sides, on the events in question."""
    converter = Converter()
    items_of: dict[str, list[Item]] = {}
    queries: dict[str, dict[str, Any]] = {}
    not_convertible: dict[str, str] = {}
    folder.mkdir(parents=True, exist_ok=True)
    for n, finding in enumerate(findings):
        if finding.error_type == "circuit_breaking_exception":  # see msearch: not worth 35 s per item
            finding.items.append({"item": "(the whole rule)", "class": "es_limit", "error": finding.reason})
            continue
        items = items_of[finding.case.rule_id] = split_items(finding.case)
        events = finding.engine_only | finding.es_only
        for item in items:
            (folder / f"{item.rule_id}.yml").write_text(yaml.safe_dump(item.rule, sort_keys=False), "utf-8")
            try:
                query = converter.convert(SigmaRule.from_dict(item.rule))
            except (SigmaError, NotImplementedError) as exc:
                not_convertible[item.rule_id] = f"{type(exc).__name__}: {exc}"
                continue
            # Without events (a refused rule) only the errors matter: `size: 0` (an empty `ids`
            # filter would let Elasticsearch skip parsing the query).
            queries[f"{n}/{item.rule_id}"] = restricted(query, events) if events else {**query, "size": 0}
    sub_engine = DetectionEngine.from_folders([folder])
    quarantined = {q.rule_id: q.reason for q in sub_engine.quarantined if q.rule_id}
    answers = msearch(es, index, queries)
    engine_hits: dict[str, set[str]] = defaultdict(set)
    for finding in findings:
        for event_id in finding.engine_only | finding.es_only:
            for match in sub_engine.match(flats[event_id]):
                engine_hits[match.rule.id].add(event_id)

    for n, finding in enumerate(findings):
        if finding.case.rule_id not in items_of:
            continue
        events = finding.engine_only | finding.es_only
        differing = 0
        engine_items: dict[str, set[str]] = {}
        es_items: dict[str, set[str]] = {}
        for item in items_of[finding.case.rule_id]:
            entry: dict[str, Any] = {"item": item.name}
            if item.rule_id in quarantined:
                finding.unexplained.append(
                    f"{item.name}: the engine quarantined it: {quarantined[item.rule_id]}"
                )
                continue
            if item.rule_id in not_convertible:
                entry["class"] = classify(item, [])
                entry["error"] = not_convertible[item.rule_id]
            else:
                answer = answers[f"{n}/{item.rule_id}"]  # per finding: its events
                if answer.error is not None:
                    entry["error"] = answer.error_reason
                    entry["class"] = (
                        "es_limit"
                        if answer.error_type == "circuit_breaking_exception"
                        else classify(item, [])
                    )
                else:
                    mine = engine_hits.get(item.rule_id, set()) & events
                    engine_items[item.name], es_items[item.name] = mine, answer.ids
                    if mine == answer.ids:
                        continue
                    entry["engine_only"] = len(mine - answer.ids)
                    entry["es_only"] = len(answer.ids - mine)
                    entry["class"] = classify(item, (flats[e] for e in (mine ^ answer.ids)))
                    if entry["class"] in ("regex", "cidr"):
                        finding.unexplained += second_opinion(item, entry, mine, answer.ids, flats)
            differing += 1
            finding.items.append(entry)
            if entry["class"] is None:
                finding.unexplained.append(f"{item.name}: {entry}")
        if finding.kind == "disagreement" and not finding.unexplained:
            finding.unexplained += accounted_for(finding, engine_items, es_items)
        if differing or finding.unexplained:
            continue
        if finding.kind == "disagreement":
            finding.unexplained.append(
                "every item agrees on these events, so the condition logic differs "
                f"(events: {sorted(events)[:5]})"
            )
        else:
            finding.unexplained.append(
                f"Elasticsearch refused the rule but none of its items: {finding.reason}"
            )


# ---------------------------------------------------------------- the test


def test_engine_agrees_with_elasticsearch_on_evtx_attack_samples(
    servers: Servers,
    prefix: str,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    corpus = load_events()
    seconds["normalize"] = corpus.seconds
    assert corpus.dead == [], corpus.dead[:5]
    assert len(corpus.events) >= 8000
    flats = corpus.flats

    mark = time.perf_counter()
    engine = DetectionEngine.from_folders(
        [PACK, *sigma_corpus()], cache_dir=rule_cache_dir(request, tmp_path_factory)
    )
    reachable: set[str] = set()
    for flat in flats.values():
        reachable.update(info.id for info in engine.dispatched(flat))
    matched: dict[str, set[str]] = defaultdict(set)
    for event_id, flat in flats.items():
        for match in engine.match(flat):
            matched[match.rule.id].add(event_id)
    seconds["engine"] = time.perf_counter() - mark

    mark = time.perf_counter()
    cases = convert_rules(engine, reachable)
    seconds["convert"] = time.perf_counter() - mark

    es = Elasticsearch(servers.es_url, request_timeout=300)
    index = f"{prefix}differential-events"
    try:
        server = str(next(iter(es.nodes.info()["nodes"].values()))["version"])
        mark = time.perf_counter()
        mapping = sigma_index_mapping(flats.values())
        create_index(es, index, mapping, fields=sum(1 for _ in _leaves(mapping)))
        index_events(es, index, corpus.events)
        seconds["index"] = time.perf_counter() - mark

        mark = time.perf_counter()
        runnable = {rid: c.query for rid, c in cases.items() if c.query is not None}
        answers = msearch(es, index, runnable)
        seconds["search"] = time.perf_counter() - mark

        findings: list[Finding] = []
        agreements = 0
        for rule_id, case in sorted(cases.items()):
            if case.not_convertible is not None:
                findings.append(Finding(case, kind="not_compared", reason=case.not_convertible))
                continue
            answer = answers[rule_id]
            if answer.error is not None:
                findings.append(
                    Finding(
                        case, kind="not_compared", reason=answer.error_reason, error_type=answer.error_type
                    )
                )
                continue
            mine = matched.get(rule_id, set())
            if mine == answer.ids:
                agreements += 1
            else:
                findings.append(Finding(case, engine_only=mine - answer.ids, es_only=answer.ids - mine))

        mark = time.perf_counter()
        localize(findings, es, index, flats, tmp_path_factory.mktemp("item-rules"))
        seconds["localize"] = time.perf_counter() - mark
    finally:
        es.indices.delete(index=index, ignore_unavailable=True)
        es.close()

    seconds["total"] = time.perf_counter() - started
    compared = sum(1 for c in cases.values() if c.query is not None and answers[c.rule_id].error is None)
    report = _report(corpus, engine, cases, compared, agreements, findings, mapping, seconds, server)
    # the Security-log variants are compared on real Security events, not only converted
    security = {e for e, flat in flats.items() if flat.get("winlog.channel") == "Security"}
    variant_hits = {
        rule_id: sorted(ids & security)
        for rule_id, ids in matched.items()
        if cases[rule_id].security_variant
        and ids & security
        and rule_id in answers
        and answers[rule_id].ids == ids
    }
    report["summary"]["security_variant_rules_agreeing_on_security_events"] = len(variant_hits)
    _write(report)
    print(f"differential: {json.dumps(report['summary'])} -> {REPORT}")  # shown with `pytest -s`

    unexplained = {f.case.rule_id: (f.case.title, f.unexplained) for f in findings if f.unexplained}
    assert unexplained == {}, f"unexplained disagreements with Elasticsearch (see {REPORT}): {unexplained}"
    assert compared >= 2500, f"only {compared} rules compared: corpus or data set missing?"
    assert agreements / compared >= MIN_AGREEMENT, report["summary"]
    pack = [c for c in cases.values() if c.ruleset == PACK.name]
    assert pack and all(c.query is not None and answers[c.rule_id].error is None for c in pack)
    assert variant_hits, "no rule fired through its Security-log variant: the 4688 events are not compared"


def _leaves(mapping: dict[str, Any]) -> Iterator[str]:
    for name, spec in mapping.get("properties", {}).items():
        if "properties" in spec:
            yield from (f"{name}.{leaf}" for leaf in _leaves(spec))
        else:
            yield name


def _report(
    corpus: Corpus,
    engine: DetectionEngine,
    cases: dict[str, RuleCase],
    compared: int,
    agreements: int,
    findings: list[Finding],
    mapping: dict[str, Any],
    seconds: dict[str, float],
    server: str,
) -> dict[str, Any]:
    disagreements = [f for f in findings if f.kind == "disagreement"]
    not_compared = [f for f in findings if f.kind == "not_compared"]
    by_class: dict[str, Counter[str]] = defaultdict(Counter)
    for f in findings:
        for c in f.classes or ["unexplained"]:
            by_class[c][f.kind] += 1
    summary = engine.summary()
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": {
            "elasticsearch_server": server,
            **{dist: metadata.version(dist) for dist in ("pysigma", "pysigma-backend-elasticsearch")},
        },
        "data": {
            "source": "shared/data/evtx-attack-samples, read by iter_records, normalized by NormalizeStage",
            "evtx_files": corpus.files,
            "events": len(corpus.events),
            "unreadable_records": corpus.read_errors,
            "dead_letters": len(corpus.dead),
        },
        "rules": {
            "loaded": summary["rules"],
            "routed": summary["routed"],
            "quarantined": summary["quarantined"],
            "reachable": len(cases),
            "reachable_provincial": sum(1 for c in cases.values() if c.ruleset == PACK.name),
            "reachable_with_security_variant": sum(1 for c in cases.values() if c.security_variant),
        },
        "summary": {
            "rules_compared": compared,
            "agreements": agreements,
            "disagreements": len(disagreements),
            "agreement_rate": round(agreements / compared, 5) if compared else None,
            "not_compared": len(not_compared),
            "unexplained": sum(1 for f in findings if f.unexplained),
            "by_class": {c: dict(counts) for c, counts in sorted(by_class.items())},
        },
        "classes": KNOWN_DIFFERENCES,
        "aligned_by_the_test_index": ALIGNED,
        "mapping": {
            "test_index": {
                "fields": sum(1 for _ in _leaves(mapping)),
                "keyword": KEYWORD,
                "default_field": list(KEYWORD_FIELDS),
            },
            "production": {
                "today": "winlog.event_data is one `flattened` field (stores.elastic.event_template)",
                "finding": (
                    "the backend's term and wildcard queries work on flattened subfields, but "
                    "case-sensitively (flattened takes no normalizer): Sigma queries miss values in "
                    "another case (test_production_flattened_event_data_is_case_sensitive)"
                ),
                "recommendation": (
                    "map winlog.event_data as an object whose string subfields are keyword with a "
                    "lowercase normalizer and ignore_above 10922, through a dynamic template "
                    "(path_match winlog.event_data.*, match_mapping_type string), with "
                    "index.mapping.total_fields.limit raised to bound it; or list the EventData names "
                    "the routed rules use as explicit properties under dynamic: false"
                ),
            },
        },
        "disagreements": [f.to_dict() for f in disagreements],
        "not_compared": [f.to_dict() for f in not_compared],
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
    }


def _write(report: dict[str, Any]) -> None:
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    tmp = REPORT.with_name(REPORT.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(REPORT)


# ---------------------------------------------------------------- why not the production mapping


def test_production_flattened_event_data_is_case_sensitive(servers: Servers, prefix: str) -> None:
    """The backend's wildcards work on `flattened` subfields, but without a normalizer they are
    case-sensitive, which Sigma is not: why the differential index maps EventData field by field.

    Pins the finding against `stores.elastic.event_template`: if production adopts keyword
    subfields with a lowercase normalizer, flip the second assertion.
    """
    rule = SigmaCollection.from_yaml(
        """
title: cmd
id: 00000000-0000-4000-8000-00000000c0de
status: test
level: low
logsource: {category: process_creation, product: windows}
detection:
    selection: {Image|endswith: '\\cmd.exe'}
    condition: selection
"""
    ).rules[0]
    assert isinstance(rule, SigmaRule)
    query = dsl(LuceneBackend(processing_pipeline=socpipe_pipeline()).convert_rule(rule, "dsl_lucene"))
    docs = {
        "same-case": "C:\\Windows\\System32\\cmd.exe",
        "upper-case": "C:\\WINDOWS\\system32\\CMD.EXE",
    }
    es = Elasticsearch(servers.es_url)
    production, ours = f"{prefix}flattened", f"{prefix}keyword"
    try:
        es.indices.create(index=production, mappings=event_mapping_for(es))
        create_index(
            es,
            ours,
            sigma_index_mapping([dict.fromkeys(("winlog.channel", "event.code", "winlog.event_data.Image"))]),
            fields=10,
        )
        for index in (production, ours):
            for doc_id, image in docs.items():
                document = {
                    "@timestamp": "2025-07-15T01:30:00Z",
                    "event": {"code": "1"},
                    "winlog": {
                        "channel": "Microsoft-Windows-Sysmon/Operational",
                        "event_data": {"Image": image},
                    },
                }
                es.index(index=index, id=doc_id, document=document, refresh=True)
        hits = {
            index: {h["_id"] for h in es.search(index=index, **query)["hits"]["hits"]}
            for index in (production, ours)
        }
    finally:
        es.indices.delete(index=f"{prefix}*", ignore_unavailable=True, allow_no_indices=True)
        es.close()
    assert hits[ours] == {"same-case", "upper-case"}
    assert hits[production] == {"same-case"}, "flattened subfields became case-insensitive: update the report"
