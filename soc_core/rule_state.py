"""The shared rule state (which rules are disabled, by whom, since when, why) and its port.

The detect stage polls it (`detections.state.RuleWatcher`); the backends keep it
(`stores.sqlite.rule_state`, `stores.elastic.rule_state`). Only changes are kept: a rule absent
from the state is enabled (Sigma YAML has no "disabled").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from soc_core.errors import StoreError


@dataclass(frozen=True, slots=True)
class RuleOverride:
    """The last enable/disable of one rule: kept for the console and the audit trail."""

    enabled: bool
    changed_at: datetime
    changed_by: str
    reason: str | None = None

    def to_doc(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "changed_at": self.changed_at.isoformat(),
            "changed_by": self.changed_by,
            "reason": self.reason,
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> RuleOverride:
        return cls(
            enabled=bool(doc["enabled"]),
            changed_at=datetime.fromisoformat(str(doc["changed_at"])),
            changed_by=str(doc["changed_by"]),
            reason=str(doc["reason"]) if doc.get("reason") is not None else None,
        )


@dataclass(frozen=True, slots=True)
class RuleState:
    """One version of the shared state. `version` is opaque: compare it, never parse it."""

    version: str = "0"
    rules: Mapping[str, RuleOverride] = field(default_factory=dict)

    @property
    def disabled(self) -> frozenset[str]:
        return frozenset(rule_id for rule_id, o in self.rules.items() if not o.enabled)

    def to_doc(self) -> dict[str, Any]:
        return {"rules": {rule_id: o.to_doc() for rule_id, o in sorted(self.rules.items())}}

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any], version: str) -> RuleState:
        raw = doc.get("rules") or {}
        if not isinstance(raw, Mapping):
            raise StoreError("rule state document has no rules object")
        try:
            rules = {str(rule_id): RuleOverride.from_doc(o) for rule_id, o in raw.items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreError(f"rule state document is malformed: {exc!r}") from exc
        return cls(version=version, rules=rules)

    def with_change(
        self, rule_id: str, enabled: bool, *, actor: str, reason: str | None, at: datetime | None
    ) -> RuleState:
        override = RuleOverride(enabled, at or datetime.now(UTC), actor, reason)
        return replace(self, rules={**self.rules, rule_id: override})


@runtime_checkable
class RuleStateStore(Protocol):
    def load(self) -> RuleState:
        """The current state (an empty state when none was ever written)."""

    def set_enabled(
        self,
        rule_id: str,
        enabled: bool,
        *,
        actor: str,
        reason: str | None = None,
        at: datetime | None = None,
    ) -> RuleState:
        """Record one change atomically (compare-and-set) and return the new state."""
