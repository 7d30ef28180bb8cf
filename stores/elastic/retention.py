"""Retention of the time-series indices: each kind is kept a number of days after its period ended.

Events go to daily indices, alerts, dead letters and audit to monthly ones, named by the time of what
they hold (`<prefix>events-2026.12.05`, `<prefix>alerts-2026.12`), not by when they were created: an
evidence file loaded today fills last year's indices. So an index expires `days` after the end of
the day or month in its name. Rollover does not fit names chosen by the records' time, so there is no
write alias; on a cluster with ILM each index is handed a delete-only policy whose age counts from
that end (`index.lifecycle.origination_date`), and ILM deletes it; on a cluster without ILM (the
local integ-test build, OSS distributions) the scheduler deletes expired indices itself. Either way
each index handed over or deleted is logged and written to the audit log once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from elasticsearch import ApiError, Elasticsearch, TransportError

from soc_core.errors import StoreError
from soc_core.store import AuditEntry

log = logging.getLogger(__name__)

#: Index kind -> the date format of its period in the index name.
PERIODS: dict[str, str] = {"events": "%Y.%m.%d", "alerts": "%Y.%m", "deadletters": "%Y.%m", "audit": "%Y.%m"}

ACTOR = "system:retention"


def period_end(suffix: str, fmt: str) -> datetime | None:
    """The end of the day or month named by `suffix` (UTC), or None when it is not such a name."""
    try:
        start = datetime.strptime(suffix, fmt).replace(tzinfo=UTC)
    except ValueError:
        return None
    if fmt == "%Y.%m.%d":
        return start + timedelta(days=1)
    return (start + timedelta(days=32)).replace(day=1)


@dataclass
class RetentionResult:
    """What one run did: indices deleted, indices handed to ILM, names it could not read."""

    deleted: list[str] = field(default_factory=list)
    handed_to_ilm: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)


class ElasticRetention:
    """Applies `days` (index kind -> days kept after the period; 0: forever) to the indices of `prefix`."""

    def __init__(
        self,
        es: Elasticsearch,
        prefix: str,
        days: Mapping[str, int],
        audit: Callable[[Sequence[AuditEntry]], None],
    ) -> None:
        unknown = set(days) - set(PERIODS)
        if unknown:
            raise StoreError("no retention for these index kinds", kinds=",".join(sorted(unknown)))
        self.es = es
        self.prefix = prefix
        self.days = dict(days)
        self.audit = audit
        self._ilm: bool | None = None

    def has_ilm(self) -> bool:
        """Whether the cluster runs index lifecycle management (asked once). A cluster without the
        feature answers the request with an error (404/405/400/500 by distribution), not a status."""
        if self._ilm is None:
            try:
                self.es.ilm.get_status()
                self._ilm = True
            except ApiError as exc:
                log.info("no index lifecycle management on this cluster (%s): the scheduler deletes", exc)
                self._ilm = False
            except TransportError as exc:
                raise StoreError(f"Elasticsearch unreachable: {exc}", prefix=self.prefix) from exc
        return self._ilm

    def policy_name(self, kind: str) -> str:
        return f"{self.prefix}{kind}-retention"

    def run(self, now: datetime) -> RetentionResult:
        result = RetentionResult()
        ilm = self.has_ilm()
        try:
            for kind, days in self.days.items():
                if days <= 0:
                    continue
                if ilm:
                    self._hand_to_ilm(kind, days, result, now)
                else:
                    self._delete_expired(kind, days, result, now)
        except ApiError as exc:
            raise StoreError(f"retention failed: {exc}", prefix=self.prefix) from exc
        except TransportError as exc:
            raise StoreError(f"Elasticsearch unreachable: {exc}", prefix=self.prefix) from exc
        return result

    def _indices(self, kind: str, result: RetentionResult) -> list[tuple[str, datetime]]:
        """The kind's indices with the end of their period; other names under the pattern are
        reported (logged, in the result) and left alone."""
        head = f"{self.prefix}{kind}-"
        names = self.es.indices.get_alias(index=f"{head}*", allow_no_indices=True, ignore_unavailable=True)
        out = []
        for name in sorted(names):
            end = period_end(name[len(head) :], PERIODS[kind])
            if end is None:
                log.warning("retention: %s is not a %s index of a period, left alone", name, kind)
                result.unreadable.append(name)
            else:
                out.append((name, end))
        return out

    def _delete_expired(self, kind: str, days: int, result: RetentionResult, now: datetime) -> None:
        for name, end in self._indices(kind, result):
            if end + timedelta(days=days) > now:
                continue
            self.es.indices.delete(index=name)
            log.info("retention: deleted %s (%s kept %d days after %s)", name, kind, days, end.date())
            result.deleted.append(name)
            self._audit("retention.delete", name, kind, days, end, now)

    def _hand_to_ilm(self, kind: str, days: int, result: RetentionResult, now: datetime) -> None:
        policy = self.policy_name(kind)
        self.es.ilm.put_lifecycle(
            name=policy, policy={"phases": {"delete": {"min_age": f"{days}d", "actions": {"delete": {}}}}}
        )
        indices = self._indices(kind, result)
        if not indices:
            return
        current = self.es.indices.get_settings(
            index=",".join(n for n, _ in indices), name="index.lifecycle.name", flat_settings=True
        )
        for name, end in indices:
            if current.get(name, {}).get("settings", {}).get("index.lifecycle.name") == policy:
                continue
            self.es.indices.put_settings(
                index=name,
                settings={
                    "index.lifecycle.name": policy,
                    "index.lifecycle.origination_date": int(end.timestamp() * 1000),
                },
            )
            log.info("retention: %s handed to %s (deleted %d days after %s)", name, policy, days, end)
            result.handed_to_ilm.append(name)
            self._audit("retention.ilm", name, kind, days, end, now)

    def _audit(self, action: str, name: str, kind: str, days: int, end: datetime, now: datetime) -> None:
        """One entry per index and action (its id is derived from both, so a retried run adds none)."""
        self.audit(
            [
                AuditEntry(
                    id=f"{action}-{name}",
                    at=now,
                    actor=ACTOR,
                    action=action,
                    target_type="index",
                    target_id=name,
                    details={"kind": kind, "days": days, "period_end": end.isoformat()},
                )
            ]
        )
