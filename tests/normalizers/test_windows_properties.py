"""Whatever arrives as a Windows record, the stage answers with an Event or a DeadLetter, never raises.

Three kinds of input per Windows format (and with no format, where content sniffing decides):
arbitrary text, arbitrary bytes as a receiver would decode them, and real records with any one
value replaced by arbitrary JSON (the realistic failure: a shipper or a proxy mangling one field).
For our own formats a dead letter must carry our clear reason, not the stage's "parser error"
wrapper that would mean an unexpected exception in our code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from normalizers.stage import NormalizeStage
from soc_core.event import Event
from soc_core.records import DeadLetter, RawRecord
from tests.normalizers.canonical import assert_canonical

HERE = Path(__file__).parent
FORMATS = ("winlogbeat", "evtx_json", "nxlog_windows")
STAGE = NormalizeStage()
EXAMPLES = int(os.environ.get("SOC_HYPOTHESIS_EXAMPLES", "300"))  # raise it for a deeper run
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _records() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for fmt in FORMATS:
        for raw in sorted((HERE / fmt).glob("*.raw")):
            out.append((fmt, orjson.loads(raw.read_bytes())))
    return out


RECORDS = _records()
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


def _run(payload: str, fmt: str | None) -> Event | DeadLetter:
    result = STAGE(RawRecord(id="prop", source_id="prop", format=fmt, payload=payload))
    assert isinstance(result, Event | DeadLetter)
    if fmt is not None and isinstance(result, DeadLetter):
        assert not result.reason.startswith("parser error"), result.reason
    if isinstance(result, Event):
        assert_canonical(result)
    return result


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out.extend(_paths(value, (*prefix, index)))
    return out


def _replace(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = dict(node) if isinstance(node, dict) else list(node)
    copy[path[0]] = _replace(node[path[0]], path[1:], value)
    return copy


@SETTINGS
@given(fmt=st.sampled_from((*FORMATS, None)), payload=st.text(max_size=300))
def test_any_text(fmt: str | None, payload: str) -> None:
    _run(payload, fmt)


@SETTINGS
@given(fmt=st.sampled_from((*FORMATS, None)), payload=st.binary(max_size=300))
def test_any_bytes(fmt: str | None, payload: bytes) -> None:
    _run(payload.decode("utf-8", errors="replace"), fmt)
    _run(payload.decode("latin-1"), fmt)


@SETTINGS
@given(fmt=st.sampled_from(FORMATS), value=JSON)
def test_any_json_document(fmt: str, value: Any) -> None:
    _run(orjson.dumps(value).decode(), fmt)


@SETTINGS
@given(data=st.data(), value=JSON)
def test_real_records_with_one_value_replaced(data: st.DataObject, value: Any) -> None:
    fmt, record = data.draw(st.sampled_from(RECORDS))
    path = data.draw(st.sampled_from(_paths(record)))
    mangled = _replace(record, path, value)
    _run(orjson.dumps(mangled).decode(), fmt)
    _run(orjson.dumps(mangled).decode(), None)


@SETTINGS
@given(data=st.data())
def test_real_records_cut_anywhere(data: st.DataObject) -> None:
    fmt, record = data.draw(st.sampled_from(RECORDS))
    text = orjson.dumps(record).decode()
    cut = data.draw(st.integers(min_value=0, max_value=len(text)))
    result = _run(text[:cut], fmt)
    if cut < len(text):
        assert isinstance(result, DeadLetter)
