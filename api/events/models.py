"""The explorer's JSON answers beside the event list (`api.paging.ItemPage`): histogram and fields."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from api.events.service import FieldSummary, Histogram


class BucketRead(BaseModel):
    start: datetime = Field(description="the bucket covers [start, start + interval_s)")
    count: int


class HistogramRead(BaseModel):
    """Matches over time; every bucket of the range is listed, empty ones with count 0."""

    start: datetime
    end: datetime
    interval_s: int
    total: int = Field(description="every match in [start, end): the sum of the buckets, exact")
    buckets: list[BucketRead]

    @classmethod
    def of(cls, h: Histogram) -> HistogramRead:
        return cls(
            start=h.start,
            end=h.end,
            interval_s=h.interval_s,
            total=h.total,
            buckets=[BucketRead(start=b.start, count=b.count) for b in h.buckets],
        )


class ValueRead(BaseModel):
    value: str
    count: int = Field(description="events of the sample holding this value")


class FieldRead(BaseModel):
    field: str
    present: int = Field(description="events of the sample that have this field")
    searchable: bool = Field(description="a query may name it (`field:value`)")
    top: list[ValueRead]


class FieldsRead(BaseModel):
    """Top values per field, counted in the newest `sample` matches (not all of them)."""

    sample: int
    fields: list[FieldRead]

    @classmethod
    def of(cls, s: FieldSummary) -> FieldsRead:
        return cls(
            sample=s.sample,
            fields=[
                FieldRead(
                    field=f.name,
                    present=f.present,
                    searchable=f.searchable,
                    top=[ValueRead(value=v, count=n) for v, n in f.top],
                )
                for f in s.fields
            ],
        )
