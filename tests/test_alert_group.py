"""`alert_group`'s time text: the orjson path for UTC times gives what `isoformat` does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from soc_core.alert import alert_group


def reference(timestamp: datetime, event_ids: list[str]) -> str:
    """The group key as written before the orjson path (isoformat, strftime before year 1000)."""
    digest = alert_group(timestamp, event_ids).rsplit("/", 1)[1]
    at = timestamp.replace(tzinfo=UTC) if timestamp.tzinfo is None else timestamp.astimezone(UTC)
    if at.year >= 1000:
        return f"{at.replace(tzinfo=None).isoformat(timespec='microseconds')}Z/{digest}"
    return f"{at:%Y-%m-%dT%H:%M:%S.%fZ}/{digest}"


ZONES = st.sampled_from([UTC, None, timezone(timedelta(hours=7)), timezone(timedelta(hours=-3, minutes=-30))])


@given(
    moment=st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    zone=ZONES,
    whole_second=st.booleans(),
)
def test_group_time_text_is_the_isoformat_one(
    moment: datetime, zone: timezone | None, whole_second: bool
) -> None:
    if whole_second:
        moment = moment.replace(microsecond=0)  # orjson omits zero microseconds; the key does not
    timestamp = moment.replace(tzinfo=zone)
    assert alert_group(timestamp, ["ev-1"]) == reference(timestamp, ["ev-1"])


def test_group_key_of_a_utc_time() -> None:
    at = datetime(2019, 4, 27, 15, 57, 53, tzinfo=UTC)
    assert alert_group(at, ["b", "a", "b"]).startswith("2019-04-27T15:57:53.000000Z/")
    assert alert_group(at, ["a", "b"]) == alert_group(at, ["b", "a"])
