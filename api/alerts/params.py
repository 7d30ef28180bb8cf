"""Turn a query string (the API's or the console filter form's) into `AlertSearchParams`.

Forms send empty fields and plain dates; a date is a whole day in Asia/Ho_Chi_Minh, the console's
time zone, so "01/07/2025" means 01/07/2025 00:00 to 02/07/2025 00:00 local time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from api.alerts.models import AlertSearchParams
from api.times import check_day
from soc_core.kql import QueryLimits
from soc_core.sla import SlaPolicy

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
LIST_FIELDS = ("severity", "status")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _day(value: str, *, end: bool) -> str:
    """A local day's start (or for `end`, the next day's); RequestValidationError (a 422) when the
    form sends no such day (`2026-13-45`) or one outside `api.times`' range."""
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=VN_TZ)
        check_day(day)
    except ValueError as exc:
        key = "end" if end else "start"
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("query", key), "msg": str(exc), "input": value}]
        ) from exc
    return (day + timedelta(days=1) if end else day).isoformat()


def parse_search(
    query: Any, limits: QueryLimits | None = None, sla: SlaPolicy | None = None
) -> AlertSearchParams:
    """`query` is a Starlette QueryParams/FormData (multi-valued) or a plain mapping; `limits` bound
    the KQL in `q` (`Settings.query_limits`; None: the defaults); `sla` is what `sla=breached` reads
    (`api.alerts.sla.policy_of`; None: the default SLAs)."""
    data: dict[str, Any] = {}
    getlist = getattr(query, "getlist", None)
    keys = list(dict.fromkeys(query.keys())) if isinstance(query, Mapping) or getlist else []
    for key in keys:
        if key in LIST_FIELDS:
            values = getlist(key) if getlist else [query[key]]
            flat = [v for value in values for v in str(value).split(",") if v.strip()]
            if flat:
                data[key] = flat
            continue
        value = str(query[key]).strip()
        if not value:
            continue
        if key in ("start", "end") and _DATE.match(value):
            value = _day(value, end=key == "end")
        data[key] = value
    try:
        return AlertSearchParams.model_validate(data, context={"query_limits": limits, "sla_policy": sla})
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False)
        raise RequestValidationError([{**e, "loc": ("query", *e["loc"])} for e in errors]) from exc
