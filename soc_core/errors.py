"""One exception root for the product, with stage subclasses that carry context.

    SocError
    ├── ConfigError            bad settings or registry content
    ├── IngestError            a receiver refused input (carries source id and reason)
    │   ├── AuthError          missing or unknown token / certificate
    │   └── PayloadTooLarge    a record or body over the configured limit
    ├── NormalizeError         a raw record could not be mapped to ECS (becomes a dead letter)
    ├── RecordRefused          a stage refused one record before parsing it (too large, too deep)
    ├── DetectionError         a rule failed to parse or compile (becomes a quarantined rule)
    ├── BusError               Kafka (or the in-process bus) refused or failed
    │   └── BackPressure       downstream is unavailable; retry after `retry_after` seconds
    ├── StoreError             the store refused or failed a write or query
    ├── QueryError             a search query cannot be read or answered (carries its position)
    └── QueryTimeout           a search ran past its time limit (400: narrow the range or the query)

Per-record failures never propagate out of a stage: they become dead letters, counted.
"""

from __future__ import annotations

from typing import Any


class SocError(Exception):
    """Root of every error we raise; `context` says where it happened (source, topic, offset...)."""

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context = context

    def __str__(self) -> str:
        if not self.context:
            return self.message
        where = " ".join(f"{k}={v}" for k, v in self.context.items())
        return f"{self.message} ({where})"


class ConfigError(SocError):
    pass


class IngestError(SocError):
    reason = "bad_request"
    """The label a refusal is counted under (`soc_source_rejected_total`), and the problem's `reason`."""


class AuthError(IngestError):
    reason = "unauthorized"


class PayloadTooLarge(IngestError):
    reason = "too_large"


class NormalizeError(SocError):
    pass


class RecordRefused(SocError):
    """One record a stage will not parse (over a size or nesting limit); becomes a dead letter."""


class DetectionError(SocError):
    pass


class BusError(SocError):
    pass


class BackPressure(BusError):
    """Downstream cannot take data now; callers answer 503 / stop reading, and retry later."""

    def __init__(self, message: str, retry_after: float = 5.0, **context: Any) -> None:
        super().__init__(message, **context)
        self.retry_after = retry_after


class StoreError(SocError):
    pass


class QueryError(SocError):
    """A search query the analyst typed cannot be read or answered: where, and what was expected.

    `offset` counts characters from 0; `line` and `column` count from 1, as an editor shows them."""

    def __init__(
        self,
        message: str,
        *,
        query: str,
        offset: int,
        expected: tuple[str, ...] = (),
        **context: Any,
    ) -> None:
        line = query.count("\n", 0, offset) + 1
        column = offset - (query.rfind("\n", 0, offset) + 1) + 1
        super().__init__(message, line=line, column=column, **context)
        self.query = query
        self.offset = offset
        self.line = line
        self.column = column
        self.expected = expected

    def explain(self) -> str:
        """For the analyst who typed it: `line 1, column 20: the query ends too early: expected ...`."""
        return f"line {self.line}, column {self.column}: {self.message}"


class QueryTimeout(SocError):
    """A search ran past the store's time limit (`SOC_QUERY_TIMEOUT_S`) and was stopped: the
    analyst's to narrow (400), rather than a request that holds the store for minutes."""
