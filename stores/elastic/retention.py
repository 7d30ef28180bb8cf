"""Retention of the time-series indices in Elasticsearch (`soc_core.retention` says the rule).

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
from datetime import UTC, datetime

from elasticsearch import ApiError, Elasticsearch, TransportError

from soc_core.errors import StoreError
from soc_core.retention import PERIODS, RetentionResult, cutoff, next_period, retention_audit
from soc_core.store import AuditEntry
from stores.elastic.alert_document import ECS_MARK

log = logging.getLogger(__name__)

#: Period -> its date format in an index name (`ElasticStore.event_index`, `alert_index`, ...).
NAME_FORMATS = {"day": "%Y.%m.%d", "month": "%Y.%m"}


def period_end(suffix: str, period: str) -> datetime | None:
    """The end of the day or month named by `suffix` (UTC), or None when it is not such a name."""
    try:
        start = datetime.strptime(suffix, NAME_FORMATS[period]).replace(tzinfo=UTC)
    except ValueError:
        return None
    return next_period(start, period)


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
            # a shape mark may come first: `alerts-ecs-2026.12` (alerts as ECS documents)
            end = period_end(name[len(head) :].removeprefix(ECS_MARK), PERIODS[kind])
            if end is None:
                log.warning("retention: %s is not a %s index of a period, left alone", name, kind)
                result.unreadable.append(name)
            else:
                out.append((name, end))
        return out

    def _delete_expired(self, kind: str, days: int, result: RetentionResult, now: datetime) -> None:
        expired_before = cutoff(kind, days, now)
        for name, end in self._indices(kind, result):
            if end > expired_before:
                continue
            self.es.indices.delete(index=name)
            log.info("retention: deleted %s (%s kept %d days after %s)", name, kind, days, end.date())
            result.deleted.append(name)
            self.audit(
                [retention_audit("retention.delete", "index", name, kind, days, now, end=end.isoformat())]
            )

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
            self.audit(
                [retention_audit("retention.ilm", "index", name, kind, days, now, end=end.isoformat())]
            )
