"""Alert groups, origins and suppression seeds: SQLite and Elasticsearch behave the same (issue 13)."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest

from soc_core.alert import Alert, Severity, alert_group
from soc_core.errors import StoreError
from soc_core.event import Soc, SocSource, SocUnit
from soc_core.kql import ALERT_FIELDS, parse_for
from soc_core.open_alerts import StoreOpenAlerts
from soc_core.store import MAX_GROUP_MEMBERS, AlertQuery, AlertSearch, Store
from stores.elastic.alert_document import LEGACY_ALERT_MAPPING
from stores.elastic.store import ElasticStore
from stores.sqlite.store import SqliteStore
from tests.contract.test_store_triage_contract import T0, triage_alert

VISIT = "KT-20250701-ABC123"


def evidence(alert: Alert, visit: str = VISIT) -> Alert:
    soc = Soc(unit=alert.soc.unit, evidence={"visit_id": visit, "file_id": "TL-1", "unit_id": "so-khcn"})
    return alert.model_copy(update={"soc": soc})


def stored(store: Store, *alerts: Alert) -> None:
    assert store.put_alerts(list(alerts)).created == len(alerts)
    store.refresh()


def test_one_group_per_event_most_severe_first(store: Store) -> None:
    sigma = triage_alert(1, rule="r-sigma", rule_name="Sigma brute force", severity=Severity.MEDIUM)
    prov = triage_alert(1, rule="r-prov", rule_name="VN-11 brute force", severity=Severity.CRITICAL)
    other = triage_alert(2)
    stored(store, sigma, prov, other)
    assert sigma.group == prov.group == alert_group(sigma.timestamp, ["ev-000001"]) != other.group

    page = store.search_alert_groups(AlertSearch(size=10))
    assert page.total == 2 and page.cursor is None
    assert [g.key for g in page.items] == [other.group, sigma.group]  # newest first
    group = page.items[1]
    assert group.size == 2 and [a.rule.id for a in group.members] == ["r-prov", "r-sigma"]
    assert group.lead.severity is Severity.CRITICAL

    # the members of one group, and the filters apply to members
    siblings = store.search_alert_queue(AlertSearch(group=sigma.group, size=10))
    assert {a.id for a in siblings.items} == {sigma.id, prov.id}
    high = store.search_alert_groups(AlertSearch(severity=["critical"], size=10))
    assert [(g.key, g.size) for g in high.items] == [(sigma.group, 1)]


def test_groups_page_by_key_both_ways(store: Store) -> None:
    """Pages of one group each: the reads cut groups at their edges (Elasticsearch reads a few pages'
    worth at once), so every group comes once and whole."""
    alerts = [triage_alert(n, rule=f"r-{k}") for n in range(30) for k in range(2)]
    stored(store, *alerts)
    keys: list[str] = []
    cursor = None
    while True:
        page = store.search_alert_groups(AlertSearch(size=1, cursor=cursor))
        assert page.total == 30
        keys.extend(g.key for g in page.items)
        assert all(g.size == 2 and len(g.members) == 2 for g in page.items)
        cursor = page.cursor
        if cursor is None:
            break
    assert keys == sorted({a.group for a in alerts if a.group}, reverse=True)
    oldest = store.search_alert_groups(AlertSearch(size=3, ascending=True))
    assert [g.key for g in oldest.items] == sorted(keys)[:3]
    again = store.search_alert_groups(AlertSearch(size=3, ascending=True, cursor=oldest.cursor))
    assert [g.key for g in again.items] == sorted(keys)[3:6]
    with pytest.raises(StoreError):
        store.search_alert_groups(AlertSearch(cursor="bm90IG91cnM="))  # not JSON


def test_a_group_larger_than_a_row_lists_its_most_severe_members(store: Store) -> None:
    crowd = [triage_alert(1, rule=f"r-{k:02d}", severity=Severity.LOW) for k in range(MAX_GROUP_MEMBERS + 4)]
    worst = triage_alert(1, rule="r-worst", severity=Severity.CRITICAL)
    stored(store, *crowd, worst, triage_alert(0), triage_alert(2))
    first = store.search_alert_groups(AlertSearch(size=1, ascending=True))
    second = store.search_alert_groups(AlertSearch(size=1, ascending=True, cursor=first.cursor))
    third = store.search_alert_groups(AlertSearch(size=1, ascending=True, cursor=second.cursor))
    (big,) = second.items
    assert big.key == worst.group and big.lead.id == worst.id and len(big.members) == MAX_GROUP_MEMBERS
    assert big.size >= MAX_GROUP_MEMBERS  # Elasticsearch counts what one read holds
    assert [g.key for g in (*first.items, *third.items)] == [triage_alert(0).group, triage_alert(2).group]


def test_evidence_alerts_stay_out_of_the_live_queue(store: Store) -> None:
    live = triage_alert(1)
    from_file = evidence(triage_alert(2))
    other_visit = evidence(triage_alert(3), visit="KT-OTHER")
    stored(store, live, from_file, other_visit)
    assert from_file.origin == "evidence" and from_file.visit_id == VISIT and live.origin == "live"

    def ids(**kw: object) -> set[str]:
        return {a.id for a in store.search_alert_queue(AlertSearch(size=10, **kw)).items}  # type: ignore[arg-type]

    assert ids() == {live.id}
    assert ids(origin="evidence") == {from_file.id, other_visit.id}
    assert ids(origin="all") == {live.id, from_file.id, other_visit.id}
    assert ids(origin="all", visit_id=VISIT) == {from_file.id}
    assert store.search_alert_queue(AlertSearch()).total == 1
    assert [b.count for b in store.alert_facets(AlertSearch(), ["unit"])["unit"]] == [1]
    assert [g.key for g in store.search_alert_groups(AlertSearch()).items] == [live.group]
    assert [a.id for a in store.search_alerts(AlertQuery()).items] == [live.id]
    assert store.search_alerts(AlertQuery(origin="all")).total == 3


def test_open_alert_candidates_find_a_series(store: Store) -> None:
    first = triage_alert(1, rule="r-a", host="WEB01").model_copy(update={"count": 4})
    other_rule = triage_alert(2, rule="r-b", host="web01")
    other_host = triage_alert(3, rule="r-a", host="web02")
    from_file = evidence(triage_alert(4, rule="r-a", host="web01"))
    no_host = triage_alert(5, rule="r-a", host=None).model_copy(  # type: ignore[arg-type]
        update={"soc": Soc(unit=SocUnit(id="u"), source=SocSource(id="FW-1"))}
    )
    stored(store, first, other_rule, other_host, from_file, no_host)
    lookup = StoreOpenAlerts(lambda: store)
    window = timedelta(minutes=10)

    found = lookup.find("r-a", "web01", T0 + timedelta(minutes=6), window)
    assert found is not None and (found.alert_id, found.count) == (first.id, 4)
    assert found.event_ids == ("ev-000001",) and found.first_seen == first.timestamp
    assert lookup.find("r-a", "web01", T0 + timedelta(minutes=11), window) is None  # outside the window
    assert lookup.find("r-a", "fw-1", T0 + timedelta(minutes=6), window) is not None  # by log source
    assert lookup.find("r-c", "web01", T0 + timedelta(minutes=6), window) is None
    asked = [
        ("r-a", "web01", T0 + timedelta(minutes=6)),
        ("r-a", "web01", T0 + timedelta(minutes=11)),
        ("r-a", "fw-1", T0 + timedelta(minutes=6)),
        ("r-c", "web01", T0 + timedelta(minutes=6)),
        ("r-b", "web01", T0),
    ]
    # at once (Elasticsearch: one multi-search), the same answers as one by one
    assert lookup.find_many(asked, window) == [lookup.find(*key, window) for key in asked]
    assert [o.alert_id if o else None for o in lookup.find_many(asked, window)] == [
        first.id,
        None,
        no_host.id,
        None,
        other_rule.id,
    ]
    assert lookup.find_many([], window) == []
    recent = lookup.recent(T0 + timedelta(minutes=2), 10)
    assert [o.alert_id for o in recent] == [no_host.id, other_host.id, other_rule.id]  # newest first, live


def test_alerts_stored_before_groups_get_theirs(store: Store) -> None:
    alert = triage_alert(7).model_copy(update={"event_ids": ["ev-000007", "ev-repeat"]})
    stored(store, alert)
    if isinstance(store, SqliteStore):
        with store._tx() as conn:
            conn.execute("UPDATE alerts SET doc = CAST(json_remove(CAST(doc AS TEXT), '$.group') AS BLOB)")
    else:
        assert isinstance(store, ElasticStore)  # then alerts had the old shape, in the old indices
        store.es.delete(index=store.alert_index(alert.timestamp), id=alert.id, refresh=True)
        mapping = copy.deepcopy(LEGACY_ALERT_MAPPING)
        mapping["properties"].pop("group")
        old_index = store.legacy_alert_index(alert.timestamp)
        store.es.indices.create(index=old_index, mappings=mapping)
        doc = alert.to_doc()
        doc.pop("group")
        store.es.index(index=old_index, id=alert.id, document=doc, refresh=True)
    store.setup()
    store.refresh()
    again = store.get_alert(alert.id)
    assert again is not None and again.group == alert_group(alert.timestamp, ["ev-000007"])
    (group,) = store.search_alert_groups(AlertSearch()).items
    assert group.key == again.group
    # the backfill's partial update keeps (here: gives) the alert its free-text words
    found = store.search_alert_queue(AlertSearch(kql=parse_for("brute force", ALERT_FIELDS)))
    assert [a.id for a in found.items] == [alert.id]
