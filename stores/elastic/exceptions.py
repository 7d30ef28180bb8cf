"""Analysts' exceptions in Elasticsearch: one `<prefix>exceptions` index, a document per exception.

Writes by people refresh at once (a few a day, read back by the next page). The detect workers add
to the suppressed counts by compare-and-set (`if_seq_no`, retried), so counts from several replicas
add up; a revoke is a compare-and-set replace too, which a concurrent count makes fail and the
service retries on the fresh document.

The index is created on first use, not when the backend is opened: a detect worker must start (and
detect) while Elasticsearch is away; its watcher retries the exceptions later.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from elasticsearch import ApiError, TransportError
from tenacity import RetryError, Retrying, retry_if_result, stop_after_attempt, wait_random_exponential

from soc_core.errors import StoreError
from soc_core.exceptions import AnalystException
from stores.coverage_records import iso
from stores.elastic.indices import SmallIndex

MAPPING: dict[str, Any] = {
    "dynamic": False,  # `fields` keys are event field names: stored, never mapped
    "properties": {
        "id": {"type": "keyword"},
        "rule_id": {"type": "keyword"},
        "created_at": {"type": "date"},
        "expires_at": {"type": "date"},
        "revoked_at": {"type": "date"},
        "suppressed": {"type": "long"},
        "sigma": {"type": "keyword", "index": False, "doc_values": False},
    },
}
COUNT_ATTEMPTS = 10
"""Compare-and-set tries of one count update before the flush fails (and is retried later)."""


class ElasticExceptionRepository(SmallIndex):
    MAPPING = MAPPING
    SUFFIX = "exceptions"

    def _ensure(self) -> None:
        if not self._ready:
            self.setup()

    def create(self, exception: AnalystException) -> None:
        self._ensure()
        try:
            self.es.create(index=self.index, id=exception.id, document=exception.to_doc(), refresh="wait_for")
        except ApiError as exc:
            if exc.status_code == 409:
                raise StoreError("exception already exists", id=exception.id) from exc
            raise StoreError(f"exception write failed: {exc}", id=exception.id) from exc
        except TransportError as exc:
            raise StoreError(f"exception write failed: {exc}", id=exception.id) from exc

    def get_versioned(self, exception_id: str) -> tuple[AnalystException, str] | None:
        self._ensure()
        try:
            doc = self.es.get(index=self.index, id=exception_id)
        except ApiError as exc:
            if exc.status_code == 404:
                return None
            raise StoreError(f"exception read failed: {exc}", id=exception_id) from exc
        except TransportError as exc:
            raise StoreError(f"exception read failed: {exc}", id=exception_id) from exc
        version = f"{doc['_seq_no']}|{doc['_primary_term']}"
        return AnalystException.model_validate(doc["_source"]), version

    def update(self, exception: AnalystException, *, version: str) -> bool:
        self._ensure()
        return self._replace(exception, version, refresh="wait_for")

    def _replace(self, exception: AnalystException, version: str, *, refresh: str | bool) -> bool:
        """Write `exception` over the stored one if that is still at `version` (else False)."""
        seq_no, term = version.split("|")
        try:
            self.es.index(
                index=self.index,
                id=exception.id,
                document=exception.to_doc(),
                if_seq_no=int(seq_no),
                if_primary_term=int(term),
                refresh=refresh,
            )
        except ApiError as exc:
            if exc.status_code == 409:
                return False
            raise StoreError(f"exception write failed: {exc}", id=exception.id) from exc
        except TransportError as exc:
            raise StoreError(f"exception write failed: {exc}", id=exception.id) from exc
        return True

    def _search(self, query: dict[str, Any], limit: int, *, order: str = "asc") -> list[AnalystException]:
        self._ensure()
        try:
            resp = self.es.search(
                index=self.index,
                query=query,
                size=limit,
                sort=[{"created_at": order}, {"id": order}],
            )
        except (ApiError, TransportError) as exc:
            raise StoreError(f"exception search failed: {exc}", index=self.index) from exc
        return [AnalystException.model_validate(h["_source"]) for h in resp["hits"]["hits"]]

    def list_all(self, *, rule_id: str | None = None, limit: int = 10_000) -> list[AnalystException]:
        query: dict[str, Any] = {"term": {"rule_id": rule_id}} if rule_id else {"match_all": {}}
        return self._search(query, limit, order="desc")

    def active(self, now: datetime, *, limit: int = 10_000) -> list[AnalystException]:
        query = {
            "bool": {
                "filter": [{"range": {"expires_at": {"gt": iso(now)}}}],
                "must_not": [{"exists": {"field": "revoked_at"}}],
            }
        }
        return self._search(query, limit)

    def add_suppressed(self, counts: Mapping[str, int], *, at: datetime) -> None:
        """Read, add, write back if unchanged (`if_seq_no`), per exception; scripts are not assumed
        (a cluster may run without Painless), and a few exceptions are flushed every few seconds."""
        pending = {exception_id: int(n) for exception_id, n in counts.items() if n}
        if not pending:
            return
        self._ensure()
        retrying = Retrying(
            retry=retry_if_result(lambda added: not added),
            stop=stop_after_attempt(COUNT_ATTEMPTS),
            wait=wait_random_exponential(multiplier=0.01, max=0.5),
        )
        for exception_id, n in pending.items():
            try:
                retrying(self._add_one, exception_id, n, at)
            except RetryError as exc:
                raise StoreError("exception count kept changing under us", id=exception_id) from exc

    def _add_one(self, exception_id: str, n: int, at: datetime) -> bool:
        """True when added (or the exception is gone), False when someone else wrote meanwhile."""
        got = self.get_versioned(exception_id)
        if got is None:
            return True  # deleted: nothing to count against
        exception, version = got
        last = exception.last_suppressed_at
        updated = exception.model_copy(
            update={
                "suppressed": exception.suppressed + n,
                "last_suppressed_at": max(last, at) if last else at,
            }
        )
        return self._replace(updated, version, refresh=False)
