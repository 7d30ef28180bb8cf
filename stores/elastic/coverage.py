"""Coverage history in Elasticsearch: `<prefix>coverage-snapshots` and `<prefix>coverage-gaps`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from soc_core.coverage import CoverageSnapshot, Gap
from soc_core.errors import StoreError
from stores.coverage_records import (
    ANTIMALWARE_DATASET_PREFIX,
    ANTIMALWARE_MODULES,
    figure_of,
    iso,
    parse,
    snapshot_record,
)
from stores.elastic.indices import ReplicatedIndices

SNAPSHOT_MAPPING: dict[str, Any] = {
    "dynamic": False,
    "properties": {
        "at": {"type": "date"},
        "province": {"type": "object", "dynamic": True},
        "units": {"type": "object", "enabled": False},
        "systems_monitored": {"type": "keyword"},
    },
}
GAP_MAPPING: dict[str, Any] = {
    "dynamic": False,
    "properties": {
        "kind": {"type": "keyword"},
        "subject_id": {"type": "keyword"},
        "start": {"type": "date"},
        "end": {"type": "date"},
        "open": {"type": "boolean"},
        "reason": {"type": "keyword"},
    },
}


class ElasticCoverageRepository(ReplicatedIndices):
    @property
    def snapshots(self) -> str:
        return f"{self.prefix}coverage-snapshots"

    @property
    def gap_index(self) -> str:
        return f"{self.prefix}coverage-gaps"

    def setup(self) -> None:
        for index, mapping in ((self.snapshots, SNAPSHOT_MAPPING), (self.gap_index, GAP_MAPPING)):
            self._create(index, mapping)

    def save_snapshot(self, snapshot: CoverageSnapshot) -> None:
        record = snapshot_record(snapshot)
        self.es.index(index=self.snapshots, id=record["at"], document=record, refresh="wait_for")

    def history(
        self, scope: str, unit_id: str | None, start: datetime, end: datetime, max_points: int = 500
    ) -> list[tuple[datetime, int, int]]:
        span = max((end - start).total_seconds(), 60.0)
        interval = max(60, int(span / max_points))
        resp = self.es.search(
            index=self.snapshots,
            size=0,
            query={"range": {"at": {"gte": start.isoformat(), "lt": end.isoformat()}}},
            aggs={
                "t": {
                    "date_histogram": {"field": "at", "fixed_interval": f"{interval}s", "min_doc_count": 1},
                    "aggs": {"last": {"top_hits": {"size": 1, "sort": [{"at": "desc"}]}}},
                }
            },
        )
        points = []
        for bucket in resp["aggregations"]["t"]["buckets"]:
            record = bucket["last"]["hits"]["hits"][0]["_source"]
            fig = figure_of(record, scope, unit_id)
            if fig is not None:
                points.append((parse(record["at"]), fig[0], fig[1]))
        return points

    def _gap_docs(self, query: dict[str, Any]) -> list[Gap]:
        resp = self.es.search(index=self.gap_index, query=query, size=10000, sort=[{"start": "asc"}])
        return [
            Gap(
                kind=h["_source"]["kind"],
                subject_id=h["_source"]["subject_id"],
                start=parse(h["_source"]["start"]),
                end=parse(h["_source"]["end"]) if h["_source"].get("end") else None,
                reason=h["_source"]["reason"],
            )
            for h in resp["hits"]["hits"]
        ]

    def open_gaps(self) -> dict[tuple[str, str], Gap]:
        return {(g.kind, g.subject_id): g for g in self._gap_docs({"term": {"open": True}})}

    @staticmethod
    def _gap_id(g: Gap) -> str:
        return f"{g.kind}:{g.subject_id}:{iso(g.start)}"

    def save_gaps(self, opened: Sequence[Gap], closed: Sequence[Gap]) -> None:
        ops: list[Any] = []
        for g in [*opened, *closed]:
            ops.append({"index": {"_index": self.gap_index, "_id": self._gap_id(g)}})
            ops.append(
                {
                    "kind": g.kind,
                    "subject_id": g.subject_id,
                    "start": iso(g.start),
                    "end": iso(g.end) if g.end else None,
                    "open": g.end is None,
                    "reason": g.reason,
                }
            )
        if ops:
            resp = self.es.bulk(operations=ops, refresh="wait_for")
            if resp.get("errors"):
                raise StoreError(f"coverage gap write failed: {resp['items'][0]}")

    def gaps(
        self,
        *,
        kind: str | None = None,
        subject_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[Gap]:
        filters: list[dict[str, Any]] = []
        if kind:
            filters.append({"term": {"kind": kind}})
        if subject_id:
            filters.append({"term": {"subject_id": subject_id}})
        if start:
            filters.append(
                {
                    "bool": {
                        "should": [{"term": {"open": True}}, {"range": {"end": {"gte": start.isoformat()}}}]
                    }
                }
            )
        if end:
            filters.append({"range": {"start": {"lt": end.isoformat()}}})
        return self._gap_docs({"bool": {"filter": filters}})

    def first_ingest_after(self, source_id: str, after: datetime) -> datetime | None:
        resp = self.es.search(
            index=f"{self.prefix}events-*",
            size=0,
            ignore_unavailable=True,
            allow_no_indices=True,
            query={
                "bool": {
                    "filter": [
                        {"term": {"soc.source.id": source_id}},
                        {"range": {"event.ingested": {"gt": after.isoformat()}}},
                    ]
                }
            },
            aggs={"first": {"min": {"field": "event.ingested"}}},
        )
        value = resp.get("aggregations", {}).get("first", {}).get("value_as_string")
        return parse(value) if value else None

    def antimalware_last_report(self, since: datetime) -> dict[str, datetime]:
        resp = self.es.search(
            index=f"{self.prefix}events-*",
            size=0,
            ignore_unavailable=True,
            allow_no_indices=True,
            query={
                "bool": {
                    "filter": [{"range": {"event.ingested": {"gte": since.isoformat()}}}],
                    "should": [
                        {"terms": {"event.module": list(ANTIMALWARE_MODULES)}},
                        {"prefix": {"event.dataset": ANTIMALWARE_DATASET_PREFIX}},
                    ],
                    "minimum_should_match": 1,
                    "must_not": [{"exists": {"field": "soc.evidence"}}],
                }
            },
            aggs={
                "hosts": {
                    "terms": {"field": "host.name", "size": 65000},
                    "aggs": {"last": {"max": {"field": "event.ingested"}}},
                }
            },
        )
        out: dict[str, datetime] = {}
        for b in resp.get("aggregations", {}).get("hosts", {}).get("buckets", []):
            last = b["last"].get("value_as_string")
            if last:
                host = str(b["key"]).lower()
                ts = parse(last)
                out[host] = max(ts, out.get(host, ts))
        return out
