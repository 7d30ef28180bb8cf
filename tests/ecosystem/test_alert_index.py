"""Alerts in the real local Elasticsearch are ECS documents (issue 18); alerts stored before, in the
old shape and the old indices, are still read, found by the same queries, triaged and repeated."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from soc_core.alert import AlertRepeat, AlertStatus
from soc_core.kql import ALERT_FIELDS, parse_for
from soc_core.store import AlertSearch
from stores.elastic.alert_document import LEGACY_ALERT_MAPPING
from stores.elastic.store import ElasticStore
from tests.ecosystem.test_alert_document import make_alert, source_event

#: The ECS type of each ECS field an alert's own part holds (checked against the ECS 9.4.0 reference,
#: `ecs_flat`, which `test_the_ecs_reference_agrees` reads when it has been fetched).
#: `rule.reference` is a keyword kept but not indexed (a list of links, never searched).
ECS_TYPES = {
    "@timestamp": "date",
    "message": "match_only_text",
    "event.kind": "keyword",
    "event.severity": "long",
    "event.code": "keyword",
    "event.module": "keyword",
    "host.name": "keyword",
    "user.name": "keyword",
    "user.domain": "keyword",
    "source.ip": "ip",
    "rule.id": "keyword",
    "rule.name": "keyword",
    "rule.author": "keyword",
    "rule.description": "keyword",
    "rule.reference": "keyword",
    "rule.ruleset": "keyword",
    "threat.framework": "keyword",
    "threat.tactic.id": "keyword",
    "threat.tactic.name": "keyword",
    "threat.technique.id": "keyword",
    "threat.technique.name": "keyword",
}
#: The ECS reference as `deploy/ecs/reference.py` fetches it (events side of issue 18), if present.
REFERENCES = sorted(
    (Path(__file__).resolve().parents[2] / ".socpipe" / "tools" / "ecs").glob("ecs_flat-*.json")
)
#: Where the cluster lacks an ECS type (this integ-test build has no `match_only_text`), what stands in.
FALLBACK = {"match_only_text": {"text"}}


def _field_types(mapping: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for name, spec in mapping.items():
        if "properties" in spec:
            out.update(_field_types(spec["properties"], f"{prefix}{name}."))
        elif "type" in spec:
            out[f"{prefix}{name}"] = spec["type"]
    return out


def _leaves(doc: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(doc, dict):
        return [leaf for key, value in doc.items() for leaf in _leaves(value, f"{prefix}{key}.")]
    if isinstance(doc, list):
        return [leaf for value in doc for leaf in _leaves(value, prefix)]
    return [(prefix[:-1], doc)]


def test_an_alert_the_product_indexes_is_an_ecs_document(elastic_store: ElasticStore) -> None:
    alert = make_alert(source_event())
    assert elastic_store.put_alerts([alert]).created == 1
    index = elastic_store.alert_index(alert.timestamp)
    assert index.endswith("alerts-ecs-2026.03")
    raw = elastic_store.es.get(index=index, id=alert.id)["_source"]
    assert raw["event"]["kind"] == "alert" and raw["event"]["code"] == "4732"
    assert (raw["host"]["name"], raw["user"]["name"], raw["source"]["ip"]) == ("ws01", "admin", "10.0.0.5")
    assert (raw["rule"]["id"], raw["threat"][0]["technique"]["id"]) == ("r-admin-add", "T1098")
    assert {"kind", "host_name", "user_name", "group"} & set(raw) == {"group"}  # group: the event's ECS group
    mapped = _field_types(elastic_store.es.indices.get_mapping(index=index)[index]["mappings"]["properties"])
    for field, ecs_type in ECS_TYPES.items():
        assert mapped[field] in {ecs_type} | FALLBACK.get(ecs_type, set()), field
    # the triggering event's ECS fields are searchable at their ECS names (Kibana's Discover, rules):
    # each one the event mapping indexes exactly (the rest, like `group.name` here, are kept in
    # `_source` until the event template maps them)
    elastic_store.refresh()
    exact = {f for f, t in mapped.items() if t in {"keyword", "wildcard", "ip", "long"}}
    values = [(f, v) for f, v in _leaves(raw) if f in exact and not f.startswith(("soc.", "triage."))]
    searched = {f for f, _ in values}
    assert {"event.kind", "event.code", "source.ip", "user.domain", "threat.tactic.id"} <= searched
    for field, value in values:
        hits = elastic_store.es.search(index=index, query={"term": {field: value}})["hits"]["hits"]
        assert [h["_id"] for h in hits] == [alert.id], field
    assert elastic_store.get_alert(alert.id) == alert
    if REFERENCES:  # every field of the document the ECS reference knows has its ECS type
        reference = json.loads(REFERENCES[-1].read_text())
        for field, _ in _leaves(raw):
            if field in reference:
                ecs_type = reference[field]["type"]
                assert mapped.get(field) in {ecs_type} | FALLBACK.get(ecs_type, set()), field


@pytest.mark.skipif(not REFERENCES, reason="the ECS reference is not fetched (deploy/ecs/reference.py)")
def test_the_ecs_reference_agrees() -> None:
    reference = json.loads(REFERENCES[-1].read_text())
    assert {f: reference[f]["type"] for f in ECS_TYPES} == ECS_TYPES


def test_old_kql_names_find_ecs_alerts(elastic_store: ElasticStore) -> None:
    alert = make_alert(source_event())
    elastic_store.put_alerts([alert])
    elastic_store.refresh()
    old_names = ("kind:alert", "host_name:ws01", "user_name:admin", f'group:"{alert.group}"', "host_name:ws*")
    for query in old_names:
        found = elastic_store.search_alert_queue(AlertSearch(kql=parse_for(query, ALERT_FIELDS)))
        assert [a.id for a in found.items] == [alert.id], query


def _old_alert(elastic_store: ElasticStore, n: int) -> Any:
    """An alert as the product stored it before issue 18: the old shape in the old month index."""
    alert = make_alert(
        source_event(event={"id": f"ev-old-{n}", "kind": "event"}),
        id=f"old-{n}",
        event_ids=[f"ev-old-{n}"],
        host_name="ws02",
        user_name="root",
    )
    alert = alert.model_copy(update={"timestamp": alert.timestamp - timedelta(minutes=n)})
    index = elastic_store.legacy_alert_index(alert.timestamp)
    if not elastic_store.es.indices.exists(index=index):
        elastic_store.es.indices.create(index=index, mappings=LEGACY_ALERT_MAPPING)
    elastic_store.es.index(index=index, id=alert.id, document=alert.to_doc(), refresh=True)
    return alert


def test_old_alerts_are_read_and_found_beside_new_ones(elastic_store: ElasticStore) -> None:
    old = _old_alert(elastic_store, 1)
    elastic_store.setup()  # a restart after the upgrade: the old indices gain the ECS names as aliases
    new = make_alert(source_event(), host_name="ws02", user_name="root")
    elastic_store.put_alerts([new])
    elastic_store.refresh()
    both = {old.id, new.id}

    def ids(search: AlertSearch) -> set[str]:
        return {a.id for a in elastic_store.search_alert_queue(search).items}

    assert ids(AlertSearch(host_name="ws02")) == both
    assert ids(AlertSearch(user_name="root")) == both
    assert ids(AlertSearch(kql=parse_for("host_name:ws02 and kind:alert", ALERT_FIELDS))) == both
    assert ids(AlertSearch(group=old.group)) == {old.id}
    assert ids(AlertSearch(text="ws02")) == both
    facets = elastic_store.alert_facets(AlertSearch(), ["host", "user"])
    assert [(b.value, b.count) for b in facets["host"]] == [("ws02", 2)]
    groups = elastic_store.search_alert_groups(AlertSearch())
    assert {g.key for g in groups.items} == {old.group, new.group}
    assert elastic_store.get_alert(old.id) == old


def test_old_alerts_keep_their_shape_when_triaged_or_repeated(elastic_store: ElasticStore) -> None:
    old = _old_alert(elastic_store, 2)
    elastic_store.setup()
    found = elastic_store.get_alert_versioned(old.id)
    assert found is not None
    triage = found[0].triage.model_copy(update={"status": AlertStatus.ACKNOWLEDGED})
    assert elastic_store.update_alert_triage(old.id, triage, version=found[1])
    repeat = AlertRepeat(alert_id=old.id, first_seen=old.timestamp, count=3, last_seen=old.timestamp)
    assert elastic_store.record_repeats([repeat]) == 1
    raw = elastic_store.es.get(index=elastic_store.legacy_alert_index(old.timestamp), id=old.id)["_source"]
    assert raw["kind"] == "alert" and raw["host_name"] == "ws02"  # written back as it was
    elastic_store.refresh()
    back = elastic_store.get_alert(old.id)
    assert back is not None and (back.triage.status, back.count) == (AlertStatus.ACKNOWLEDGED, 3)
    assert back.event == old.event


def test_a_new_alert_is_repeated_in_its_ecs_index(elastic_store: ElasticStore) -> None:
    alert = make_alert(source_event())
    elastic_store.put_alerts([alert])
    repeat = AlertRepeat(alert_id=alert.id, first_seen=alert.timestamp, count=2, last_seen=alert.timestamp)
    assert elastic_store.record_repeats([repeat]) == 1
    raw = elastic_store.es.get(index=elastic_store.alert_index(alert.timestamp), id=alert.id)["_source"]
    assert raw["count"] == 2 and raw["event"]["kind"] == "alert"


def test_a_replayed_alert_stored_in_the_old_shape_is_a_duplicate(elastic_store: ElasticStore) -> None:
    """A detect replay across the upgrade raises an alert the old index holds: not a second one."""
    old = _old_alert(elastic_store, 3)
    fresh = ElasticStore(elastic_store.es, prefix=elastic_store.prefix)  # a worker started after the upgrade
    fresh.setup()
    new = make_alert(source_event())
    result = fresh.put_alerts([old, new])
    assert (result.created, result.duplicates) == (1, 1)
    fresh.refresh()
    assert {a.id for a in fresh.search_alert_queue(AlertSearch()).items} == {old.id, new.id}
    assert fresh.search_alert_queue(AlertSearch()).total == 2
