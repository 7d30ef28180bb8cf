"""Routing rules: which alerts go to whom.

A rule selects alerts by severity, rule id, checklist code, unit, system and age (an alert whose
event is older than `max_age_s` is history being replayed or back-filled, not news), and names
who hears of them: the SOC on-call, the owner unit's security contact (from the registry:
`Unit.security_email`, `Unit.security_telegram`), and any extra recipients. Every rule that
matches adds its recipients. Rules come from a YAML file (`SOC_NOTIFY_RULES_FILE`), so the SOC
edits them without a release; `RoutingRules` is also the model an admin API will store.

    rules:
      - name: high-and-critical
        min_severity: high
        oncall: true
        unit_contact: true
      - name: usb-on-secret-machines
        checklist: [VN-10, VN-12]
        to: ["telegram:-1001234567"]
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from soc_core.alert import Alert, Severity
from soc_core.errors import ConfigError
from soc_core.notify import Recipient
from soc_core.registry import Unit


class RoutingRule(BaseModel):
    """One rule: empty selectors select everything; every given selector must match."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    severities: list[Severity] = Field(default_factory=list)
    min_severity: Severity | None = None
    rule_ids: list[str] = Field(default_factory=list)
    checklist: list[str] = Field(default_factory=list)
    units: list[str] = Field(default_factory=list)
    systems: list[str] = Field(default_factory=list)
    max_age_s: float | None = Field(default=86_400.0, gt=0)
    include_evidence: bool = False
    oncall: bool = False
    unit_contact: bool = False
    to: list[str] = Field(default_factory=list)

    @field_validator("to")
    @classmethod
    def _recipients(cls, value: list[str]) -> list[str]:
        for text in value:
            try:
                Recipient.parse(text)
            except ConfigError as exc:  # a ValueError, so pydantic says which rule and field
                raise ValueError(str(exc)) from exc
        return value

    @field_validator("checklist")
    @classmethod
    def _codes(cls, value: list[str]) -> list[str]:
        return [code.upper() for code in value]

    def matches(self, alert: Alert, now: datetime) -> bool:
        if alert.origin == "evidence" and not self.include_evidence:
            return False
        if self.severities and alert.severity not in self.severities:
            return False
        if self.min_severity is not None and alert.severity.rank < self.min_severity.rank:
            return False
        if self.rule_ids and alert.rule.id not in self.rule_ids:
            return False
        if self.checklist and not set(self.checklist) & {c.upper() for c in alert.checklist}:
            return False
        if self.units and alert.soc.unit.id not in self.units:
            return False
        if self.systems and alert.soc.system.id not in self.systems:
            return False
        return self.max_age_s is None or (now - alert.timestamp).total_seconds() <= self.max_age_s


DEFAULT_RULES = [
    RoutingRule(name="high-and-critical", min_severity=Severity.HIGH, oncall=True, unit_contact=True)
]


def unit_recipients(unit: Unit | None) -> list[Recipient]:
    """The unit's security contact as the registry declares them (none: the unit hears nothing)."""
    if unit is None:
        return []
    out = []
    if unit.security_email:
        out.append(Recipient("email", unit.security_email))
    if unit.security_telegram:
        out.append(Recipient("telegram", unit.security_telegram))
    return out


class RoutingRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: list[RoutingRule] = Field(default_factory=lambda: list(DEFAULT_RULES))

    def route(
        self, alert: Alert, now: datetime, oncall: Iterable[Recipient], unit: Unit | None
    ) -> tuple[list[Recipient], list[str]]:
        """The recipients of `alert` (sorted, each once) and the names of the rules that chose them."""
        found: set[Recipient] = set()
        names: list[str] = []
        for rule in self.rules:
            if not rule.matches(alert, now):
                continue
            names.append(rule.name)
            if rule.oncall:
                found.update(oncall)
            if rule.unit_contact:
                found.update(unit_recipients(unit))
            found.update(Recipient.parse(text) for text in rule.to)
        return sorted(found), names

    @classmethod
    def load(cls, path: Path | None) -> RoutingRules:
        """The rules in `path` (YAML), or the default when unset; a bad file is a `ConfigError`."""
        if path is None:
            return cls()
        try:
            return cls.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
        except (OSError, yaml.YAMLError, ValidationError) as exc:
            raise ConfigError(f"routing rules not loaded: {exc}", path=str(path)) from exc
