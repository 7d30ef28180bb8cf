"""Saved views in Elasticsearch: one `<prefix>saved-views` index, a document per view.

Views are written by people, a few a day, and read back by the next page: writes refresh
(`wait_for`). The index is created on first use, like the exceptions index, so an API process
starts while the cluster is still coming up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from elasticsearch import ApiError, ConflictError, TransportError

from soc_core.errors import StoreError
from soc_core.saved_views import SavedView, ViewKind
from stores.coverage_records import iso
from stores.elastic.indices import SmallIndex

MAPPING: dict[str, Any] = {
    "dynamic": False,
    "properties": {
        "id": {"type": "keyword"},
        "owner": {"type": "keyword"},
        "kind": {"type": "keyword"},
        "name": {"type": "keyword"},
        "query": {"type": "keyword", "index": False, "doc_values": False},
        "created_at": {"type": "date"},
        "updated_at": {"type": "date"},
    },
}
LISTED = 10_000
"""Most views one listing returns (Elasticsearch's default result window; the service allows each
user far fewer, `SOC_SAVED_VIEWS_PER_USER`)."""


class ElasticSavedViewStore(SmallIndex):
    MAPPING = MAPPING
    SUFFIX = "saved-views"

    def _call(self, what: str, view_id: str, request: Callable[[], Any], *, missing: Any = None) -> Any:
        """One request about one view: `missing` when the view is not there (404), else its answer;
        any other failure is a StoreError naming the view."""
        self.setup()
        try:
            return request()
        except ApiError as exc:
            if exc.status_code == 404:
                return missing
            raise StoreError(f"saved view {what} failed: {exc}", index=self.index, id=view_id) from exc
        except TransportError as exc:
            raise StoreError(f"saved view {what} failed: {exc}", index=self.index, id=view_id) from exc

    def put(self, view: SavedView) -> bool:
        doc = view.model_dump(mode="json")

        def create() -> bool:
            try:
                self.es.create(index=self.index, id=view.id, document=doc, refresh="wait_for")
            except ConflictError:
                return False
            return True

        if self._call("write", view.id, create):
            return True
        # the id is the owner's, kind's and name's: the stored view is the same owner's
        update = {"query": view.query, "updated_at": iso(view.updated_at)}
        self._call(
            "update",
            view.id,
            lambda: self.es.update(index=self.index, id=view.id, doc=update, refresh="wait_for"),
        )
        return False

    def list_for(self, owner: str, kind: ViewKind | None = None) -> list[SavedView]:
        filters: list[dict[str, Any]] = [{"term": {"owner": owner}}]
        if kind is not None:
            filters.append({"term": {"kind": kind.value}})
        resp = self._call(
            "search",
            "*",
            lambda: self.es.search(
                index=self.index,
                query={"bool": {"filter": filters}},
                sort=[{"kind": "asc"}, {"name": "asc"}, {"id": "asc"}],
                size=LISTED,
            ),
            missing={"hits": {"hits": []}},
        )
        return [SavedView.model_validate(h["_source"]) for h in resp["hits"]["hits"]]

    def get(self, owner: str, view_id: str) -> SavedView | None:
        doc = self._call("read", view_id, lambda: self.es.get(index=self.index, id=view_id))
        if doc is None:
            return None
        view = SavedView.model_validate(doc["_source"])
        return view if view.owner == owner else None

    def delete(self, owner: str, view_id: str) -> bool:
        if self.get(owner, view_id) is None:
            return False
        deleted = self._call(
            "delete", view_id, lambda: self.es.delete(index=self.index, id=view_id, refresh="wait_for")
        )
        return deleted is not None
