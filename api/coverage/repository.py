"""Where coverage history lives: one snapshot of figures per minute, and gaps with start and end.

Two adapters like the core store: SQLite (embedded, same file as the events) and Elasticsearch
(`<prefix>coverage-snapshots`, `<prefix>coverage-gaps`). A snapshot keeps the province-wide
figures as fields (charts aggregate them) and the per-unit figures as an unindexed blob.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import orjson
from elasticsearch import ApiError, Elasticsearch

from api.coverage.models import CoverageSnapshot, Gap
from soc_core.errors import StoreError

# What counts as an anti-malware report (a detection or a heartbeat) for endpoint protection.
ANTIMALWARE_MODULES = ("kaspersky", "antimalware", "defender", "windows_defender")
ANTIMALWARE_DATASET_PREFIX = "windows.defender"


def snapshot_record(snapshot: CoverageSnapshot) -> dict[str, Any]:
    province = {
        f.scope: {"covered": f.covered, "total": f.total, "ratio": f.ratio}
        for f in snapshot.figures
        if f.unit_id is None
    }
    units: dict[str, dict[str, list[int]]] = {}
    for f in snapshot.figures:
        if f.unit_id is not None:
            units.setdefault(f.unit_id, {})[f.scope] = [f.covered, f.total]
    return {
        "at": snapshot.at.astimezone(UTC).isoformat(),
        "province": province,
        "units": units,
        "systems_monitored": [s.system_id for s in snapshot.systems if s.monitored],
    }


def _figure_of(record: dict[str, Any], scope: str, unit_id: str | None) -> tuple[int, int] | None:
    if unit_id is None:
        fig = record.get("province", {}).get(scope)
        return (int(fig["covered"]), int(fig["total"])) if fig else None
    pair = record.get("units", {}).get(unit_id, {}).get(scope)
    return (int(pair[0]), int(pair[1])) if pair else None


class CoverageRepository(Protocol):
    def setup(self) -> None: ...

    def save_snapshot(self, snapshot: CoverageSnapshot) -> None: ...

    def history(
        self, scope: str, unit_id: str | None, start: datetime, end: datetime, max_points: int = 500
    ) -> list[tuple[datetime, int, int]]: ...

    def open_gaps(self) -> dict[tuple[str, str], Gap]: ...

    def save_gaps(self, opened: Sequence[Gap], closed: Sequence[Gap]) -> None: ...

    def gaps(
        self,
        *,
        kind: str | None = None,
        subject_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[Gap]: ...

    def first_ingest_after(self, source_id: str, after: datetime) -> datetime | None: ...

    def antimalware_last_report(self, since: datetime) -> dict[str, datetime]: ...


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class SqliteCoverageRepository:
    SCHEMA = """
    CREATE TABLE IF NOT EXISTS coverage_snapshots (at TEXT PRIMARY KEY, doc BLOB NOT NULL);
    CREATE TABLE IF NOT EXISTS coverage_gaps (
      kind TEXT NOT NULL, subject_id TEXT NOT NULL, start TEXT NOT NULL, end TEXT, reason TEXT NOT NULL,
      PRIMARY KEY (kind, subject_id, start));
    CREATE INDEX IF NOT EXISTS coverage_gaps_open ON coverage_gaps(end);
    CREATE INDEX IF NOT EXISTS events_ingested ON events(ingested);
    """

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA busy_timeout=10000")
        self._lock = threading.Lock()

    def _run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return list(self._conn.execute(sql, params).fetchall())
            except sqlite3.Error as exc:
                raise StoreError(f"coverage query failed: {exc}") from exc

    def setup(self) -> None:
        with self._lock:
            self._conn.executescript(self.SCHEMA)

    def save_snapshot(self, snapshot: CoverageSnapshot) -> None:
        record = snapshot_record(snapshot)
        self._run(
            "INSERT OR REPLACE INTO coverage_snapshots (at, doc) VALUES (?, ?)",
            (_iso(snapshot.at), orjson.dumps(record)),
        )

    def history(
        self, scope: str, unit_id: str | None, start: datetime, end: datetime, max_points: int = 500
    ) -> list[tuple[datetime, int, int]]:
        rows = self._run(
            "SELECT at, doc FROM coverage_snapshots WHERE at >= ? AND at < ? ORDER BY at",
            (_iso(start), _iso(end)),
        )
        stride = max(1, len(rows) // max_points + (1 if len(rows) % max_points else 0))
        points = []
        for i, (at, doc) in enumerate(rows):
            if i % stride and i != len(rows) - 1:
                continue
            fig = _figure_of(orjson.loads(doc), scope, unit_id)
            if fig is not None:
                points.append((_parse(at), fig[0], fig[1]))
        return points

    def open_gaps(self) -> dict[tuple[str, str], Gap]:
        rows = self._run("SELECT kind, subject_id, start, reason FROM coverage_gaps WHERE end IS NULL")
        return {
            (k, s): Gap(kind=k, subject_id=s, start=_parse(st), end=None, reason=r) for k, s, st, r in rows
        }

    def save_gaps(self, opened: Sequence[Gap], closed: Sequence[Gap]) -> None:
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                for g in opened:
                    self._conn.execute(
                        "INSERT OR IGNORE INTO coverage_gaps (kind, subject_id, start, end, reason)"
                        " VALUES (?,?,?,?,?)",
                        (g.kind, g.subject_id, _iso(g.start), None, g.reason),
                    )
                for g in closed:
                    assert g.end is not None
                    self._conn.execute(
                        "UPDATE coverage_gaps SET end = ? WHERE kind = ? AND subject_id = ? AND start = ?",
                        (_iso(g.end), g.kind, g.subject_id, _iso(g.start)),
                    )
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._conn.execute("ROLLBACK")
                raise StoreError(f"coverage gap write failed: {exc}") from exc

    def gaps(
        self,
        *,
        kind: str | None = None,
        subject_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[Gap]:
        where, params = [], []
        if kind:
            where.append("kind = ?")
            params.append(kind)
        if subject_id:
            where.append("subject_id = ?")
            params.append(subject_id)
        if start:
            where.append("(end IS NULL OR end >= ?)")
            params.append(_iso(start))
        if end:
            where.append("start < ?")
            params.append(_iso(end))
        sql = "SELECT kind, subject_id, start, end, reason FROM coverage_gaps"
        sql += (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY start"
        return [
            Gap(kind=k, subject_id=s, start=_parse(st), end=_parse(en) if en else None, reason=r)
            for k, s, st, en, r in self._run(sql, params)
        ]

    def first_ingest_after(self, source_id: str, after: datetime) -> datetime | None:
        rows = self._run(
            "SELECT MIN(ingested) FROM events WHERE source_id = ? AND ingested > ? AND evidence = 0",
            (source_id, _iso(after)),
        )
        return _parse(rows[0][0]) if rows and rows[0][0] else None

    def antimalware_last_report(self, since: datetime) -> dict[str, datetime]:
        marks = ",".join("?" * len(ANTIMALWARE_MODULES))
        rows = self._run(
            "SELECT lower(host_name), MAX(ingested) FROM events WHERE evidence = 0 AND ingested >= ?"
            f" AND host_name IS NOT NULL AND (json_extract(doc, '$.event.module') IN ({marks})"
            " OR json_extract(doc, '$.event.dataset') LIKE ?) GROUP BY lower(host_name)",
            (_iso(since), *ANTIMALWARE_MODULES, ANTIMALWARE_DATASET_PREFIX + "%"),
        )
        return {h: _parse(t) for h, t in rows if t}


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


class ElasticCoverageRepository:
    def __init__(self, es: Elasticsearch, prefix: str) -> None:
        self.es = es
        self.prefix = prefix
        self.snapshots = f"{prefix}coverage-snapshots"
        self.gap_index = f"{prefix}coverage-gaps"

    def setup(self) -> None:
        for index, mapping in ((self.snapshots, SNAPSHOT_MAPPING), (self.gap_index, GAP_MAPPING)):
            try:
                if not self.es.indices.exists(index=index):
                    self.es.indices.create(
                        index=index,
                        mappings=mapping,
                        settings={"number_of_shards": 1, "number_of_replicas": 0},
                    )
            except ApiError as exc:
                if "resource_already_exists" not in str(exc):
                    raise StoreError(f"cannot create {index}: {exc}") from exc

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
            fig = _figure_of(record, scope, unit_id)
            if fig is not None:
                points.append((_parse(record["at"]), fig[0], fig[1]))
        return points

    def _gap_docs(self, query: dict[str, Any]) -> list[Gap]:
        resp = self.es.search(index=self.gap_index, query=query, size=10000, sort=[{"start": "asc"}])
        return [
            Gap(
                kind=h["_source"]["kind"],
                subject_id=h["_source"]["subject_id"],
                start=_parse(h["_source"]["start"]),
                end=_parse(h["_source"]["end"]) if h["_source"].get("end") else None,
                reason=h["_source"]["reason"],
            )
            for h in resp["hits"]["hits"]
        ]

    def open_gaps(self) -> dict[tuple[str, str], Gap]:
        return {(g.kind, g.subject_id): g for g in self._gap_docs({"term": {"open": True}})}

    @staticmethod
    def _gap_id(g: Gap) -> str:
        return f"{g.kind}:{g.subject_id}:{_iso(g.start)}"

    def save_gaps(self, opened: Sequence[Gap], closed: Sequence[Gap]) -> None:
        ops: list[Any] = []
        for g in [*opened, *closed]:
            ops.append({"index": {"_index": self.gap_index, "_id": self._gap_id(g)}})
            ops.append(
                {
                    "kind": g.kind,
                    "subject_id": g.subject_id,
                    "start": _iso(g.start),
                    "end": _iso(g.end) if g.end else None,
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
        return _parse(value) if value else None

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
                ts = _parse(last)
                out[host] = max(ts, out.get(host, ts))
        return out


def window_start(now: datetime, days: int) -> datetime:
    return now - timedelta(days=days)


def coverage_repository(store: object) -> CoverageRepository:
    """The coverage repository that lives beside a core store (same SQLite file or ES cluster)."""
    from soc_core.store_es import ElasticStore
    from soc_core.store_sqlite import SqliteStore

    repo: CoverageRepository
    if isinstance(store, SqliteStore):
        repo = SqliteCoverageRepository(store.path)
    elif isinstance(store, ElasticStore):
        repo = ElasticCoverageRepository(store.es, store.prefix)
    else:
        raise TypeError(f"no coverage repository for {type(store).__name__}")
    repo.setup()
    return repo
