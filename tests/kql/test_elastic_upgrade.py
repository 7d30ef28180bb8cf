"""Elasticsearch indices created before the query language gain its fields at start: events
written to them afterwards, and alerts rewritten there (triage), are found by free text and read
back without `search_text`."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest

from soc_core.alert import AlertStatus
from soc_core.kql import ALERT_FIELDS, EVENT_FIELDS, parse_for
from soc_core.store import AlertSearch, EventQuery
from stores.elastic.alert_document import LEGACY_ALERT_MAPPING
from stores.elastic.event_template import event_mapping_for
from stores.elastic.kql import SEARCH_FIELD
from stores.elastic.store import INDEX_SETTINGS, ElasticStore
from tests.conftest import make_event
from tests.contract.test_store_triage_contract import triage_alert
from tests.servers import Servers


def before_issue_15(mapping: dict[str, object]) -> dict[str, object]:
    old = copy.deepcopy(mapping)
    old.pop("_source")
    props = old["properties"]
    assert isinstance(props, dict)
    props.pop(SEARCH_FIELD)
    if "message" in props:
        props["message"] = {"type": "text"}
    return old


@pytest.fixture
def old_store(servers: Servers, prefix: str) -> Iterator[ElasticStore]:
    store = ElasticStore(servers.es_url, prefix=prefix)
    event, alert = make_event(1, message="Đã xóa nhật ký"), triage_alert(1, rule_name="Xóa nhật ký")
    old_alerts = store.legacy_alert_index(alert.timestamp)  # alerts: the shape before issue 18 too
    for index, mapping in (
        (store.event_index(event.timestamp), event_mapping_for(store.es)),
        (old_alerts, LEGACY_ALERT_MAPPING),
    ):
        store.es.indices.create(index=index, settings=INDEX_SETTINGS, mappings=before_issue_15(mapping))
    store.es.index(index=old_alerts, id=alert.id, document=alert.to_doc(), refresh=True)
    store.setup()
    store.put_events([event])
    found = store.get_alert_versioned(alert.id)
    assert found is not None and found[1].startswith(old_alerts)
    triage = found[0].triage.model_copy(update={"status": AlertStatus.ACKNOWLEDGED})
    assert store.update_alert_triage(alert.id, triage, version=found[1])
    store.refresh()
    yield store
    store.es.indices.delete(index=f"{prefix}*", ignore_unavailable=True, allow_no_indices=True)
    store.es.indices.delete_index_template(name=f"{prefix}*", ignore=[404])
    store.close()


def test_old_indices_gain_the_search_fields(old_store: ElasticStore) -> None:
    events = old_store.search_events(
        EventQuery(kql=parse_for('da xoa and message:"Đã xóa nhật ký"', EVENT_FIELDS))
    )
    assert [e.id for e in events.items] == ["ev-000001"]
    assert SEARCH_FIELD not in events.items[0].doc
    got = old_store.get_event("ev-000001")
    assert got is not None and SEARCH_FIELD not in got.doc
    alerts = old_store.search_alert_queue(AlertSearch(kql=parse_for("xoa nhat ky", ALERT_FIELDS)))
    assert [a.rule.name for a in alerts.items] == ["Xóa nhật ký"]
    assert old_store.get_alert(alerts.items[0].id) is not None
