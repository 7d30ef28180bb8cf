"""One Windows event, four shapes, one ECS document.

For every real event of the `evtx_json` golden cases, the shapes are:
1. the evtx-JSON record (`evtx_json/<case>.raw`: SigmaHQ's `.json`, or a record our reader took
   out of an attack-sample `.evtx`);
2. the same record read from its `.evtx` file by `normalizers.evtx_file` (for SigmaHQ samples this
   is their `.evtx` twin, written by a different tool than the `.json`);
3. what Winlogbeat 8.x would send, 4. what NXLog `im_msvistalog` would send (`windows/shapes.py`
   documents both conversions; NXLog has no shape for unnamed `<Data>`, so those events have 3).

Each goes through its normalizer and through `NormalizeStage`. The normalizer outputs must be
identical; the stage outputs identical apart from `event.original` (the raw text differs by
definition) and `soc.source.format` (which parser read it). Winlogbeat and NXLog drop empty
EventData values before sending, which the evtx shapes keep (`field: ''` is not `field: null`), so
they are compared with the reference's empty values removed. One exception in the data, not in the
parsers: the tool SigmaHQ used for its `.json` files trims spaces around values (`"cmd.exe" `
becomes `"cmd.exe"`) while the `.evtx` twin keeps them, so for those cases shape 1 and shape 2 are
compared with values stripped; every other pair is compared exactly.
"""

from __future__ import annotations

import importlib.util
import os
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest

from normalizers import registry
from normalizers.base import VIETNAM, ParseContext
from normalizers.evtx_file import ReadStats, iter_records
from normalizers.stage import NormalizeStage
from soc_core.event import Event
from soc_core.records import RawRecord

HERE = Path(__file__).parent
DATA = Path(os.environ.get("SOC_TEST_DATA", "/work/shared/data"))
RECEIVED_AT = datetime(2026, 1, 1, 0, 10, tzinfo=VIETNAM)
CTX = ParseContext(received_at=RECEIVED_AT, source_id="equivalence")


def _load(name: str) -> ModuleType:
    """The helper modules under `windows/` (not a package: tests/normalizers is shared)."""
    spec = importlib.util.spec_from_file_location(f"windows_test_{name}", HERE / "windows" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


shapes = _load("shapes")
MANIFEST: dict[str, Any] = orjson.loads((HERE / "windows" / "cases.json").read_bytes())
REAL_CASES = sorted(name for name, entry in MANIFEST["evtx_json"].items() if "evtx" in entry)


def _raw(fmt: str, case: str) -> str:
    return (HERE / fmt / f"{case}.raw").read_text(encoding="utf-8").removesuffix("\n")


def _from_evtx_file(entry: dict[str, Any]) -> str:
    path = DATA / entry["evtx"]
    if not path.exists():
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(f"sample data missing in CI: {path}")
        pytest.skip(f"sample data not available: {path}")
    stats = ReadStats()
    for payload in iter_records(path, stats):
        if orjson.loads(payload)["Event"]["System"]["EventRecordID"] == entry["record_id"]:
            return payload
    raise AssertionError(f"record {entry['record_id']} not in {path} (read errors: {stats.errors})")


def _shapes(case: str, *, message: bool = False) -> dict[str, tuple[str, str]]:
    """shape name -> (registry format, raw payload)."""
    raw = _raw("evtx_json", case)
    record = orjson.loads(raw)
    out = {
        "evtx_json": ("evtx_json", raw),
        "evtx_file": ("evtx_json", _from_evtx_file(MANIFEST["evtx_json"][case])),
        "winlogbeat": ("winlogbeat", orjson.dumps(shapes.to_winlogbeat(record, message=message)).decode()),
    }
    try:
        out["nxlog"] = ("nxlog_windows", orjson.dumps(shapes.to_nxlog(record, message=message)).decode())
    except ValueError:
        assert any(key.startswith("param") for key in orjson.loads(raw)["Event"].get("EventData") or {}) or (
            "Data" in (orjson.loads(raw)["Event"].get("EventData") or {})
        )
    return out


def _stage_doc(fmt: str, payload: str, case: str) -> dict[str, Any]:
    record = RawRecord(
        id=f"case-{case}", source_id="equivalence", format=fmt, received_at=RECEIVED_AT, payload=payload
    )
    result = NormalizeStage()(record)
    assert isinstance(result, Event), f"{fmt} dead letter: {result.reason}"
    doc = result.to_doc()
    for key in ("original", "ingested", "created"):
        doc["event"].pop(key, None)
    doc["soc"]["source"].pop("format")
    return doc


def _diff(left: dict[str, Any], right: dict[str, Any], path: str = "") -> list[str]:
    """Readable differences, for assertion messages."""
    out: list[str] = []
    for key in sorted(set(left) | set(right)):
        a, b = left.get(key), right.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out.extend(_diff(a, b, f"{path}{key}."))
        elif a != b:
            out.append(f"{path}{key}: {a!r} != {b!r}")
    return out


def _stripped(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _stripped(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_stripped(item) for item in value]
    return value.strip() if isinstance(value, str) else value


def _without_empty_data(doc: dict[str, Any], *, user_data_xml: bool) -> dict[str, Any]:
    """The document as a shipper that drops empty EventData values before sending gives it.

    NXLog forwards UserData as its XML text (`user_data_xml`), so its empty values survive.
    """
    winlog = doc.get("winlog")
    if not isinstance(winlog, dict):
        return doc
    winlog = dict(winlog)
    user = winlog.get("user_data")
    user = user if isinstance(user, dict) else {}
    for part in ("event_data", "user_data"):
        data = winlog.get(part)
        if not isinstance(data, dict) or (part == "user_data" and user_data_xml):
            continue
        kept: dict[str, Any] = {}
        for key, value in data.items():
            if user_data_xml and key in user:
                kept[key] = value
                continue
            if isinstance(value, list):
                value = [item for item in value if item != ""]
            if value not in ("", []):
                kept[key] = value
        winlog[part] = kept
    return {**doc, "winlog": winlog}


def _same(case: str, name: str, doc: dict[str, Any], reference: dict[str, Any]) -> tuple[Any, Any]:
    """The pair to compare: exact, except SigmaHQ's trimmed `.json` against its `.evtx`, and
    Winlogbeat/NXLog (which drop empty EventData values) against the reference without them."""
    if name == "evtx_file" and "json" in MANIFEST["evtx_json"][case]:
        return _stripped(doc), _stripped(reference)
    if name in ("winlogbeat", "nxlog"):
        return doc, _without_empty_data(reference, user_data_xml=name == "nxlog")
    return doc, reference


def test_the_equivalence_cases_cover_every_channel_kind() -> None:
    channels = {
        orjson.loads(_raw("evtx_json", case))["Event"]["System"].get("Channel") for case in REAL_CASES
    }
    expected = {
        "Security",
        "System",
        "Microsoft-Windows-Sysmon/Operational",
        "Microsoft-Windows-PowerShell/Operational",
        "Windows PowerShell",
        "Microsoft-Windows-Windows Defender/Operational",
    }
    assert expected <= channels


@pytest.mark.parametrize("case", REAL_CASES)
def test_four_shapes_give_the_same_ecs(case: str) -> None:
    variants = _shapes(case)
    parsed = {name: registry.get(fmt).parse(payload, CTX) for name, (fmt, payload) in variants.items()}
    for name, doc in parsed.items():
        left, right = _same(case, name, doc, parsed["evtx_json"])
        assert left == right, f"{name} differs from evtx_json: {_diff(left, right)}"
    staged = {name: _stage_doc(fmt, payload, case) for name, (fmt, payload) in variants.items()}
    for name, doc in staged.items():
        left, right = _same(case, name, doc, staged["evtx_json"])
        assert left == right, f"{name} differs after the stage: {_diff(left, right)}"


@pytest.mark.parametrize("case", [case for case in REAL_CASES if case.startswith("sysmon_")])
def test_a_rendered_message_is_the_only_addition(case: str) -> None:
    """Shippers that render add `message` (evtx files carry none); nothing else may change."""
    plain = _shapes(case)
    rendered = _shapes(case, message=True)
    for name in ("winlogbeat", "nxlog"):
        fmt, payload = rendered[name]
        doc = registry.get(fmt).parse(payload, CTX)
        message = doc.pop("message")
        assert message.startswith(doc["winlog"]["task"].split(" (rule:")[0] + ":\n")
        assert doc == registry.get(plain[name][0]).parse(plain[name][1], CTX)


def test_data_entries_layout_equals_named_keys() -> None:
    """`Data` entries named by `#attributes.Name` (xmltodict-style tools) read like evtx's keys."""
    entry = MANIFEST["evtx_json"]["security_4624_data_entries"]
    parser = registry.get("evtx_json")
    converted = parser.parse(_raw("evtx_json", "security_4624_data_entries"), CTX)
    assert converted == parser.parse(_raw("evtx_json", entry["converted_from"]), CTX)


def test_nxlog_ce_and_winlogbeat_7_variants() -> None:
    """NXLog CE (local time to the second, signed keywords, CE names) and a numeric event_id."""
    base = registry.get("evtx_json").parse(_raw("evtx_json", "security_4624_remote_interactive"), CTX)
    ce = registry.get("nxlog_windows").parse(_raw("nxlog_windows", "security_4624_nxlog_ce"), CTX)
    assert ce["@timestamp"] == base["@timestamp"].replace(microsecond=0)
    assert {**ce, "@timestamp": None} == {**base, "@timestamp": None}
    number = registry.get("winlogbeat").parse(_raw("winlogbeat", "security_4625_event_id_number"), CTX)
    assert number == registry.get("evtx_json").parse(_raw("evtx_json", "security_4625_logon_failed"), CTX)
