"""Property tests: any text given to a text format gives an Event or a clear dead letter, never a crash.

The stage turns any exception into a dead letter, so "no exception" alone would prove nothing.
The property checked is stronger: a refusal must be the parser's own `NormalizeError` (or a field
the Event model rejects), never an unexpected exception, which the stage reports as
"parser error <Type>" and which would mean a parser bug. Inputs are arbitrary text and, to reach
the deep paths, golden samples cut, spliced and sprinkled with the characters the formats use as
syntax (quotes, `=`, `|`, backslashes, brackets, newlines).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from normalizers import registry
from normalizers.base import VIETNAM
from normalizers.stage import NormalizeStage
from soc_core.event import Event
from soc_core.records import DeadLetter, RawRecord
from tests.normalizers.canonical import assert_canonical
from tests.normalizers.test_golden import ROOT, read_raw

TEXT_FORMATS = (
    "linux_syslog", "auditd", "journald", "web_access", "web_json", "iis_w3c",
    "fortigate", "cisco_asa", "cef", "bind_query",
)  # fmt: skip
RECEIVED_AT = datetime(2026, 1, 1, 0, 10, tzinfo=VIETNAM)
SYNTAX = [
    *"\"'=|\\[](){}:;,#%@<>-+ \t\n\r\x1d\x00",
    *("\\=", "\\|", '\\"', "%ASA-6-302013: ", "CEF:0|", "msg=audit("),
]
STAGE = NormalizeStage()


def _samples(fmt: str) -> list[str]:
    return [read_raw(p) for p in sorted((ROOT / fmt).glob("*.raw"))]


def _check(fmt: str | None, payload: str) -> Event | DeadLetter:
    record = RawRecord(id="prop", source_id="prop", format=fmt, received_at=RECEIVED_AT, payload=payload)
    result = STAGE(record)
    assert isinstance(result, Event | DeadLetter)
    if isinstance(result, DeadLetter):
        assert not result.reason.startswith("parser error"), result.reason
        assert result.reason
    else:
        assert result.event.get("kind") == "event"
        assert_canonical(result)
        result.to_json()  # serialisable: no surrogates, no stray objects
    return result


@st.composite
def mutated(draw: st.DrawFn, fmt: str) -> str:
    """A golden sample of `fmt` with a few random cuts, insertions and duplications."""
    text = draw(st.sampled_from(_samples(fmt)))
    for _ in range(draw(st.integers(1, 4))):
        if not text:
            break
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 40)))
        op = draw(st.sampled_from(["cut", "insert", "syntax", "dup", "truncate"]))
        if op == "cut":
            text = text[:i] + text[j:]
        elif op == "insert":
            text = text[:i] + draw(st.text(max_size=12)) + text[i:]
        elif op == "syntax":
            text = text[:i] + draw(st.sampled_from(SYNTAX)) + text[j:]
        elif op == "dup":
            text = text[:j] + text[i:j] + text[j:]
        else:
            text = text[:i]
    return text


@pytest.mark.parametrize("fmt", TEXT_FORMATS)
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=st.text(max_size=300))
def test_arbitrary_text_never_crashes_a_parser(fmt: str, payload: str) -> None:
    _check(fmt, payload)


@pytest.mark.parametrize("fmt", TEXT_FORMATS)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_samples_never_crash_a_parser(fmt: str, data: st.DataObject) -> None:
    _check(fmt, data.draw(mutated(fmt)))


@pytest.mark.parametrize("fmt", TEXT_FORMATS)
@settings(max_examples=100, deadline=None)
@given(payload=st.text(max_size=300))
def test_sniff_is_total(fmt: str, payload: str) -> None:
    assert registry.get(fmt).sniff(payload) in (True, False)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_undeclared_format_sniffing_never_crashes(data: st.DataObject) -> None:
    """With no declared format the record goes through content detection first."""
    fmt = data.draw(st.sampled_from(TEXT_FORMATS))
    _check(None, data.draw(mutated(fmt)))


def test_samples_exist_for_every_text_format() -> None:
    missing = [fmt for fmt in TEXT_FORMATS if not list(Path(ROOT / fmt).glob("*.raw"))]
    assert not missing
