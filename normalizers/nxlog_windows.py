"""Windows events from NXLog `im_msvistalog`, written with `to_json()`: one flat JSON object.

NXLog puts its own fields (`EventTime`, `Hostname`, `EventID`, `SourceName`, `Channel`,
`Keywords`, `RecordNumber`, ...) and every EventData field side by side at the top level. What is
NXLog's and what is EventData is decided here:

- a fixed set of names is NXLog's own (below, CE and EE/Agent spellings: `ProcessID` and
  `ExecutionProcessID`, `Task` and `TaskValue`, ...); everything else is EventData, including
  fields an operator added with `Exec` (they cannot be told apart from EventData);
- a few own names are also real EventData names. NXLog lets EventData overwrite its field, so
  the value tells them apart: NXLog writes its integers as JSON numbers and EventData as strings
  (`Version` of Sysmon 4, `ProcessID` of WFP 5156 and WMI 5857), and its `EventType` is one of
  `AUDIT_SUCCESS`, `INFO`, ... (Sysmon 12-14 and 19-21 have an EventData `EventType`). Where both
  are strings, the events known to carry the EventData name say so (`AccountName` of 7045 and
  4778/4779; NXLog's resolved account name is lost there, as it is in NXLog itself).

UserData comes as its XML text in a `UserData` field (OpenWEC's NXLog output does the same); it
is read into `winlog.user_data` and flattened into `winlog.event_data` like the other shapes do.
A `UserData` value that is not XML is EventData (PowerShell 4103 has an EventData `UserData`).

`EventTime` is local time without an offset in NXLog CE (read in the source's zone from the
registry, `ParseContext.timezone`) and ISO 8601 with an offset in EE/Agent; CE keeps whole seconds
only. The level is `Level` when NXLog sends it, else taken back from `EventType`/`SeverityValue`
(audit events are level 0, "information", though NXLog rates an audit failure ERROR).
The mapping to ECS is `normalizers.windows_ecs`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from typing import Any, Final

from normalizers.base import ParseContext
from normalizers.windows_ecs import (
    Doc,
    WinEvent,
    data_text,
    event_code,
    guid,
    keyword_mask,
    keyword_names,
    level_name,
    load_json,
    merge_user_data,
    nonempty,
    opcode_name,
    parse_time,
    provider_guid,
    put_text,
    record_id,
    task_name,
    text,
    to_ecs,
    to_int,
)
from soc_core.errors import NormalizeError

NXLOG_FIELDS: Final = frozenset(
    (
        "EventTime", "EventReceivedTime", "Hostname", "Keywords", "EventType", "SeverityValue",
        "Severity", "EventID", "SourceName", "ProviderGuid", "Version", "Task", "TaskValue",
        "OpcodeValue", "Opcode", "RecordNumber", "ActivityID", "RelatedActivityID", "ProcessID",
        "ThreadID", "ExecutionProcessID", "ExecutionThreadID", "Channel", "Domain", "AccountName",
        "UserID", "AccountType", "Message", "Category", "Level", "LevelValue", "SourceModuleName",
        "SourceModuleType", "MessageSourceAddress", "ERRORCODE", "EventXML", "OpenWEC",
    )
)  # fmt: skip
# Own fields NXLog writes as numbers: a string there is EventData that overwrote it.
_NUMERIC_FIELDS: Final = frozenset(("Version", "ProcessID", "ThreadID", "Task", "TaskValue", "OpcodeValue"))
# (provider, event id) -> EventData names that are also NXLog string fields.
_SHARED_NAMES: Final[dict[tuple[str, str], frozenset[str]]] = {
    ("Service Control Manager", "7045"): frozenset(("AccountName",)),
    ("Microsoft-Windows-Security-Auditing", "4778"): frozenset(("AccountName",)),
    ("Microsoft-Windows-Security-Auditing", "4779"): frozenset(("AccountName",)),
}
_NO_NAMES: Final[frozenset[str]] = frozenset()
_ALWAYS_OWN: Final = NXLOG_FIELDS - _NUMERIC_FIELDS - {"EventType"}  # decided by name alone
NXLOG_EVENT_TYPES: Final = frozenset(
    ("AUDIT_SUCCESS", "AUDIT_FAILURE", "CRITICAL", "ERROR", "WARNING", "INFO", "VERBOSE")
)
# NXLog EventType / SeverityValue (1 DEBUG .. 5 CRITICAL) back to the Windows level.
_EVENT_TYPE_LEVELS: Final[dict[str, str]] = {
    "AUDIT_SUCCESS": "information", "AUDIT_FAILURE": "information", "CRITICAL": "critical",
    "ERROR": "error", "WARNING": "warning", "INFO": "information", "VERBOSE": "verbose",
}  # fmt: skip
_SEVERITY_LEVELS: Final[dict[int, str]] = {
    1: "verbose", 2: "information", 3: "warning", 4: "error", 5: "critical",
}  # fmt: skip
MAX_USER_DATA_XML = 65536


def _is_event_data(key: str, value: object, shared: frozenset[str] = _NO_NAMES) -> bool:
    if key not in NXLOG_FIELDS or key in shared:
        return True
    if key in _NUMERIC_FIELDS:
        return isinstance(value, str)
    if key == "EventType":
        return not isinstance(value, str) or value not in NXLOG_EVENT_TYPES
    return False


def _own(obj: dict[str, Any], key: str) -> Any:
    """An NXLog field, unless EventData of the same name took its place."""
    value = obj.get(key)
    return None if value is None or _is_event_data(key, value) else value


def _level(obj: dict[str, Any]) -> str | None:
    level = obj.get("Level")
    if isinstance(level, str) and level and not level.isdigit():
        return level.lower()
    number = to_int(level)
    if number is not None:
        return level_name(number)
    event_type = obj.get("EventType")
    if isinstance(event_type, str) and event_type in _EVENT_TYPE_LEVELS:
        return _EVENT_TYPE_LEVELS[event_type]
    severity = to_int(obj.get("SeverityValue"))
    return _SEVERITY_LEVELS.get(severity) if severity is not None else None


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def user_data_xml(value: str) -> dict[str, str] | None:
    """NXLog's `UserData` XML -> Winlogbeat's `user_data` (child values plus `xml_name`)."""
    if len(value) > MAX_USER_DATA_XML or value[:1] != "<":
        return None
    try:  # size-capped; expat refuses entity-expansion bombs and ElementTree loads no external entities
        root = ElementTree.fromstring(value)
    except ElementTree.ParseError:
        return None
    pairs: dict[str, str] = {}
    for child in root:
        key = child.get("Name") or _local(child.tag)
        item = data_text(child.text or "")  # no text: an empty element, present
        if item is not None and key not in pairs:
            pairs[key] = item
    if not pairs:
        return None
    pairs["xml_name"] = _local(root.tag)
    return pairs


def to_win_event(obj: object, ctx: ParseContext) -> WinEvent:
    """The canonical event from one parsed NXLog record."""
    if not isinstance(obj, dict):
        raise NormalizeError(f"NXLog record must be a JSON object, got {type(obj).__name__}")
    code = event_code(obj.get("EventID"), "EventID")
    time = parse_time(obj.get("EventTime"), ctx.timezone, what="EventTime")

    provider = nonempty(obj.get("SourceName"))
    shared = _SHARED_NAMES.get((provider or "", code), _NO_NAMES)
    data: dict[str, str] = {}
    user: dict[str, str] | None = None
    always_own = _ALWAYS_OWN - shared if shared else _ALWAYS_OWN
    for key, value in obj.items():
        if key in always_own or (key in NXLOG_FIELDS and not _is_event_data(key, value, shared)):
            continue
        put_text(data, key, value)
    xml = data.get("UserData")
    if xml is not None and xml[0] == "<":
        user = user_data_xml(xml)
        if user is not None:
            del data["UserData"]
    merge_user_data(data, user)

    execution = "ExecutionProcessID" in obj
    pid = to_int(obj.get("ExecutionProcessID") if execution else _own(obj, "ProcessID"))
    thread = to_int(obj.get("ExecutionThreadID") if execution else _own(obj, "ThreadID"))
    task_number = _own(obj, "TaskValue")
    if task_number is None:
        task_number = _own(obj, "Task")
    opcode_number = _own(obj, "OpcodeValue")
    version = _own(obj, "Version")
    keywords = keyword_names(keyword_mask(obj.get("Keywords")))
    return WinEvent(
        event_id=code,
        time=time,
        channel=nonempty(obj.get("Channel")),
        provider=provider,
        provider_guid=provider_guid(obj["ProviderGuid"])
        if isinstance(obj.get("ProviderGuid"), str)
        else None,
        record_id=record_id(obj.get("RecordNumber")),
        computer=nonempty(obj.get("Hostname")),
        event_data=data,
        user_data=user,
        version=version if type(version) is int else None,
        level=_level(obj),
        task=nonempty(obj.get("Category")) or task_name(provider, task_number),
        opcode=nonempty(obj.get("Opcode")) or opcode_name(opcode_number),
        keywords=keywords,
        pid=pid,
        thread_id=thread,
        user_sid=nonempty(obj.get("UserID")),
        user_name=None if "AccountName" in shared else nonempty(obj.get("AccountName")),
        user_domain=nonempty(obj.get("Domain")),
        user_type=nonempty(obj.get("AccountType")),
        activity_id=guid(obj.get("ActivityID")),
        related_activity_id=guid(obj.get("RelatedActivityID")),
        message=text(obj.get("Message")) if isinstance(obj.get("Message"), str) else None,
    )


class NxlogWindows:
    name = "nxlog_windows"
    typed_output = True  # documents built from typed values: see Normalizer.typed_output

    def parse(self, raw: str, ctx: ParseContext) -> Doc:
        return to_ecs(to_win_event(load_json(raw), ctx))

    def sniff(self, raw: str) -> bool:
        if raw.lstrip()[:1] != "{" or '"EventID"' not in raw:
            return '"SourceModuleType":"im_msvistalog"' in raw
        return '"SourceModuleType"' in raw or ('"EventTime"' in raw and '"SourceName"' in raw)


NORMALIZER = NxlogWindows()
