"""The same Windows event in the shapes other shippers send: conversions for tests and golden files.

We have real events in the evtx-JSON shape (SigmaHQ regression samples, `.evtx` attack samples)
but no Winlogbeat or NXLog captures of those same events. These functions produce what each
shipper would have sent for the event, following the shippers' documented and coded behaviour,
so that the four shapes of one event can be compared (`test_windows_equivalence.py`) and so that
the Winlogbeat/NXLog golden files start from real events. How each shipper renders an event:

Winlogbeat 8.x (`winlogbeat/sys/winevent` in elastic/beats):
  - `winlog.event_data`: one entry per EventData element, named by its `Name` attribute or, for
    unnamed `<Data>`, `paramN` (N = position among all elements); empty values dropped; first of
    duplicate names kept; CRLF -> LF and trailing newlines trimmed;
  - `winlog.user_data`: the same for UserData's one child element, plus `xml_name`;
  - `winlog.event_id` a string, `winlog.record_id` a number; zero values (version 0, pid 0) left
    out; `level` the rendered level lower-cased; `task`/`opcode`/`keywords` rendered names;
    `winlog.user.identifier` the System UserID (no name: the SID is not resolvable off-host);
  - `@timestamp` = TimeCreated with millisecond precision; `event.code`/`provider`/`kind`/
    `action` (= task name); `host.name`/`agent.*` describe the shipping host.

NXLog `im_msvistalog` + `to_json()` (EE / Agent field names, as OpenWEC's NXLog output too):
  - System fields under NXLog's names (`EventTime` local time with offset and microseconds,
    `Hostname`, `Keywords` as an unsigned decimal string, `EventType`, `SeverityValue`/`Severity`,
    `EventID`, `SourceName`, `ProviderGuid`, `Version`, `TaskValue`, `OpcodeValue`, `Opcode`,
    `Category`, `RecordNumber`, `ActivityID`, `ExecutionProcessID`, `ExecutionThreadID`,
    `Channel`, `UserID`), then every named EventData field at the top level (empty ones left out;
    an EventData name equal to an NXLog field overwrites it, as in NXLog), `UserData` as its XML
    text, then `EventReceivedTime`, `SourceModuleName`, `SourceModuleType`;
  - unnamed `<Data>` has no documented NXLog field name, so such events are not converted.
  - `nxlog_ce=True` gives NXLog CE's older spelling instead: `EventTime` local time without offset
    and whole seconds, signed integer `Keywords`, `Task`, `ProcessID`, `ThreadID`.

Rendering (task/opcode/level/keyword names, and with `message=True` a message) stands in for the
provider manifests Windows would use: standard names and the tables in `normalizers.windows_ecs`
(a Sysmon message is its task title and `Name: value` lines, as Sysmon's manifest writes it; other
providers' message templates are not available, so they get no message).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from xml.sax.saxutils import escape

from normalizers.windows_ecs import KEYWORD_NAMES, LEVEL_NAMES, OPCODE_NAMES, task_name

AGENT_VERSION = "8.15.3"
NXLOG_ZONE = timezone(timedelta(hours=7))  # the province's local time, as an NXLog host writes it
_NXLOG_EVENT_TYPES = {1: "CRITICAL", 2: "ERROR", 3: "WARNING", 4: "INFO", 0: "INFO", 5: "VERBOSE"}
_NXLOG_SEVERITY = {
    "CRITICAL": 5,
    "ERROR": 4,
    "WARNING": 3,
    "INFO": 2,
    "VERBOSE": 1,
    "AUDIT_SUCCESS": 2,
    "AUDIT_FAILURE": 4,
}
_NXLOG_SEVERITY_NAMES = {5: "CRITICAL", 4: "ERROR", 3: "WARNING", 2: "INFO", 1: "DEBUG"}


def _attrs(node: Any) -> dict[str, Any]:
    attributes = node.get("#attributes") if isinstance(node, dict) else None
    return attributes if isinstance(attributes, dict) else {}


def _xml_text(value: Any) -> str:
    """The text Windows' XML rendering gives a value (what both shippers start from)."""
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, dict):
        return _xml_text(value.get("#text"))
    return str(value)


def _clean(value: str) -> str:
    """Winlogbeat's RemoveWindowsLineEndings; NXLog also turns CRLF into LF."""
    return value.replace("\r\n", "\n").rstrip("\n")


def _elements(node: Any) -> list[tuple[str, str, bool]]:
    """EventData children in document order: (name, text, named)."""
    out: list[tuple[str, str, bool]] = []
    if not isinstance(node, dict):
        return out
    for key, value in node.items():
        if key == "#attributes":
            continue
        if key == "Data":
            inner = value.get("#text") if isinstance(value, dict) else value
            items = inner if isinstance(inner, list) else [inner]
            out.extend(("", _xml_text(item), False) for item in items)
        else:
            out.append((key, _xml_text(value), True))
    return out


def _winlogbeat_pairs(elements: list[tuple[str, str, bool]]) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for index, (name, value, named) in enumerate(elements):
        if value == "":
            continue
        key = name if named and name != "Data" else f"param{index + 1}"
        if key not in pairs:
            pairs[key] = _clean(value)
    return pairs


def _user_data(event: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    node = event.get("UserData")
    if not isinstance(node, dict):
        return None
    for name, inner in node.items():
        if name != "#attributes" and isinstance(inner, dict):
            return name, inner
    return None


def _system(record: dict[str, Any]) -> dict[str, Any]:
    """The System values both shippers start from, plus Windows' rendered names."""
    event = record["Event"]
    system = event["System"]
    event_id = system["EventID"]
    if isinstance(event_id, dict):
        event_id = event_id["#text"]
    provider = _attrs(system.get("Provider"))
    mask = int(system.get("Keywords") or "0x0", 16)
    created = datetime.fromisoformat(_attrs(system["TimeCreated"])["SystemTime"])
    execution = _attrs(system.get("Execution"))
    correlation = _attrs(system.get("Correlation"))
    level = system.get("Level")
    return {
        "event_id": int(event_id),
        "provider": provider.get("Name") or provider.get("EventSourceName"),
        "guid": "{" + provider["Guid"].strip("{}").upper() + "}" if provider.get("Guid") else None,
        "channel": system.get("Channel"),
        "computer": system.get("Computer"),
        "record_id": system.get("EventRecordID"),
        "version": system.get("Version"),
        "level": level,
        "level_name": LEVEL_NAMES.get(level) if isinstance(level, int) else None,
        "task": system.get("Task"),
        "task_name": task_name(provider.get("Name"), system.get("Task")),
        "opcode": system.get("Opcode"),
        "opcode_name": OPCODE_NAMES.get(system.get("Opcode"))
        if isinstance(system.get("Opcode"), int)
        else None,
        "mask": mask,
        "keywords": [name for bit, name in KEYWORD_NAMES if mask & bit],
        "created": created,
        "pid": execution.get("ProcessID"),
        "tid": execution.get("ThreadID"),
        "sid": _attrs(system.get("Security")).get("UserID"),
        "activity": "{" + correlation["ActivityID"].strip("{}").upper() + "}"
        if correlation.get("ActivityID")
        else None,
        "elements": _elements(event.get("EventData")),
        "user_data": _user_data(event),
    }


def _message(info: dict[str, Any]) -> str | None:
    """Sysmon's message: its task title, then one `Name: value` line per EventData element."""
    if info["provider"] != "Microsoft-Windows-Sysmon" or not info["task_name"]:
        return None
    title = info["task_name"].split(" (rule:")[0]
    lines = [f"{title}:"] + [f"{name}: {value}" for name, value, _ in info["elements"]]
    return "\r\n".join(lines)


def _ms(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def to_winlogbeat(
    record: dict[str, Any], *, message: bool = False, event_id_number: bool = False
) -> dict[str, Any]:
    """What Winlogbeat 8.x publishes to Kafka for this event (`event_id_number`: 7.x's number)."""
    info = _system(record)
    winlog: dict[str, Any] = {
        "api": "wineventlog",
        "channel": info["channel"],
        "computer_name": info["computer"],
    }
    winlog["event_id"] = info["event_id"] if event_id_number else str(info["event_id"])
    winlog["provider_name"] = info["provider"]
    if info["guid"]:
        winlog["provider_guid"] = info["guid"]
    if info["record_id"]:
        winlog["record_id"] = info["record_id"]
    if info["task_name"]:
        winlog["task"] = info["task_name"]
    if info["opcode_name"]:
        winlog["opcode"] = info["opcode_name"]
    if info["keywords"]:
        winlog["keywords"] = info["keywords"]
    if info["version"]:
        winlog["version"] = info["version"]
    if info["level_name"]:
        winlog["level"] = info["level_name"]
    if info["pid"]:
        winlog["process"] = (
            {"pid": info["pid"], "thread": {"id": info["tid"]}} if info["tid"] else {"pid": info["pid"]}
        )
    if info["sid"]:
        winlog["user"] = {"identifier": info["sid"]}
    if info["activity"]:
        winlog["activity_id"] = info["activity"]
    if info["mask"] & 0x10000000000000:
        winlog["outcome"] = "failure"
    elif info["mask"] & 0x20000000000000:
        winlog["outcome"] = "success"
    winlog["time_created"] = _ms(info["created"])
    pairs = _winlogbeat_pairs(info["elements"])
    if pairs:
        winlog["event_data"] = pairs
    if info["user_data"] is not None:
        name, inner = info["user_data"]
        user = _winlogbeat_pairs(
            [(key, _xml_text(value), True) for key, value in inner.items() if key != "#attributes"]
        )
        if user:
            user["xml_name"] = name
            winlog["user_data"] = user
    host = (info["computer"] or "unknown").split(".")[0].lower()
    event: dict[str, Any] = {
        "code": str(info["event_id"]),
        "kind": "event",
        "provider": info["provider"],
        "created": _ms(info["created"] + timedelta(seconds=2)),
    }
    if info["task_name"]:
        event["action"] = info["task_name"]
    if "outcome" in winlog:
        event["outcome"] = winlog["outcome"]
    doc: dict[str, Any] = {
        "@timestamp": _ms(info["created"]),
        "@metadata": {"beat": "winlogbeat", "type": "_doc", "version": AGENT_VERSION},
        "agent": {
            "type": "winlogbeat",
            "version": AGENT_VERSION,
            "name": host,
            "id": "3f0a2b52-7c41-4f0e-9b1e-5d7f62f1c0aa",
            "ephemeral_id": "9d3e8c1a-55b2-4d8e-a0f4-1b2c3d4e5f60",
        },
        "ecs": {"version": "8.0.0"},
        "host": {"name": host},
        "log": {"level": info["level_name"]} if info["level_name"] else {},
        "event": event,
        "winlog": winlog,
    }
    text = _message(info) if message else None
    if text:
        doc["message"] = _clean(text)
    return doc


def to_nxlog(record: dict[str, Any], *, message: bool = False, nxlog_ce: bool = False) -> dict[str, Any]:
    """What NXLog `im_msvistalog` + `to_json()` writes for this event."""
    info = _system(record)
    if any(not named for _, _, named in info["elements"]):
        raise ValueError("NXLog has no documented field name for unnamed <Data> elements")
    local = info["created"].astimezone(NXLOG_ZONE)
    mask = info["mask"]
    if mask & 0x10000000000000:
        event_type = "AUDIT_FAILURE"
    elif mask & 0x20000000000000:
        event_type = "AUDIT_SUCCESS"
    else:
        event_type = _NXLOG_EVENT_TYPES.get(info["level"] or 0, "INFO")
    severity = _NXLOG_SEVERITY[event_type]
    out: dict[str, Any] = {}
    if nxlog_ce:
        out["EventTime"] = local.strftime("%Y-%m-%d %H:%M:%S")
        out["Hostname"] = info["computer"]
        out["Keywords"] = mask - (1 << 64) if mask >= 1 << 63 else mask
    else:
        out["EventTime"] = local.isoformat(timespec="microseconds")
        out["Hostname"] = info["computer"]
        out["Keywords"] = str(mask)
    out["EventType"] = event_type
    out["SeverityValue"] = severity
    out["Severity"] = _NXLOG_SEVERITY_NAMES[severity]
    out["EventID"] = info["event_id"]
    out["SourceName"] = info["provider"]
    if info["guid"]:
        out["ProviderGuid"] = info["guid"]
    out["Version"] = info["version"] or 0
    out["Task" if nxlog_ce else "TaskValue"] = info["task"] or 0
    out["OpcodeValue"] = info["opcode"] or 0
    out["RecordNumber"] = info["record_id"]
    if info["activity"]:
        out["ActivityID"] = info["activity"]
    out["ProcessID" if nxlog_ce else "ExecutionProcessID"] = info["pid"] or 0
    out["ThreadID" if nxlog_ce else "ExecutionThreadID"] = info["tid"] or 0
    out["Channel"] = info["channel"]
    if info["sid"]:
        out["UserID"] = info["sid"]
    text = _message(info) if message else None
    if text:
        out["Message"] = _clean(text)
    if info["task_name"]:
        out["Category"] = info["task_name"]
    if info["opcode_name"]:
        out["Opcode"] = info["opcode_name"]
    for name, value, _ in info["elements"]:
        if value != "":
            out[name] = _clean(value)
    if info["user_data"] is not None:
        name, inner = info["user_data"]
        namespace = _attrs(inner).get("xmlns")
        opening = f"<{name} xmlns='{escape(namespace)}'>" if namespace else f"<{name}>"
        children = "".join(
            f"<{key}>{escape(_xml_text(value))}</{key}>"
            for key, value in inner.items()
            if key != "#attributes"
        )
        out["UserData"] = f"{opening}{children}</{name}>"
    received = local + timedelta(seconds=1)
    out["EventReceivedTime"] = (
        received.strftime("%Y-%m-%d %H:%M:%S") if nxlog_ce else received.isoformat(timespec="microseconds")
    )
    out["SourceModuleName"] = "eventlog"
    out["SourceModuleType"] = "im_msvistalog"
    return out
