"""Inspection records in Elasticsearch: one `<prefix>inspections` index, a document per record."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from elasticsearch import ApiError

from soc_core.alert import Alert
from soc_core.errors import StoreError
from soc_core.event import Event
from stores.elastic.alert_document import from_document
from stores.elastic.indices import ReplicatedIndices
from stores.elastic.kql import SEARCH_FIELD
from stores.inspection_records import MAX_DOCS, InspectionRecords

KW: dict[str, Any] = {"type": "keyword"}
MAPPING: dict[str, Any] = {
    "dynamic": False,
    "properties": {
        "kind": KW,
        "id": KW,
        "unit_id": KW,
        "plan_id": KW,
        "visit_id": KW,
        "status": KW,
        "due": {"type": "date"},
        "sha256": KW,
        "created": {"type": "date"},
        "doc": {"type": "keyword", "index": False, "doc_values": False},
    },
}


class ElasticInspectionRepository(ReplicatedIndices, InspectionRecords):
    @property
    def index(self) -> str:
        return f"{self.prefix}inspections"

    def setup(self) -> None:
        self._create(self.index, MAPPING)

    def _put(self, kind: str, doc_id: str, keys: dict[str, str | None], doc: bytes, *, create: bool) -> bool:
        body = {"kind": kind, "id": doc_id, **keys, "doc": doc.decode()}
        try:
            self.es.index(
                index=self.index,
                id=f"{kind}:{doc_id}",
                document=body,
                op_type="create" if create else "index",
                # Records are written by people, a few a minute, and read back at once (the page
                # after a form, the reminder run after a finding): an immediate refresh of this one
                # small index costs less than waiting up to a second for the next scheduled one.
                refresh=True,
            )
        except ApiError as exc:
            if create and exc.status_code == 409:
                return False
            raise StoreError(f"inspection write failed: {exc}", kind=kind, id=doc_id) from exc
        return True

    def _get(self, kind: str, doc_id: str) -> bytes | None:
        try:
            resp = self.es.get(index=self.index, id=f"{kind}:{doc_id}")
        except ApiError as exc:
            if exc.status_code == 404:
                return None
            raise StoreError(f"inspection read failed: {exc}", kind=kind, id=doc_id) from exc
        return str(resp["_source"]["doc"]).encode()

    def _find(
        self,
        kind: str,
        equals: dict[str, str],
        *,
        status: Sequence[str] = (),
        due_before: date | None = None,
        newest_first: bool = False,
        limit: int = MAX_DOCS,
    ) -> list[bytes]:
        filters: list[dict[str, Any]] = [{"term": {"kind": kind}}]
        filters += [{"term": {k: v}} for k, v in equals.items()]
        if status:
            filters.append({"terms": {"status": list(status)}})
        if due_before is not None:
            filters.append({"range": {"due": {"lte": due_before.isoformat()}}})
        order = "desc" if newest_first else "asc"
        try:
            resp = self.es.search(
                index=self.index,
                query={"bool": {"filter": filters}},
                size=min(limit, MAX_DOCS),
                sort=[{"created": {"order": order, "unmapped_type": "date"}}, {"id": order}],
            )
        except ApiError as exc:
            raise StoreError(f"inspection search failed: {exc}", kind=kind) from exc
        return [str(h["_source"]["doc"]).encode() for h in resp["hits"]["hits"]]

    def evidence_events(self, *, unit_id: str, file_id: str, limit: int = 100) -> list[Event]:
        try:
            resp = self.es.search(
                index=f"{self.prefix}events-*",
                query={
                    "bool": {
                        "filter": [
                            {"term": {"soc.unit.id": unit_id}},
                            {"term": {"soc.evidence.file_id": file_id}},
                        ]
                    }
                },
                size=limit,
                sort=[{"@timestamp": "asc"}, {"event.id": "asc"}],
                source_excludes=[SEARCH_FIELD],  # kept in `_source` by indices from before issue 15
                ignore_unavailable=True,
                allow_no_indices=True,
            )
        except ApiError as exc:
            raise StoreError(f"evidence event search failed: {exc}", file_id=file_id) from exc
        return [Event.from_doc(h["_source"]) for h in resp["hits"]["hits"]]

    def evidence_alerts(self, *, unit_id: str, limit: int = 20_000) -> list[Alert]:
        out: list[Alert] = []
        search_after: list[Any] | None = None
        while len(out) < limit:
            kwargs: dict[str, Any] = {"search_after": search_after} if search_after else {}
            try:
                resp = self.es.search(
                    index=f"{self.prefix}alerts-*",
                    query={
                        "bool": {
                            "filter": [
                                {"term": {"soc.unit.id": unit_id}},
                                {"exists": {"field": "soc.evidence"}},
                            ]
                        }
                    },
                    size=min(1000, limit - len(out)),
                    sort=[{"@timestamp": "asc"}, {"id": "asc"}],
                    source_excludes=[SEARCH_FIELD],
                    ignore_unavailable=True,
                    allow_no_indices=True,
                    **kwargs,
                )
            except ApiError as exc:
                raise StoreError(f"evidence alert search failed: {exc}", unit_id=unit_id) from exc
            hits = resp["hits"]["hits"]
            out.extend(from_document(h["_source"]) for h in hits)
            if not hits:
                break
            search_after = hits[-1]["sort"]
        return out
