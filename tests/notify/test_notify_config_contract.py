"""The notifier's stored configuration and memory: SQLite and Elasticsearch keep them the same way
(numbered versions never overwritten, the newest is current; told marks bounded by number; keyed
state documents replaced and deleted)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from soc_core.notify_config import (
    ConfigKind,
    ConfigVersionTaken,
    NotifyConfigStore,
    NotifyConfigVersion,
    NotifyStateStore,
    ToldMark,
)
from soc_core.store import Store
from tests.backends import backend_of

T0 = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)


def version(kind: ConfigKind, n: int, text: str, author: str = "u-admin") -> NotifyConfigVersion:
    return NotifyConfigVersion(
        kind=kind,
        version=n,
        text=text,
        author=author,
        reason=f"lý do {n}",
        created_at=T0 + timedelta(minutes=n),
    )


def configs(store: Store) -> NotifyConfigStore:
    repo = backend_of(store).notify_config
    repo.setup()
    return repo


def states(store: Store) -> NotifyStateStore:
    repo = backend_of(store).notify_state
    repo.setup()
    return repo


def test_versions_are_kept_and_the_newest_is_current(store: Store) -> None:
    repo = configs(store)
    assert repo.current(ConfigKind.ROUTING) is None
    assert repo.history(ConfigKind.ROUTING, 10) == []
    repo.put(version(ConfigKind.ROUTING, 1, "rules: []\n"))
    repo.put(version(ConfigKind.ROUTING, 2, "rules:\n  - name: tất-cả\n", author="u-binh"))
    repo.put(version(ConfigKind.GUIDANCE, 1, "default: {why: x, do: [y]}\n"))
    current = repo.current(ConfigKind.ROUTING)
    assert current is not None and current.version == 2 and current.author == "u-binh"
    assert current.text == "rules:\n  - name: tất-cả\n" and current.created_at == T0 + timedelta(minutes=2)
    assert [v.version for v in repo.history(ConfigKind.ROUTING, 10)] == [2, 1]
    assert [v.version for v in repo.history(ConfigKind.ROUTING, 1)] == [2]
    first = repo.get(ConfigKind.ROUTING, 1)
    assert first is not None and first.text == "rules: []\n" and first.reason == "lý do 1"
    assert repo.get(ConfigKind.ROUTING, 3) is None
    assert [v.kind for v in repo.history(ConfigKind.GUIDANCE, 10)] == [ConfigKind.GUIDANCE]


def test_a_version_number_is_saved_once(store: Store) -> None:
    repo = configs(store)
    repo.put(version(ConfigKind.ROUTING, 1, "rules: []\n", author="u-an"))
    with pytest.raises(ConfigVersionTaken):
        repo.put(version(ConfigKind.ROUTING, 1, "rules: [other]\n", author="u-binh"))
    kept = repo.get(ConfigKind.ROUTING, 1)
    assert kept is not None and kept.author == "u-an" and kept.text == "rules: []\n"


def test_told_marks_read_back_newest_in_order_and_forgotten_below_a_number(store: Store) -> None:
    repo = states(store)
    assert repo.told(10) == []
    marks = [
        ToldMark(n, f"email:u{n % 3}@so.gov.vn", f"g-{n}", T0 + timedelta(seconds=n)) for n in range(1, 8)
    ]
    repo.add_told(marks[:4])
    repo.add_told(marks[4:])
    assert repo.told(100) == marks
    assert repo.told(3) == marks[-3:]
    repo.forget_told(5)
    assert [m.seq for m in repo.told(100)] == [5, 6, 7]


def test_state_entries_are_replaced_and_deleted(store: Store) -> None:
    repo = states(store)
    assert repo.entries() == {}
    repo.put_entries(
        {"held|email:a|flood": {"total": 3, "alerts": [{"id": "a1"}]}, "sent|email:a": {"at": [1]}}
    )
    repo.put_entries({"held|email:a|flood": {"total": 4, "alerts": []}, "missing": None})
    assert repo.entries() == {"held|email:a|flood": {"total": 4, "alerts": []}, "sent|email:a": {"at": [1]}}
    repo.put_entries({"sent|email:a": None})
    assert repo.entries() == {"held|email:a|flood": {"total": 4, "alerts": []}}
