"""Rule API schemas: the list and its filters, the detail view, state changes, the rule test."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.paging import DEFAULT_SIZE, MAX_SIZE, QueryParams
from soc_core.alert import Threat


class Activation(StrEnum):
    """Whether a rule runs: `dormant` rules are loaded but no telemetry reaches their logsource."""

    ENABLED = "enabled"
    DISABLED = "disabled"
    DORMANT = "dormant"
    QUARANTINED = "quarantined"


Level = Literal["informational", "low", "medium", "high", "critical"]
Kind = Literal["detection", "correlation"]
Sort = Literal["title", "level", "alerts"]


class RuleListParams(QueryParams):
    """Filters of `GET /api/v1/rules`; empty strings mean "no filter" (the console's form sends them)."""

    model_config = ConfigDict(extra="ignore")

    q: str | None = Field(default=None, max_length=200, description="in id, title, author, tags, description")
    kind: Kind | None = Field(default=None, description="single-event detection rules or correlation rules")
    level: Level | None = None
    state: Activation | None = None
    checklist: str | None = Field(default=None, max_length=10, description="VN-01 .. VN-12")
    ruleset: str | None = Field(default=None, max_length=100)
    sort: Sort = "title"
    size: int = Field(default=DEFAULT_SIZE, ge=1, le=MAX_SIZE)
    cursor: str | None = Field(
        default=None, max_length=1024, description="`next_cursor` of the previous page"
    )


class StateChangeRead(BaseModel):
    """The last enable/disable of a rule (from the shared rule state)."""

    enabled: bool
    changed_at: datetime
    changed_by: str
    reason: str | None = None


class RuleRef(BaseModel):
    """A rule a correlation reads (or a correlation that reads a rule)."""

    ref: str = Field(description="as the correlation names it: an id or a Sigma `name`")
    id: str
    title: str
    kind: Kind


class CorrelationRead(BaseModel):
    """A correlation rule's definition (Sigma `correlation:` section), references resolved."""

    type: str = Field(description="event_count, value_count, temporal, temporal_ordered, value_sum, ...")
    rules: list[RuleRef] = Field(description="the rules whose hits it counts, in order")
    group_by: list[str] = Field(default_factory=list)
    timespan_s: int
    condition: dict[str, int] = Field(
        default_factory=dict, description="operator (gt, gte, lt, lte, eq, neq) -> threshold"
    )
    field: str | None = Field(default=None, description="the condition's field (value_count, value_*)")
    percentile: int | None = None
    expression: str | None = Field(default=None, description="a temporal boolean condition, as written")
    generate: bool = Field(description="false: the rules it reads raise no alerts of their own")


class CorrelationEngineRead(BaseModel):
    """This process's correlation engine for one correlation (the embedded runner; summed over
    partitions). `groups` and `buffered` are held now; the others count since the process started."""

    groups: int
    buffered: int
    hits: int
    fired: int
    alerts: int
    repeats: int
    late: int
    overflow: int
    skipped_disabled: int


class RuleSummary(BaseModel):
    id: str
    title: str
    kind: Kind = "detection"
    state: Activation
    level: str | None = None
    status: str | None = None
    author: str | None = None
    ruleset: str
    logsource: dict[str, str] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    attack: list[Threat] = Field(default_factory=list, description="ATT&CK tactics and techniques")
    checklist: list[str] = Field(default_factory=list, description="provincial checklist codes")
    alerts_24h: int = Field(0, description="alerts raised by the rule in the last 24 hours (store)")
    alerts_7d: int = Field(0, description="alerts raised by the rule in the last 7 days (store)")
    last_change: StateChangeRead | None = None
    correlation: CorrelationRead | None = Field(default=None, description="set on correlation rules")


class RuleTiming(BaseModel):
    """This process's engine counters since it started (the embedded runner: every event)."""

    evaluations: int
    matches: int
    errors: int
    seconds: float
    mean_microseconds: float | None = None
    last_error: str | None = None


class RuleDetail(RuleSummary):
    description: str | None = None
    references: list[str] = Field(default_factory=list)
    falsepositives: list[str] = Field(default_factory=list)
    path: str = Field(description="the rule's source YAML file")
    dormant_reason: str | None = None
    quarantine_reason: str | None = None
    engine: RuleTiming | None = None
    correlation_engine: CorrelationEngineRead | None = Field(
        default=None, description="a correlation's state here; null where no correlation engine runs"
    )
    used_by: list[RuleRef] = Field(default_factory=list, description="correlation rules reading this one")
    changes: list[StateChangeRead] = Field(
        default_factory=list, description="the rule's enables and disables from the audit log, newest first"
    )


class QuarantinedRead(BaseModel):
    path: str
    rule_id: str | None = None
    title: str | None = None
    reason: str


REASON_MAX = 500


class StateChange(BaseModel):
    """Body of `POST /api/v1/rules/{id}/enable|disable`: why, for the audit log and the rule's page.

    A reason is required (blank is refused): a rule switched off without one leaves the next analyst
    guessing whether it is safe to switch it back on."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(min_length=1, max_length=REASON_MAX, description="why (required, not blank)")


class HistogramBucketRead(BaseModel):
    start: datetime = Field(description="the bucket's start (UTC); a day starts at 00:00 Asia/Ho_Chi_Minh")
    count: int


class RuleHistogram(BaseModel):
    """A rule's alerts per day, oldest first, days without alerts included as zeros."""

    rule_id: str
    interval_s: int
    offset_s: int = Field(description="bucket starts are `k * interval_s + offset_s` (Unix time)")
    buckets: list[HistogramBucketRead]


class StateChangeResult(BaseModel):
    rule: RuleSummary
    changed: bool = Field(description="false when the rule already was in that state")


class RuleTestRequest(BaseModel):
    """One event: ECS JSON (nested or dotted keys) in `event`, or a raw record in `raw` (+ `format`)."""

    model_config = ConfigDict(extra="forbid")

    event: dict[str, Any] | None = None
    raw: str | None = Field(default=None, max_length=1024 * 1024)
    format: str | None = Field(
        default=None, max_length=64, description="log format of `raw`; sniffed if absent"
    )
    include_unmatched: bool = Field(False, description="also list dispatched rules with no selection matched")

    @model_validator(mode="after")
    def _one_input(self) -> RuleTestRequest:
        if (self.event is None) == (self.raw is None):
            raise ValueError("give exactly one of `event` (ECS JSON) or `raw` (a record, with `format`)")
        return self


class RuleTestHit(BaseModel):
    rule_id: str
    title: str
    level: str | None = None
    state: Activation
    matched: bool
    selections: dict[str, bool] = Field(description="each selection of the rule and whether it matched")
    error: str | None = None
    filtered_by: list[str] = Field(
        default_factory=list, description="filters and exceptions that drop this match: no alert"
    )


class RuleTestResult(BaseModel):
    format: str = Field(description="the normalizer the event went through")
    dispatched: int = Field(description="rules the event's logsource reaches")
    matched: list[RuleTestHit] = Field(description="rules that fire (disabled ones included, marked)")
    partial: list[RuleTestHit] = Field(description="rules with some selections matched but no alert")
    event: dict[str, Any] = Field(description="the flat ECS event the rules saw")
