"""Saved views: SQLite and Elasticsearch keep them the same way (per owner, by name, replaced when
saved again under the same name, never seen or deleted by another user)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from soc_core.saved_views import SavedView, SavedViewStore, ViewKind, view_id
from soc_core.store import Store
from tests.backends import backend_of

T0 = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)


def view(owner: str, kind: ViewKind, name: str, query: str, at: datetime = T0) -> SavedView:
    return SavedView(
        id=view_id(owner, kind, name),
        owner=owner,
        kind=kind,
        name=name,
        query=query,
        created_at=at,
        updated_at=at,
    )


def views(store: Store) -> SavedViewStore:
    repo = backend_of(store).saved_views
    repo.setup()
    return repo


def test_views_are_listed_per_owner_and_kind_by_name(store: Store) -> None:
    repo = views(store)
    assert repo.list_for("u-an") == []
    assert repo.put(view("u-an", ViewKind.ALERTS, "Tường lửa", "q=rule.name%3Afirewall&status=new"))
    assert repo.put(view("u-an", ViewKind.ALERTS, "Brute force", "q=r-brute"))
    assert repo.put(view("u-an", ViewKind.EVENTS, "SSH", "q=event.code%3A4625&start=now-24h"))
    assert repo.put(view("u-binh", ViewKind.ALERTS, "Của Bình", "status=all"))
    assert [v.name for v in repo.list_for("u-an", ViewKind.ALERTS)] == ["Brute force", "Tường lửa"]
    assert [v.name for v in repo.list_for("u-an", ViewKind.EVENTS)] == ["SSH"]
    assert [v.kind for v in repo.list_for("u-an")] == [ViewKind.ALERTS, ViewKind.ALERTS, ViewKind.EVENTS]
    assert [v.name for v in repo.list_for("u-binh")] == ["Của Bình"]
    got = repo.get("u-an", view_id("u-an", ViewKind.EVENTS, "SSH"))
    assert got is not None and got.query == "q=event.code%3A4625&start=now-24h" and got.created_at == T0
    assert got.url == "/events?q=event.code%3A4625&start=now-24h"


def test_saving_under_the_same_name_replaces_the_query_and_keeps_the_creation(store: Store) -> None:
    repo = views(store)
    assert repo.put(view("u-an", ViewKind.ALERTS, "Mới", "status=new"))
    later = T0 + timedelta(hours=2)
    assert not repo.put(view("u-an", ViewKind.ALERTS, "Mới", "status=new&severity=critical", at=later))
    [only] = repo.list_for("u-an", ViewKind.ALERTS)
    assert only.query == "status=new&severity=critical"
    assert (only.created_at, only.updated_at) == (T0, later)


def test_nobody_reads_or_deletes_another_users_view(store: Store) -> None:
    repo = views(store)
    mine = view("u-an", ViewKind.ALERTS, "Riêng", "status=all")
    repo.put(mine)
    assert repo.get("u-binh", mine.id) is None
    assert repo.delete("u-binh", mine.id) is False
    assert repo.get("u-an", mine.id) is not None
    assert repo.delete("u-an", mine.id) is True
    assert repo.delete("u-an", mine.id) is False
    assert repo.list_for("u-an") == []
