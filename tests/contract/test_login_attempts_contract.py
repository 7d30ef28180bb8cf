"""Failed logins counted in the store (the console's login throttling): SQLite and Elasticsearch
count, age out and clear them the same way, so every API replica over one store sees one count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from soc_core.store import Store

T0 = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)


def test_failures_are_counted_per_key_within_the_window(store: Store) -> None:
    for minute in range(3):
        store.record_login_failure(["user-a", "ip-1"], T0 + timedelta(minutes=minute), forget_before=T0)
    store.record_login_failure(["user-b", "ip-1"], T0 + timedelta(minutes=3), forget_before=T0)
    assert store.login_failures("user-a", T0) == (3, T0)
    assert store.login_failures("ip-1", T0) == (4, T0)
    assert store.login_failures("user-a", T0 + timedelta(minutes=1)) == (2, T0 + timedelta(minutes=1))
    assert store.login_failures("user-b", T0) == (1, T0 + timedelta(minutes=3))
    assert store.login_failures("nobody", T0) == (0, None)


def test_old_failures_are_forgotten_and_a_key_can_be_cleared(store: Store) -> None:
    store.record_login_failure(["user-a", "ip-1"], T0, forget_before=T0 - timedelta(hours=1))
    later = T0 + timedelta(hours=2)
    store.record_login_failure(["user-a"], later, forget_before=later - timedelta(minutes=5))
    assert store.login_failures("user-a", T0 - timedelta(days=1)) == (1, later)  # the old one is gone
    assert store.login_failures("ip-1", T0 - timedelta(days=1)) == (0, None)
    store.record_login_failure(["ip-1"], later, forget_before=later - timedelta(minutes=5))
    store.clear_login_failures("user-a")
    assert store.login_failures("user-a", T0) == (0, None)
    assert store.login_failures("ip-1", T0) == (1, later)  # other keys keep theirs
