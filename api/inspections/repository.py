"""Where inspection records live: plans, visits, findings, evidence files and reminders.

Two adapters beside the core store, like `api.coverage.repository`: SQLite (embedded, the same file
as the events) and Elasticsearch (`<prefix>inspections`). Each record is kept whole as JSON with the
few fields we filter on beside it (unit, plan, visit, status, deadline, content hash), so a new
field on a model needs no migration. Reminders are written create-only, which makes "remind once
per finding and deadline" hold across scheduler restarts and replicas.

Evidence events are read here too, straight from the events table or indices, because the core
`EventQuery` has no filter on `soc.evidence` (the coverage repository reads events the same way).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import orjson
from elasticsearch import ApiError, Elasticsearch
from pydantic import BaseModel

from api.inspections.models import EvidenceFile, Finding, InspectionPlan, Reminder, Visit
from soc_core.alert import Alert
from soc_core.errors import StoreError
from soc_core.event import Event

M = TypeVar("M", bound=BaseModel)

MAX_DOCS = 10_000


class InspectionRepository(Protocol):
    def setup(self) -> None: ...

    def put_plan(self, plan: InspectionPlan) -> None: ...

    def get_plan(self, plan_id: str) -> InspectionPlan | None: ...

    def list_plans(self) -> list[InspectionPlan]: ...

    def put_visit(self, visit: Visit) -> None: ...

    def get_visit(self, visit_id: str) -> Visit | None: ...

    def list_visits(self, *, plan_id: str | None = None, unit_id: str | None = None) -> list[Visit]: ...

    def put_finding(self, finding: Finding) -> None: ...

    def get_finding(self, finding_id: str) -> Finding | None: ...

    def list_findings(
        self,
        *,
        unit_id: str | None = None,
        visit_id: str | None = None,
        status: Sequence[str] = (),
        due_before: date | None = None,
    ) -> list[Finding]:
        """Oldest first; `due_before`: remediation deadline on or before that day."""

    def put_file(self, file: EvidenceFile) -> None: ...

    def get_file(self, file_id: str) -> EvidenceFile | None: ...

    def list_files(
        self, *, unit_id: str | None = None, visit_id: str | None = None
    ) -> list[EvidenceFile]: ...

    def file_by_hash(self, visit_id: str, sha256: str) -> EvidenceFile | None: ...

    def add_reminder(self, reminder: Reminder) -> bool:
        """Store a reminder unless one with its id exists; True when it is new."""

    def list_reminders(self, *, unit_id: str | None = None, limit: int = 200) -> list[Reminder]:
        """Newest first."""

    def evidence_events(self, *, unit_id: str, file_id: str, limit: int = 100) -> list[Event]:
        """Events stored as evidence of one uploaded file, oldest first."""

    def evidence_alerts(self, *, unit_id: str, limit: int = 20_000) -> list[Alert]:
        """Alerts raised on the unit's evidence events, whenever those events happened, oldest first."""


def _keys(doc: BaseModel) -> dict[str, str | None]:
    """The fields kept beside each document for filtering (absent ones are None)."""
    data = doc.model_dump(mode="json")
    due = data.get("remediation_deadline") or data.get("due")
    return {
        "unit_id": data.get("unit_id"),
        "plan_id": data.get("plan_id"),
        "visit_id": data.get("visit_id"),
        "status": data.get("status"),
        "due": due,
        "sha256": data.get("sha256"),
        "created": data.get("created_at") or data.get("uploaded_at"),
    }


KIND_OF: dict[type[BaseModel], str] = {
    InspectionPlan: "plan",
    Visit: "visit",
    Finding: "finding",
    EvidenceFile: "file",
    Reminder: "reminder",
}


class _Typed:
    """Typed methods over three primitives each adapter provides: put, get and find by keys."""

    def _put(self, kind: str, doc_id: str, keys: dict[str, str | None], doc: bytes, *, create: bool) -> bool:
        raise NotImplementedError

    def _get(self, kind: str, doc_id: str) -> bytes | None:
        raise NotImplementedError

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
        raise NotImplementedError

    def _save(self, doc: BaseModel, *, create: bool = False) -> bool:
        kind = KIND_OF[type(doc)]
        doc_id = str(getattr(doc, "id"))  # noqa: B009 - every stored model has an id
        return self._put(kind, doc_id, _keys(doc), orjson.dumps(doc.model_dump(mode="json")), create=create)

    def _load(self, model: type[M], doc_id: str) -> M | None:
        raw = self._get(KIND_OF[model], doc_id)
        return None if raw is None else model.model_validate(orjson.loads(raw))

    def _many(self, model: type[M], raws: list[bytes]) -> list[M]:
        return [model.model_validate(orjson.loads(r)) for r in raws]

    @staticmethod
    def _where(**pairs: str | None) -> dict[str, str]:
        return {k: v for k, v in pairs.items() if v is not None}

    def put_plan(self, plan: InspectionPlan) -> None:
        self._save(plan)

    def get_plan(self, plan_id: str) -> InspectionPlan | None:
        return self._load(InspectionPlan, plan_id)

    def list_plans(self) -> list[InspectionPlan]:
        return self._many(InspectionPlan, self._find("plan", {}))

    def put_visit(self, visit: Visit) -> None:
        self._save(visit)

    def get_visit(self, visit_id: str) -> Visit | None:
        return self._load(Visit, visit_id)

    def list_visits(self, *, plan_id: str | None = None, unit_id: str | None = None) -> list[Visit]:
        return self._many(Visit, self._find("visit", self._where(plan_id=plan_id, unit_id=unit_id)))

    def put_finding(self, finding: Finding) -> None:
        self._save(finding)

    def get_finding(self, finding_id: str) -> Finding | None:
        return self._load(Finding, finding_id)

    def list_findings(
        self,
        *,
        unit_id: str | None = None,
        visit_id: str | None = None,
        status: Sequence[str] = (),
        due_before: date | None = None,
    ) -> list[Finding]:
        raws = self._find(
            "finding", self._where(unit_id=unit_id, visit_id=visit_id), status=status, due_before=due_before
        )
        return self._many(Finding, raws)

    def put_file(self, file: EvidenceFile) -> None:
        self._save(file)

    def get_file(self, file_id: str) -> EvidenceFile | None:
        return self._load(EvidenceFile, file_id)

    def list_files(self, *, unit_id: str | None = None, visit_id: str | None = None) -> list[EvidenceFile]:
        return self._many(EvidenceFile, self._find("file", self._where(unit_id=unit_id, visit_id=visit_id)))

    def file_by_hash(self, visit_id: str, sha256: str) -> EvidenceFile | None:
        found = self._many(
            EvidenceFile, self._find("file", {"visit_id": visit_id, "sha256": sha256}, limit=1)
        )
        return found[0] if found else None

    def add_reminder(self, reminder: Reminder) -> bool:
        return self._save(reminder, create=True)

    def list_reminders(self, *, unit_id: str | None = None, limit: int = 200) -> list[Reminder]:
        raws = self._find("reminder", self._where(unit_id=unit_id), newest_first=True, limit=limit)
        return self._many(Reminder, raws)


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class SqliteInspectionRepository(_Typed):
    SCHEMA = """
    CREATE TABLE IF NOT EXISTS inspection_docs (
      kind TEXT NOT NULL, id TEXT NOT NULL, unit_id TEXT, plan_id TEXT, visit_id TEXT, status TEXT,
      due TEXT, sha256 TEXT, created TEXT, doc BLOB NOT NULL, PRIMARY KEY (kind, id));
    CREATE INDEX IF NOT EXISTS inspection_docs_unit ON inspection_docs(kind, unit_id, created);
    CREATE INDEX IF NOT EXISTS inspection_docs_visit ON inspection_docs(kind, visit_id);
    CREATE INDEX IF NOT EXISTS inspection_docs_due ON inspection_docs(kind, status, due);
    """
    FILTERS = ("unit_id", "plan_id", "visit_id", "status", "sha256")

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA busy_timeout=10000")
        self._lock = threading.Lock()

    def _run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return list(self._conn.execute(sql, params).fetchall())
            except sqlite3.Error as exc:
                raise StoreError(f"inspection query failed: {exc}") from exc

    def setup(self) -> None:
        with self._lock:
            self._conn.executescript(self.SCHEMA)

    def close(self) -> None:
        self._conn.close()

    def _put(self, kind: str, doc_id: str, keys: dict[str, str | None], doc: bytes, *, create: bool) -> bool:
        verb = "INSERT OR IGNORE" if create else "INSERT OR REPLACE"
        with self._lock:
            try:
                cur = self._conn.execute(
                    f"{verb} INTO inspection_docs (kind, id, unit_id, plan_id, visit_id, status, due, sha256,"
                    " created, doc) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (
                        kind,
                        doc_id,
                        keys["unit_id"],
                        keys["plan_id"],
                        keys["visit_id"],
                        keys["status"],
                        keys["due"],
                        keys["sha256"],
                        keys["created"],
                        doc,
                    ),
                )
            except sqlite3.Error as exc:
                raise StoreError(f"inspection write failed: {exc}", kind=kind, id=doc_id) from exc
            return cur.rowcount > 0

    def _get(self, kind: str, doc_id: str) -> bytes | None:
        rows = self._run("SELECT doc FROM inspection_docs WHERE kind = ? AND id = ?", (kind, doc_id))
        return bytes(rows[0][0]) if rows else None

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
        where, params = ["kind = ?"], [kind]
        for key, value in equals.items():
            if key not in self.FILTERS:
                raise StoreError(f"unknown inspection filter {key!r}")
            where.append(f"{key} = ?")
            params.append(value)
        if status:
            where.append(f"status IN ({','.join('?' * len(status))})")
            params.extend(status)
        if due_before is not None:
            where.append("due <= ?")
            params.append(due_before.isoformat())
        order = "DESC" if newest_first else "ASC"
        sql = (
            f"SELECT doc FROM inspection_docs WHERE {' AND '.join(where)}"
            f" ORDER BY created {order}, id {order} LIMIT {int(limit)}"
        )
        return [bytes(r[0]) for r in self._run(sql, params)]

    def evidence_events(self, *, unit_id: str, file_id: str, limit: int = 100) -> list[Event]:
        rows = self._run(
            "SELECT doc FROM events WHERE evidence = 1 AND unit_id = ?"
            " AND json_extract(CAST(doc AS TEXT), '$.soc.evidence.file_id') = ? ORDER BY ts, id LIMIT ?",
            (unit_id, file_id, limit),
        )
        return [Event.from_doc(orjson.loads(r[0])) for r in rows]

    def evidence_alerts(self, *, unit_id: str, limit: int = 20_000) -> list[Alert]:
        rows = self._run(
            "SELECT doc FROM alerts WHERE unit_id = ?"
            " AND json_extract(CAST(doc AS TEXT), '$.soc.evidence') IS NOT NULL ORDER BY ts, id LIMIT ?",
            (unit_id, limit),
        )
        return [Alert.model_validate(orjson.loads(r[0])) for r in rows]


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


class ElasticInspectionRepository(_Typed):
    def __init__(self, es: Elasticsearch, prefix: str) -> None:
        self.es = es
        self.prefix = prefix
        self.index = f"{prefix}inspections"

    def setup(self) -> None:
        try:
            if not self.es.indices.exists(index=self.index):
                self.es.indices.create(
                    index=self.index,
                    mappings=MAPPING,
                    settings={"number_of_shards": 1, "number_of_replicas": 0},
                )
        except ApiError as exc:
            if "resource_already_exists" not in str(exc):
                raise StoreError(f"cannot create {self.index}: {exc}") from exc

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
                    ignore_unavailable=True,
                    allow_no_indices=True,
                    **kwargs,
                )
            except ApiError as exc:
                raise StoreError(f"evidence alert search failed: {exc}", unit_id=unit_id) from exc
            hits = resp["hits"]["hits"]
            out.extend(Alert.model_validate(h["_source"]) for h in hits)
            if not hits:
                break
            search_after = hits[-1]["sort"]
        return out


def inspection_repository(store: object) -> InspectionRepository:
    """The inspection repository that lives beside a core store (same SQLite file or ES cluster)."""
    from soc_core.store_es import ElasticStore
    from soc_core.store_sqlite import SqliteStore

    repo: InspectionRepository
    if isinstance(store, SqliteStore):
        repo = SqliteInspectionRepository(store.path)
    elif isinstance(store, ElasticStore):
        repo = ElasticInspectionRepository(store.es, store.prefix)
    else:
        raise TypeError(f"no inspection repository for {type(store).__name__}")
    repo.setup()
    return repo
