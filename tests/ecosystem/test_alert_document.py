"""Alerts as ECS documents (issue 18): the shape written to Elasticsearch, and back to the same model.

Offline: the conversion at the adapter boundary (stores/elastic/alert_document.py). The real
Elasticsearch tests are in test_alert_index.py."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from soc_core.alert import Alert, RuleRef, Severity, Threat, alert_id
from soc_core.event import Soc, SocSource, SocUnit
from stores.elastic.alert_document import (
    ALERT_RENAMED,
    BOOKKEEPING,
    OLD_NAMES,
    from_document,
    legacy_document,
    to_document,
)
from stores.elastic.kql import SEARCH_FIELD

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
SOC = Soc(unit=SocUnit(id="so-tc", name="Sở Tài chính"), source=SocSource(id="src-1", format="winlogbeat"))


def source_event(**over: Any) -> dict[str, Any]:
    """A Windows event as the normalizers write it (a group change: it has ECS `group.*`)."""
    doc: dict[str, Any] = {
        "@timestamp": "2026-03-01T08:00:00Z",
        "event": {"id": "ev-1", "kind": "event", "code": "4732", "severity": 0, "module": "windows"},
        "host": {"name": "ws01", "hostname": "ws01"},
        "user": {"name": "admin", "domain": "CORP"},
        "group": {"name": "Administrators", "id": "S-1-5-32-544"},
        "source": {"ip": "10.0.0.5"},
        "rule": {"name": "fw-allow-rdp"},
        "soc": SOC.to_doc(),
        "message": "A member was added to a security-enabled local group.",
    }
    doc.update(over)
    return doc


def make_alert(event: dict[str, Any], **over: Any) -> Alert:
    fields: dict[str, Any] = {
        "id": alert_id("r-admin-add", "ev-1"),
        "@timestamp": T0,
        "severity": Severity.HIGH,
        "rule": RuleRef(id="r-admin-add", name="User added to Administrators", tags=["attack.t1098"]),
        "threat": [Threat(tactic={"id": "TA0003", "name": "Persistence"}, technique={"id": "T1098"})],
        "checklist": ["VN-04"],
        "soc": SOC,
        "host_name": "ws01",
        "user_name": "admin",
        "event_ids": ["ev-1"],
        "event": event,
        "matched": ["selection"],
    }
    fields.update(over)
    return Alert.model_validate(fields)


def test_an_alert_is_an_ecs_document() -> None:
    alert = make_alert(source_event())
    doc = to_document(alert)
    assert doc["event"]["kind"] == "alert"
    assert doc["event"]["severity"] == 73
    assert (doc["host"]["name"], doc["user"]["name"], doc["source"]["ip"]) == ("ws01", "admin", "10.0.0.5")
    assert doc["group"] == {"name": "Administrators", "id": "S-1-5-32-544"}  # the event's, ECS
    assert doc["rule"]["id"] == "r-admin-add" and doc["rule"]["name"] == "User added to Administrators"
    assert doc["threat"] == [
        {
            "framework": "MITRE ATT&CK",
            "tactic": {"id": "TA0003", "name": "Persistence"},
            "technique": {"id": "T1098"},
        }
    ]
    assert doc["@timestamp"] == "2026-03-01T08:00:00Z"
    assert doc["soc"]["alert"]["group"] == alert.group
    assert {"kind", "host_name", "user_name"}.isdisjoint(doc)  # the old names are aliases now
    assert doc[SEARCH_FIELD]
    # what the alert wrote over keeps the event's value, for reading back
    assert doc["soc"]["alert"]["restore"] == {
        "replaced": {"event.kind": "event", "event.severity": 0, "rule": {"name": "fw-allow-rdp"}}
    }


def test_reading_gives_the_same_alert_back() -> None:
    alert = make_alert(source_event())
    assert from_document(to_document(alert)) == alert


@pytest.mark.parametrize(
    ("event", "over"),
    [
        pytest.param({}, {}, id="empty-event"),
        pytest.param({"message": "x"}, {"user_name": None}, id="no-host-no-user-in-event"),
        pytest.param(source_event(host="ws01"), {}, id="host-not-an-object"),
        pytest.param(source_event(host={"name": "WS01"}), {}, id="other-host-name"),
        pytest.param(source_event(), {"host_name": None, "user_name": None}, id="alert-without-host"),
        pytest.param(source_event(host={}), {}, id="empty-host"),
        pytest.param(
            source_event(id="x", kind="k", host_name="h", severity="s", triage=1), {}, id="old-names"
        ),
        pytest.param(source_event(soc={"unit": {"id": "other"}}), {}, id="other-soc"),
        pytest.param(source_event(event="flat"), {}, id="event-not-an-object"),
        pytest.param(source_event(**{"@timestamp": "2026-03-01T07:59:59.5+00:00"}), {}, id="other-time"),
    ],
)
def test_every_event_comes_back_as_it_was(event: dict[str, Any], over: dict[str, Any]) -> None:
    alert = make_alert(copy.deepcopy(event), **over)
    doc = to_document(alert)
    assert {"kind", "host_name", "user_name"}.isdisjoint(doc)
    assert doc["event"]["kind"] == "alert"
    back = from_document(copy.deepcopy(doc))
    assert back == alert
    assert back.event == event


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
_keys = st.sampled_from(
    ["@timestamp", "event", "host", "user", "rule", "threat", "soc", "group", *BOOKKEEPING, *OLD_NAMES]
)


@settings(max_examples=300, deadline=None)
@given(
    event=st.dictionaries(_keys | st.text(max_size=4), _json, max_size=6),
    host=st.none() | st.text(min_size=1, max_size=4),
    user=st.none() | st.text(min_size=1, max_size=4),
)
def test_any_event_round_trips(event: dict[str, Any], host: str | None, user: str | None) -> None:
    """Whatever the triggering event holds where the alert writes, the model comes back equal."""
    alert = make_alert(copy.deepcopy(event), host_name=host, user_name=user)
    back = from_document(to_document(alert))
    assert back == alert


def test_old_documents_are_read_in_their_shape() -> None:
    alert = make_alert(source_event())
    old = legacy_document(alert)
    assert old["kind"] == "alert" and old["host_name"] == "ws01" and "host" not in old
    assert from_document(old) == alert


def test_group_queries_go_to_the_new_place() -> None:
    assert ALERT_RENAMED == {"group": "soc.alert.group"}
