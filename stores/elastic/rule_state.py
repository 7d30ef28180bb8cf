"""The distributed mode's rule state: one document in the `<prefix>rule-state` index."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from elasticsearch import ApiError, ConflictError, Elasticsearch, NotFoundError, TransportError
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from soc_core.errors import StoreError
from soc_core.rule_state import RuleState
from soc_core.settings import DEFAULT_ES_REFRESH_INTERVAL

RULE_STATE_MAPPING: dict[str, Any] = {
    "dynamic": False,
    "properties": {"updated_at": {"type": "date"}, "rules": {"type": "object", "enabled": False}},
}


class ElasticRuleStateStore:
    """Distributed mode: one document (`rule-state`) in the `<prefix>rule-state` index.

    A GET by id is real-time, so a change is visible to every poller at once (no refresh). The
    rules object is stored, not indexed (`enabled: false`): rule ids must not become mapped fields.
    """

    DOC_ID = "rule-state"
    MAX_ATTEMPTS = 10

    def __init__(
        self, es: Elasticsearch, *, prefix: str = "", refresh_interval: str = DEFAULT_ES_REFRESH_INTERVAL
    ) -> None:
        self.es = es
        self.index = f"{prefix}rule-state"
        self.refresh_interval = refresh_interval
        self._ready = False
        self._setup_lock = threading.Lock()

    def setup(self) -> None:
        """Create the index with its mapping (idempotent), and wait until its shard can serve."""
        with self._setup_lock:
            if self._ready:
                return
            try:
                if not self.es.indices.exists(index=self.index):
                    self.es.indices.create(
                        index=self.index,
                        mappings=RULE_STATE_MAPPING,
                        settings={
                            "number_of_shards": 1,
                            "auto_expand_replicas": "0-1",
                            "refresh_interval": self.refresh_interval,
                        },
                    )
            except ApiError as exc:
                if exc.error != "resource_already_exists_exception":
                    raise StoreError(f"rule state index not created: {exc}", index=self.index) from exc
            except TransportError as exc:
                raise StoreError(f"rule state index not created: {exc}", index=self.index) from exc
            try:  # another process may have just created it: its shard can still be recovering
                self.es.cluster.health(index=self.index, wait_for_status="yellow", timeout="30s")
            except (ApiError, TransportError) as exc:
                raise StoreError(f"rule state index not ready: {exc}", index=self.index) from exc
            self._ready = True

    def _get(self) -> tuple[RuleState, tuple[int, int] | None]:
        try:
            resp = self.es.get(index=self.index, id=self.DOC_ID)
        except NotFoundError:
            return RuleState(), None
        except (ApiError, TransportError) as exc:
            raise StoreError(f"rule state not read: {exc}", index=self.index) from exc
        seq = (int(resp["_seq_no"]), int(resp["_primary_term"]))
        return RuleState.from_doc(resp["_source"], version=f"{seq[0]}:{seq[1]}"), seq

    def load(self) -> RuleState:
        return self._get()[0]

    def set_enabled(
        self,
        rule_id: str,
        enabled: bool,
        *,
        actor: str,
        reason: str | None = None,
        at: datetime | None = None,
    ) -> RuleState:
        if not self._ready:
            self.setup()
        # Compare-and-set: a concurrent change is a ConflictError; re-read and re-apply ours after
        # a jittered wait, so a crowd of writers spreads out instead of colliding again.
        try:
            for attempt in Retrying(
                retry=retry_if_exception_type(ConflictError),
                stop=stop_after_attempt(self.MAX_ATTEMPTS),
                wait=wait_random_exponential(multiplier=0.01, max=0.5),
                reraise=True,
            ):
                with attempt:
                    return self._apply_change(rule_id, enabled, actor=actor, reason=reason, at=at)
        except ConflictError as exc:
            raise StoreError("rule state kept changing under us; try again", index=self.index) from exc
        raise AssertionError("unreachable: tenacity either returns or re-raises")

    def _apply_change(
        self, rule_id: str, enabled: bool, *, actor: str, reason: str | None, at: datetime | None
    ) -> RuleState:
        current, seq = self._get()
        state = current.with_change(rule_id, enabled, actor=actor, reason=reason, at=at)
        doc = {"updated_at": datetime.now(UTC).isoformat(), **state.to_doc()}
        try:
            if seq is None:
                resp = self.es.create(index=self.index, id=self.DOC_ID, document=doc)
            else:
                resp = self.es.index(
                    index=self.index,
                    id=self.DOC_ID,
                    document=doc,
                    if_seq_no=seq[0],
                    if_primary_term=seq[1],
                )
        except ConflictError:
            raise
        except (ApiError, TransportError) as exc:
            raise StoreError(f"rule state not written: {exc}", index=self.index) from exc
        return replace(state, version=f"{resp['_seq_no']}:{resp['_primary_term']}")
