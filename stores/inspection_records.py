"""What every inspection adapter shares: typed methods over three storage primitives.

Each record is kept whole as JSON with the few fields we filter on beside it (unit, plan, visit,
status, deadline, content hash), so a new field on a model needs no migration. Reminders are
written create-only, which makes "remind once per finding and deadline" hold across scheduler
restarts and replicas. An adapter provides `_put`, `_get` and `_find` (and reads evidence events
and alerts straight from its events and alerts, because the core `EventQuery` has no filter on
`soc.evidence`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TypeVar

import orjson
from pydantic import BaseModel

from soc_core.inspections import EvidenceFile, Finding, InspectionPlan, Reminder, Visit

M = TypeVar("M", bound=BaseModel)

MAX_DOCS = 10_000


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


class InspectionRecords:
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
