"""Exception API schemas: create (directly or from a false-positive alert), the draft, reads, revoke."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from api.paging import DEFAULT_SIZE, MAX_SIZE, QueryParams
from api.times import check_time
from soc_core.exceptions import AnalystException, ExceptionState, FieldName

MAX_FIELDS = 20
"""Fields in one exception's scope: an exception is a narrow statement about one kind of event."""
MAX_VALUES = 50
"""Accepted values of one field."""

Value = str | int | float | bool
Text = Annotated[str, Field(min_length=1, max_length=1000)]
OneValue = Annotated[Value, Field(union_mode="left_to_right")]
Values = Annotated[list[OneValue], Field(min_length=1, max_length=MAX_VALUES)] | OneValue
Id = Annotated[str, Field(min_length=1, max_length=200)]
Reason = Annotated[str, Field(min_length=3, max_length=2000)]
Owner = Annotated[str, Field(min_length=1, max_length=64)]


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _check_values(fields: dict[str, Any]) -> None:
    for name, value in fields.items():
        for one in as_list(value):
            if isinstance(one, str) and not 1 <= len(one) <= 1000:
                raise ValueError(f"{name}: each value must have 1 to 1000 characters")


class ExceptionCreate(BaseModel):
    """An exception written by hand: the rule, the field values, optionally the context."""

    model_config = ConfigDict(extra="forbid")
    rule_id: Id
    fields: dict[FieldName, Values] = Field(
        default_factory=dict, max_length=MAX_FIELDS, description="event field -> value or values (any of)"
    )
    unit_id: Id | None = None
    system_id: Id | None = None
    host_name: Id | None = None
    reason: Reason
    owner: Owner | None = Field(default=None, description="who answers for it; default: its author")
    expires_at: Annotated[AwareDatetime, AfterValidator(check_time)]

    @model_validator(mode="after")
    def _scoped(self) -> ExceptionCreate:
        _check_values(self.fields)
        if not (self.fields or self.unit_id or self.system_id or self.host_name):
            raise ValueError("an exception needs at least one field value or a unit, system or host")
        return self


class ExceptionFromAlert(BaseModel):
    """An exception from a false-positive alert: which of its event's fields, edited values, context."""

    model_config = ConfigDict(extra="forbid")
    alert_id: Id
    fields: list[FieldName] = Field(
        default_factory=list, max_length=MAX_FIELDS, description="the event fields whose values it accepts"
    )
    values: dict[FieldName, Values] = Field(
        default_factory=dict,
        max_length=MAX_FIELDS,
        description="edited values (field -> value or values); fields named here join `fields`",
    )
    unit: bool = Field(default=False, description="only in the alert's unit")
    system: bool = Field(default=False, description="only in the alert's system")
    host: bool = Field(default=False, description="only on the alert's host")
    reason: Reason
    owner: Owner | None = None
    expires_at: Annotated[AwareDatetime, AfterValidator(check_time)]

    @model_validator(mode="after")
    def _scoped(self) -> ExceptionFromAlert:
        _check_values(self.values)
        if not (self.fields or self.values or self.unit or self.system or self.host):
            raise ValueError("an exception needs at least one field or a unit, system or host")
        return self


class DraftField(BaseModel):
    name: str
    value: Value
    suggested: bool = Field(description="the rule's condition reads this field")


class ExceptionDraft(BaseModel):
    """What an exception from this alert would start from: the event's fields and its context."""

    alert_id: str
    rule_id: str
    rule_title: str
    fields: list[DraftField]
    unit_id: str | None
    system_id: str | None
    host_name: str | None


class ExceptionRead(AnalystException):
    status: ExceptionState = Field(description="active, expired or revoked, now")
    expiring_soon: bool = Field(description="active, and expires within the configured days")


class ExceptionListParams(QueryParams):
    model_config = ConfigDict(extra="ignore")
    status: ExceptionState | None = None
    rule: Id | None = None
    expiring_within_days: int | None = Field(
        default=None, ge=0, le=3650, description="active ones that expire within these days"
    )
    size: int = Field(default=DEFAULT_SIZE, ge=1, le=MAX_SIZE)
    cursor: str | None = Field(default=None, max_length=1024)


class Revoke(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, Field(max_length=2000)] | None = None
