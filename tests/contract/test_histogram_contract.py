"""Histograms (the explorer's and the rules page's charts) count the same on both stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from soc_core import kql
from soc_core.errors import StoreError
from soc_core.store import AlertSearch, EventQuery, HistogramBucket, Store
from tests.conftest import make_alert, make_event

BASE = datetime(2025, 7, 1, 16, 50, tzinfo=UTC)  # 23:50 in Asia/Ho_Chi_Minh


def _events(store: Store) -> None:
    # minutes after BASE: 0, 5, 9 | 10, 11 | 25 ; host srv9 on the odd ones
    minutes = [0, 5, 9, 10, 11, 25]
    store.put_events(
        [
            make_event(n, ts=BASE + timedelta(minutes=m), host="srv9" if n % 2 else "ws01")
            for n, m in enumerate(minutes)
        ]
    )
    store.refresh()


def test_events_are_counted_per_bucket_with_empty_buckets_left_out(store: Store) -> None:
    _events(store)
    got = store.event_histogram(EventQuery(), interval_s=600)
    assert got == [
        HistogramBucket(datetime(2025, 7, 1, 16, 50, tzinfo=UTC), 3),
        HistogramBucket(datetime(2025, 7, 1, 17, 0, tzinfo=UTC), 2),
        HistogramBucket(datetime(2025, 7, 1, 17, 10, tzinfo=UTC), 1),
    ]


def test_histogram_follows_every_filter_of_the_query(store: Store) -> None:
    _events(store)
    query = EventQuery(
        kql=kql.parse_for("host.name:srv9", kql.EVENT_FIELDS),
        start=BASE + timedelta(minutes=1),
        size=1,
        cursor=None,
    )
    got = store.event_histogram(query, interval_s=3600)
    # srv9's events are at minutes 5, 10 and 25: 16:55, 17:00 and 17:15 UTC
    assert got == [
        HistogramBucket(datetime(2025, 7, 1, 16, 0, tzinfo=UTC), 1),
        HistogramBucket(datetime(2025, 7, 1, 17, 0, tzinfo=UTC), 2),
    ]
    later = EventQuery(kql=query.kql, start=BASE + timedelta(minutes=6))
    assert store.event_histogram(later, interval_s=3600) == [
        HistogramBucket(datetime(2025, 7, 1, 17, 0, tzinfo=UTC), 2)
    ]


def test_day_buckets_start_at_local_midnight_with_an_offset(store: Store) -> None:
    _events(store)
    got = store.event_histogram(EventQuery(), interval_s=86_400, offset_s=-7 * 3600)
    # 23:50..00:00 local is 1 July; 00:00 local onwards (17:00 UTC) is 2 July
    assert got == [
        HistogramBucket(datetime(2025, 6, 30, 17, 0, tzinfo=UTC), 3),
        HistogramBucket(datetime(2025, 7, 1, 17, 0, tzinfo=UTC), 3),
    ]


def test_a_histogram_no_chart_could_draw_is_refused(store: Store) -> None:
    with pytest.raises(StoreError):
        store.event_histogram(EventQuery(start=BASE, end=BASE + timedelta(days=30)), interval_s=1)
    with pytest.raises(StoreError):
        store.alert_histogram(AlertSearch(), interval_s=0)


def test_alerts_are_counted_per_bucket_by_rule(store: Store) -> None:
    alerts = []
    for n, (rule, minute) in enumerate([("r1", 0), ("r1", 30), ("r1", 70), ("r2", 5)]):
        alerts.append(make_alert(rule, make_event(n, ts=BASE + timedelta(minutes=minute))))
    store.put_alerts(alerts)
    store.refresh()
    got = store.alert_histogram(AlertSearch(rule_id="r1"), interval_s=3600)
    assert got == [
        HistogramBucket(datetime(2025, 7, 1, 16, 0, tzinfo=UTC), 1),
        HistogramBucket(datetime(2025, 7, 1, 17, 0, tzinfo=UTC), 1),
        HistogramBucket(datetime(2025, 7, 1, 18, 0, tzinfo=UTC), 1),
    ]
    assert store.alert_histogram(AlertSearch(ids=[]), interval_s=3600) == []
