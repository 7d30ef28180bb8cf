"""Alerts in Elasticsearch as ECS documents, converted at the adapter boundary (issue 18).

The domain's alert (`soc_core.alert.Alert`) keeps its shape; only what Elasticsearch stores changes.
An alert is written as an ECS "external alert" (ECS `event.kind: alert`: a detection rule that runs
outside the Elastic Stack): the triggering event's ECS fields at their ECS names at the top level
(`host.name`, `user.name`, `source.ip`, `process.*`, ...), `event.kind: alert`, the detection rule as
`rule.*` and its ATT&CK entries as `threat.*`. Kibana's own `kibana.alert.*` fields are not written:
they belong to alerts Kibana's rules create in its hidden `.alerts-security.alerts-*` indices, whose
mappings Elastic says not to change; Kibana's Security app reads external alerts by `event.kind:
alert` in the indices it is pointed at (docs/ecosystem.md says how).

The alert's bookkeeping keeps its names at the top level (`id`, `severity`, `triage.*`, `count`,
...: none is an ECS field set), so every query, saved view and the SQLite store are unchanged; the
group key, which `group` would clash with ECS `group.*` (Windows group changes carry it), is
`soc.alert.group`. The old names people type in KQL (`host_name`, `user_name`, `kind`) are field
aliases in the new indices.

Lossless both ways: where the event held a value at a place the alert now writes (its own
`event.kind`, a firewall's `rule.name`, ...), the event's value is kept in `soc.alert.restore`
(stored, not indexed), so reading an alert back gives the same model, triggering event included.

Indices written before this shape (`<prefix>alerts-YYYY.MM`, the old mapping) stay as they are and
are read in their shape; new alerts go to `<prefix>alerts-ecs-YYYY.MM`. `ElasticStore.setup` adds
aliases to the old indices (`host.name` -> `host_name`, ...), so one query answers both.
"""

from __future__ import annotations

import copy
from typing import Any

from soc_core.alert import Alert
from soc_core.kql.text import search_text
from stores.elastic.kql import SEARCH_FIELD

#: The mark of ECS-shaped alert indices: `<prefix>alerts-ecs-2026.12` (old ones: `alerts-2026.12`).
ECS_MARK = "ecs-"

KW: dict[str, Any] = {"type": "keyword", "ignore_above": 4096}
STORED_ONLY: dict[str, Any] = {"type": "keyword", "index": False, "doc_values": False}
DATE: dict[str, Any] = {"type": "date"}
LONG: dict[str, Any] = {"type": "long"}
# The keyword fields people type in the search box also feed one analysed `all_text` field
# (`copy_to`, not kept in `_source`), so free text finds "mimikatz" in "Mimikatz Use" without wildcards.
KW_TEXT: dict[str, Any] = {**KW, "copy_to": "all_text"}
SEARCH_TEXT: dict[str, Any] = {"type": "text", "analyzer": "whitespace", "norms": False}


def _obj(**props: dict[str, Any]) -> dict[str, Any]:
    return {"properties": props}


def _alias(path: str) -> dict[str, Any]:
    return {"type": "alias", "path": path}


#: Kibana's default risk score of each severity (its rule form's buckets), as ECS `event.severity`.
EVENT_SEVERITY = {"low": 21, "medium": 47, "high": 73, "critical": 99}

#: The alert's own top-level fields, not ECS and clashing with none of its field sets.
BOOKKEEPING = (
    "id",
    "severity",
    "checklist",
    "event_ids",
    "matched",
    "count",
    "first_seen",
    "last_seen",
    "created_at",
    "triage",
)
#: Field aliases of the new indices: a document may not hold a value there.
OLD_NAMES = {"kind": "event.kind", "host_name": "host.name", "user_name": "user.name"}
#: Places the alert shares with its event by construction (the event's time, host, user, context):
#: the value stays for the event on read, unless the event did not have it or had another.
MIRRORED = {"@timestamp": "@timestamp", "host.name": "host_name", "user.name": "user_name", "soc": "soc"}

_MISSING = object()
_RESTORE = ("soc", "alert", "restore")


def _split(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def _get(doc: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = doc
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return _MISSING
        node = node[key]
    return node


def _pop(doc: dict[str, Any], path: tuple[str, ...]) -> Any:
    parent = _get(doc, path[:-1]) if len(path) > 1 else doc
    if not isinstance(parent, dict) or path[-1] not in parent:
        return _MISSING
    return parent.pop(path[-1])


def _put(doc: dict[str, Any], path: tuple[str, ...], value: Any, restore: dict[str, Any] | None) -> None:
    """Set `path`; with `restore`, a parent the event lacked is noted `absent` and one that was not an
    object is noted `replaced` (the event's value), so reading gives the event back."""
    node = doc
    for depth, key in enumerate(path[:-1]):
        child = node.get(key, _MISSING)
        if not isinstance(child, dict):
            if restore is not None:
                where = ".".join(path[: depth + 1])
                if child is _MISSING:
                    restore.setdefault("absent", []).append(where)
                else:
                    restore.setdefault("replaced", {})[where] = child
            child = node[key] = {}
        node = child
    node[path[-1]] = value


def to_document(alert: Alert) -> dict[str, Any]:
    """The ECS document of `alert`, with its free-text words (`search_text`, not kept in `_source`)."""
    model = alert.to_doc()
    words = search_text(model)
    doc: dict[str, Any] = model.pop("event")
    restore: dict[str, Any] = {}
    replaced: dict[str, Any] = {}
    for key in (*BOOKKEEPING, *OLD_NAMES):
        if key in doc:
            replaced[key] = doc.pop(key)
    for where, field in MIRRORED.items():
        path, value = _split(where), model.get(field)
        held = _get(doc, path)
        if value is None:
            if held is not _MISSING:
                replaced[where] = _pop(doc, path)
            continue
        if held is _MISSING:
            parent = _get(doc, path[:-1]) if len(path) > 1 else doc
            if isinstance(parent, dict):
                restore.setdefault("absent", []).append(where)
        elif held != value:
            replaced[where] = held
        _put(doc, path, value, restore)  # notes a parent the event lacked or had as a value
    owned = {
        "event.kind": model["kind"],
        "event.severity": EVENT_SEVERITY[model["severity"]],
        "rule": model["rule"],
        "threat": model["threat"],
    }
    for where, value in owned.items():
        path = _split(where)
        held = _pop(doc, path)
        if held is not _MISSING:
            replaced[where] = held
        _put(doc, path, value, restore)
    for key in BOOKKEEPING:
        if key in model:
            doc[key] = model[key]
    if replaced:
        restore.setdefault("replaced", {}).update(replaced)
    meta: dict[str, Any] = {"group": model["group"]}
    if restore:
        meta["restore"] = restore
    doc["soc"]["alert"] = meta
    doc[SEARCH_FIELD] = words
    return doc


def from_document(doc: dict[str, Any]) -> Alert:
    """An alert read back, in either shape (an old-shape document has its top-level `kind`)."""
    doc.pop(SEARCH_FIELD, None)  # an index from before issue 15 keeps it in `_source`
    if "kind" in doc:
        return Alert.model_validate(doc)
    meta = doc["soc"].pop("alert")
    restore = meta.get("restore", {})
    model: dict[str, Any] = {"group": meta.get("group")}
    for key in BOOKKEEPING:
        if key in doc:
            model[key] = doc.pop(key)
    kind = _pop(doc, ("event", "kind"))
    model["kind"] = "alert" if kind is _MISSING else kind
    _pop(doc, ("event", "severity"))
    model["rule"] = doc.pop("rule")
    model["threat"] = doc.pop("threat", [])
    for where, field in MIRRORED.items():
        value = _get(doc, _split(where))
        if value is not _MISSING:
            model[field] = copy.deepcopy(value)
    for where in restore.get("absent", ()):
        _pop(doc, _split(where))
    for where, value in restore.get("replaced", {}).items():
        _put(doc, _split(where), value, None)
    model["event"] = doc
    return Alert.model_validate(model)


# ECS types (`rule.description` is a keyword there; free text still finds it through `all_text`).
# `rule.level` and `rule.tags` are ours (the Sigma rule's level and tags): ECS has no such field.
RULE_MAPPING = _obj(
    id=KW,
    name=KW_TEXT,
    author=KW,
    level=KW,
    tags=KW_TEXT,
    ruleset=KW,
    reference=STORED_ONLY,
    description=KW_TEXT,
)
LEGACY_RULE_MAPPING = _obj(
    **{**RULE_MAPPING["properties"], "description": {"type": "text", "copy_to": "all_text"}}
)
THREAT_MAPPING = _obj(framework=KW, tactic=_obj(id=KW, name=KW), technique=_obj(id=KW_TEXT, name=KW_TEXT))
ALERT_SOC_MAPPING = _obj(
    unit=_obj(id=KW, name=KW_TEXT),
    system=_obj(id=KW, name=KW_TEXT, level=LONG),
    source=_obj(id=KW, format=KW),
    evidence={"type": "flattened"},
)
TRIAGE_MAPPING = _obj(
    status=KW,
    assignee=KW,
    tags=KW_TEXT,
    updated_at=DATE,
    acknowledged_at=DATE,
    resolved_at=DATE,
    incident_id=KW,
    history={"type": "object", "enabled": False},
    comments={"type": "object", "enabled": False},
)
#: The alert's own fields, the same in both shapes.
BOOKKEEPING_MAPPING: dict[str, Any] = {
    "id": KW_TEXT,
    "severity": KW,
    "checklist": KW_TEXT,
    "event_ids": KW,
    "matched": KW,
    "count": LONG,
    "first_seen": DATE,
    "last_seen": DATE,
    "created_at": DATE,
    "triage": TRIAGE_MAPPING,
}


def alert_mapping(event_mapping: dict[str, Any]) -> dict[str, Any]:
    """The ECS alert mapping: the event mapping (the triggering event's fields, searchable at their
    ECS names) with the alert's own fields over it, and the old names as aliases."""
    props = copy.deepcopy(event_mapping["properties"])
    event = props.get("event", {"properties": {}})
    event["properties"].update(kind=KW, severity=LONG)
    for field_set in ("host", "user"):
        props.setdefault(field_set, {"properties": {}})["properties"]["name"] = KW_TEXT
    props.update(
        {
            "all_text": {"type": "text"},
            SEARCH_FIELD: SEARCH_TEXT,
            "@timestamp": DATE,
            "event": event,
            **BOOKKEEPING_MAPPING,
            "rule": RULE_MAPPING,
            "threat": THREAT_MAPPING,
            "soc": {
                "properties": {
                    **ALERT_SOC_MAPPING["properties"],
                    "alert": _obj(group=KW, restore={"type": "object", "enabled": False}),
                }
            },
            **{old: _alias(new) for old, new in OLD_NAMES.items()},
        }
    )
    return {"dynamic": False, "_source": {"excludes": [SEARCH_FIELD]}, "properties": props}


#: The mapping of the alert indices written before issue 18 (`<prefix>alerts-YYYY.MM`), as they were.
LEGACY_ALERT_MAPPING: dict[str, Any] = {
    "dynamic": False,
    "_source": {"excludes": [SEARCH_FIELD]},
    "properties": {
        "all_text": {"type": "text"},
        SEARCH_FIELD: SEARCH_TEXT,
        **BOOKKEEPING_MAPPING,
        "@timestamp": DATE,
        "kind": KW,
        "host_name": KW_TEXT,
        "user_name": KW_TEXT,
        "group": KW,
        "rule": LEGACY_RULE_MAPPING,
        "threat": THREAT_MAPPING,
        "soc": ALERT_SOC_MAPPING,
        "event": {"type": "object", "enabled": False},
    },
}

#: What `setup()` adds to old alert indices: fields added after the first ones were created, and
#: the new names as aliases of the old, so queries written for the ECS indices answer both.
LEGACY_ADDITIONS: dict[str, Any] = {
    **{name: LEGACY_ALERT_MAPPING["properties"][name] for name in ("triage", "group", SEARCH_FIELD)},
    "host": _obj(name=_alias("host_name")),
    "user": _obj(name=_alias("user_name")),
    "soc": _obj(alert=_obj(group=_alias("group"))),
}

#: KQL field names on alerts answered by another field (`group` is `soc.alert.group` now; old
#: indices alias it back).
ALERT_RENAMED = {"group": "soc.alert.group"}


def legacy_document(alert: Alert) -> dict[str, Any]:
    """An alert in the old shape, for writing back to an old index (triage, repeats)."""
    doc = alert.to_doc()
    doc[SEARCH_FIELD] = search_text(doc)
    return doc


def is_ecs_index(name: str, prefix: str) -> bool:
    return name.startswith(f"{prefix}alerts-{ECS_MARK}")


def document_for(index: str, prefix: str, alert: Alert) -> dict[str, Any]:
    """The alert in the shape of the index it goes to."""
    return to_document(alert) if is_ecs_index(index, prefix) else legacy_document(alert)
