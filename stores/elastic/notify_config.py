"""The notifier's configuration versions and flood-control memory in Elasticsearch.

- `<prefix>notify-config`: a document per saved version, id `<kind>-<version>`; `create` refuses
  an id that exists, which is the compare-and-set. Writes refresh (`wait_for`): an admin reads
  the list right after saving, and pollers ask for the newest version by a search.
- `<prefix>notify-told`: a document per told mark, id its `seq`; written in bulk without a refresh
  (read only when a notify worker starts, which refreshes first).
- `<prefix>notify-state`: keyed documents (held digests, send windows), stored not indexed.

Indices are created on first use, so a process starts while the cluster is still coming up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import Any

from elasticsearch import ApiError, ConflictError, Elasticsearch, TransportError

from soc_core.errors import StoreError
from soc_core.notify_config import ConfigKind, ConfigVersionTaken, NotifyConfigVersion, ToldMark
from soc_core.settings import DEFAULT_ES_REFRESH_INTERVAL
from stores.coverage_records import iso
from stores.elastic.indices import SmallIndex

CONFIG_MAPPING: dict[str, Any] = {
    "dynamic": False,
    "properties": {
        "kind": {"type": "keyword"},
        "version": {"type": "long"},
        "text": {"type": "keyword", "index": False, "doc_values": False},
        "author": {"type": "keyword"},
        "reason": {"type": "text"},
        "created_at": {"type": "date"},
    },
}
TOLD_MAPPING: dict[str, Any] = {
    "dynamic": False,
    "properties": {
        "seq": {"type": "long"},
        "recipient": {"type": "keyword"},
        "group": {"type": "keyword"},
        "at": {"type": "date"},
    },
}
STATE_MAPPING: dict[str, Any] = {
    "dynamic": False,
    "properties": {"key": {"type": "keyword"}, "doc": {"type": "object", "enabled": False}},
}
PAGE = 5_000


class _Indexed(SmallIndex):
    """One index created on first use; every failure is a `StoreError` naming it."""

    def _call(self, what: str, request: Callable[[], Any], *, missing: Any = None) -> Any:
        self.setup()
        try:
            return request()
        except ApiError as exc:
            if exc.status_code == 404:
                return missing
            raise StoreError(f"{self.SUFFIX} {what} failed: {exc}", index=self.index) from exc
        except TransportError as exc:
            raise StoreError(f"{self.SUFFIX} {what} failed: {exc}", index=self.index) from exc

    def _bulk(self, what: str, operations: list[dict[str, Any]]) -> None:
        """Write in one request; any item refused (but a delete of a missing id) is a `StoreError`."""
        if not operations:
            return
        resp = self._call(what, lambda: self.es.bulk(operations=operations))
        items = [next(iter(i.values())) for i in (resp or {}).get("items", [])]
        failed = [i for i in items if i.get("status", 200) >= 300 and i.get("status") != 404]
        if failed:
            raise StoreError(f"{self.SUFFIX} {what} refused: {failed[:3]}", index=self.index)

    def _all(self, query: dict[str, Any], sort: list[dict[str, str]], limit: int) -> list[dict[str, Any]]:
        """Up to `limit` sources in `sort` order, paged with `search_after` (past the 10,000 window)."""
        out: list[dict[str, Any]] = []
        after: list[Any] | None = None
        while len(out) < limit:
            size = min(PAGE, limit - len(out))
            resp = self._call(
                "search",
                partial(
                    self.es.search, index=self.index, query=query, sort=sort, size=size, search_after=after
                ),
                missing={"hits": {"hits": []}},
            )
            hits = resp["hits"]["hits"]
            out += [h["_source"] for h in hits]
            if len(hits) < size:
                break
            after = hits[-1]["sort"]
        return out


class ElasticNotifyConfigStore(_Indexed):
    MAPPING = CONFIG_MAPPING
    SUFFIX = "notify-config"

    def current(self, kind: ConfigKind) -> NotifyConfigVersion | None:
        found = self.history(kind, 1)
        return found[0] if found else None

    def get(self, kind: ConfigKind, version: int) -> NotifyConfigVersion | None:
        doc = self._call("read", lambda: self.es.get(index=self.index, id=f"{kind.value}-{version}"))
        return NotifyConfigVersion.model_validate(doc["_source"]) if doc is not None else None

    def history(self, kind: ConfigKind, limit: int) -> list[NotifyConfigVersion]:
        docs = self._all({"term": {"kind": kind.value}}, [{"version": "desc"}], limit)
        return [NotifyConfigVersion.model_validate(d) for d in docs]

    def put(self, version: NotifyConfigVersion) -> None:
        doc_id = f"{version.kind.value}-{version.version}"

        def create() -> None:
            try:
                self.es.create(
                    index=self.index, id=doc_id, document=version.model_dump(mode="json"), refresh="wait_for"
                )
            except ConflictError as exc:
                raise ConfigVersionTaken(
                    "this version was saved by someone else first",
                    kind=version.kind.value,
                    version=version.version,
                ) from exc

        self._call("write", create)


class ElasticNotifyStateStore(_Indexed):
    MAPPING = TOLD_MAPPING
    SUFFIX = "notify-told"

    def __init__(
        self, es: Elasticsearch, prefix: str, *, refresh_interval: str = DEFAULT_ES_REFRESH_INTERVAL
    ) -> None:
        super().__init__(es, prefix, refresh_interval=refresh_interval)
        self._state = _StateIndex(es, prefix, refresh_interval=refresh_interval)

    def setup(self) -> None:
        super().setup()
        self._state.setup()

    def add_told(self, marks: Sequence[ToldMark]) -> None:
        ops: list[dict[str, Any]] = []
        for m in marks:
            ops.append({"index": {"_index": self.index, "_id": str(m.seq)}})
            ops.append({"seq": m.seq, "recipient": m.recipient, "group": m.group, "at": iso(m.at)})
        self._bulk("told", ops)

    def told(self, limit: int) -> list[ToldMark]:
        self._call("refresh", lambda: self.es.indices.refresh(index=self.index))
        docs = self._all({"match_all": {}}, [{"seq": "desc"}], limit)
        marks = [
            ToldMark(int(d["seq"]), str(d["recipient"]), str(d["group"]), datetime.fromisoformat(d["at"]))
            for d in docs
        ]
        return marks[::-1]

    def forget_told(self, below_seq: int) -> None:
        """Search, then bulk delete, a page at a time (the cluster may lack `_delete_by_query`)."""
        query = {"range": {"seq": {"lt": below_seq}}}
        while True:
            self._call("refresh", lambda: self.es.indices.refresh(index=self.index))
            resp = self._call(
                "forget",
                lambda: self.es.search(index=self.index, query=query, size=PAGE, source=False),
                missing={"hits": {"hits": []}},
            )
            hits = resp["hits"]["hits"]
            self._bulk("forget", [{"delete": {"_index": self.index, "_id": h["_id"]}} for h in hits])
            if len(hits) < PAGE:
                return

    def put_entries(self, entries: Mapping[str, Mapping[str, Any] | None]) -> None:
        self._state.put(entries)

    def entries(self) -> dict[str, dict[str, Any]]:
        return self._state.read()


class _StateIndex(_Indexed):
    MAPPING = STATE_MAPPING
    SUFFIX = "notify-state"
    LIMIT = 100_000
    """Keyed documents read back at most (a few per recipient in practice)."""

    def put(self, entries: Mapping[str, Mapping[str, Any] | None]) -> None:
        ops: list[dict[str, Any]] = []
        for key, doc in entries.items():
            if doc is None:
                ops.append({"delete": {"_index": self.index, "_id": key}})
            else:
                ops.append({"index": {"_index": self.index, "_id": key}})
                ops.append({"key": key, "doc": dict(doc)})
        self._bulk("write", ops)

    def read(self) -> dict[str, dict[str, Any]]:
        self._call("refresh", lambda: self.es.indices.refresh(index=self.index))
        docs = self._all({"match_all": {}}, [{"key": "asc"}], self.LIMIT)
        return {str(d["key"]): dict(d["doc"]) for d in docs}
