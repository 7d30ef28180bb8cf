"""Routing rules: which alerts go to whom.

A rule selects alerts by severity, rule id, checklist code, unit, system and age (an alert whose
event is older than `max_age_s` is history being replayed or back-filled, not news), and names
who hears of them: the SOC on-call, the owner unit's security contact (from the registry:
`Unit.security_email`, `Unit.security_telegram`), and any extra recipients. Every rule that
matches adds its recipients. The same text names the on-call list and the escalation chain
(top-level `oncall:` and `escalation:`), so who is on duty is edited, versioned and audited with
the rules; a text without them leaves the settings' lists (`SOC_NOTIFY_ONCALL`,
`SOC_NOTIFY_ESCALATION`) in force. An admin edits the text in the console (`notify.config`); the
seed is `SOC_NOTIFY_RULES_FILE`.

    oncall: ["telegram:-1001234567"]
    escalation: ["email:truong-ca@soc.gov.vn", "email:lanh-dao@soc.gov.vn"]
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

from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from soc_core.alert import Alert, Severity
from soc_core.errors import ConfigError
from soc_core.notify import Recipient
from soc_core.registry import Unit


def _recipient(text: str) -> str:
    """A recipient (`email:...`, `telegram:...`, `webhook:...`); said as a ValueError so pydantic
    names where it stands (the rule and field, or the list and entry)."""
    try:
        Recipient.parse(text)
    except ConfigError as exc:
        raise ValueError(str(exc)) from exc
    return text


def _recipients(value: list[str]) -> list[str]:
    for text in value:
        _recipient(text)
    return value


RecipientText = Annotated[str, AfterValidator(_recipient)]


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

    _to = field_validator("to")(_recipients)

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


def contacts(stated: list[str] | None, default: Sequence[Recipient]) -> list[Recipient]:
    """The recipients a routing text names, or `default` (the settings' list) when it names none."""
    if stated is None:
        return list(default)
    return [Recipient.parse(text) for text in stated]


class RoutingRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    oncall: list[RecipientText] | None = Field(
        default=None, description="the SOC on-call; unset: SOC_NOTIFY_ONCALL; []: nobody"
    )
    escalation: list[RecipientText] | None = Field(
        default=None,
        description="who an unacknowledged high/critical alert goes to next, in order, one step per SLA; "
        "unset: SOC_NOTIFY_ESCALATION; []: no escalation",
    )
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
