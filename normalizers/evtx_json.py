"""Windows events in the evtx-to-JSON shape: `{"Event": {"System": {...}, "EventData": {...}}}`.

This is what the `evtx` package (and `evtx_dump`) write, what `normalizers.evtx_file` reads out of
uploaded `.evtx` files, and what SigmaHQ ships as regression samples. Other XML-to-JSON tools
differ in details, so all of these are read: attributes under `#attributes` or as `@Name` keys;
`EventID` as a number, a string or `{"#text": 4688, "#attributes": {"Qualifiers": ...}}`;
`EventData` null, a string, a list, named keys, or `Data` entries (unnamed, or named by an
attribute); `UserData` with one child element; `RenderingInfo` when the exporter rendered messages.
The mapping to ECS is `normalizers.windows_ecs`.
"""

from __future__ import annotations

from typing import Any

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
    rendered_keywords,
    task_name,
    text,
    to_ecs,
    to_int,
)
from soc_core.errors import NormalizeError

_NO_ATTRIBUTES: dict[str, Any] = {}


def _attrs(node: object) -> dict[str, Any]:
    """An element's XML attributes as the JSON tools write them: `#attributes` (evtx) or `@Name`."""
    if not isinstance(node, dict):
        return _NO_ATTRIBUTES
    attributes = node.get("#attributes")
    if isinstance(attributes, dict):
        return attributes
    return {key[1:]: value for key, value in node.items() if key[:1] == "@"} or _NO_ATTRIBUTES


def _attr(node: object, name: str) -> Any:
    return _attrs(node).get(name)


def _add_unnamed(out: dict[str, str], value: object, position: int) -> int:
    """Unnamed `<Data>` values become `paramN`, N counting every EventData element (Winlogbeat)."""
    position += 1
    item = data_text(value)
    key = f"param{position}"
    if item is not None and key not in out:
        out[key] = item
    return position


def _add_data(out: dict[str, str], value: object, position: int) -> int:
    """`Data` entries: a list, a `{"#text": [...]}` group, a named entry, or one bare value."""
    if isinstance(value, list):
        for item in value:
            position = _add_data(out, item, position)
        return position
    if isinstance(value, dict):
        name = _attr(value, "Name")
        if isinstance(name, str) and name:
            position += 1
            item = data_text(value.get("#text", ""))  # no text: an empty element
            if item is not None and name not in out:
                out[name] = item
            return position
        inner = value.get("#text")
        if isinstance(inner, list):
            for item in inner:
                position = _add_unnamed(out, item, position)
            return position
        return _add_unnamed(out, inner, position)
    return _add_unnamed(out, value, position)


def event_data(node: object) -> dict[str, str]:
    """EventData as strings under their names, in document order (first of duplicates wins)."""
    if node is None:
        return {}
    out: dict[str, str] = {}
    if isinstance(node, dict):
        position = 0
        for item in node.items():
            # JSON object keys are strings: typed so, the comparisons below compile to C (an
            # untyped key was a Python method call and three rich comparisons per field)
            key: str = item[0]
            value = item[1]
            if key == "Data" or key == "#text":
                position = _add_data(out, value, position)
                continue
            if key == "#attributes" or key.startswith("@"):
                continue  # EventData's own attributes (e.g. Name="EVENT_...")
            position += 1
            put_text(out, key, value)
        return out
    _add_data(out, node, 0)
    return out


def user_data(node: object) -> dict[str, str] | None:
    """UserData's one child element as Winlogbeat gives it: its values plus `xml_name`."""
    if not isinstance(node, dict):
        return None
    for name, inner in node.items():
        if name == "#attributes" or name[:1] == "@":
            continue
        pairs: dict[str, str] = {}
        if isinstance(inner, dict):
            for key, value in inner.items():
                if key == "#attributes" or key.startswith("@"):
                    continue
                item = data_text(value)
                if item is not None:
                    pairs[key] = item
        if not pairs:
            return None
        pairs["xml_name"] = name
        return pairs
    return None


def to_win_event(obj: object) -> WinEvent:
    """The canonical event from one parsed evtx-JSON record; NormalizeError says what is missing."""
    if not isinstance(obj, dict):
        raise NormalizeError(f"evtx JSON record must be an object, got {type(obj).__name__}")
    event = obj.get("Event")
    if not isinstance(event, dict):
        raise NormalizeError("no Event object: not an evtx JSON record")
    system = event.get("System")
    if not isinstance(system, dict):
        raise NormalizeError("evtx JSON record has no Event.System object")
    event_id = system.get("EventID")
    if isinstance(event_id, dict):
        event_id = event_id.get("#text")
    code = event_code(event_id, "Event.System.EventID")
    created = system.get("TimeCreated")
    moment = _attr(created, "SystemTime") if isinstance(created, dict) else created
    time = parse_time(moment, what="Event.System.TimeCreated.SystemTime")

    provider_attrs = _attrs(system.get("Provider"))
    provider = nonempty(provider_attrs.get("Name")) or nonempty(provider_attrs.get("EventSourceName"))
    provider_id = provider_attrs.get("Guid")
    execution = _attrs(system.get("Execution"))
    correlation = _attrs(system.get("Correlation"))
    channel = system.get("Channel")
    computer = system.get("Computer")
    user_sid = _attr(system.get("Security"), "UserID")
    version = system.get("Version")

    data = event_data(event.get("EventData"))
    user = user_data(event.get("UserData"))
    merge_user_data(data, user)

    rendering = event.get("RenderingInfo")
    if not isinstance(rendering, dict):
        rendering = {}
    level = level_name(rendering.get("Level")) or level_name(system.get("Level"))
    task = text(rendering.get("Task")) or task_name(provider, system.get("Task"))
    opcode = text(rendering.get("Opcode")) or opcode_name(system.get("Opcode"))
    rendered = rendering.get("Keywords")
    keywords = rendered_keywords(
        rendered.get("Keyword") if isinstance(rendered, dict) else rendered
    ) or keyword_names(keyword_mask(system.get("Keywords")))
    return WinEvent(
        event_id=code,
        time=time,
        channel=nonempty(channel),
        provider=provider,
        provider_guid=provider_guid(provider_id) if isinstance(provider_id, str) else None,
        record_id=record_id(system.get("EventRecordID")),
        computer=nonempty(computer),
        event_data=data,
        user_data=user,
        version=to_int(version),
        level=level,
        task=task,
        opcode=opcode,
        keywords=keywords,
        pid=to_int(execution.get("ProcessID")),
        thread_id=to_int(execution.get("ThreadID")),
        user_sid=nonempty(user_sid),
        activity_id=guid(correlation.get("ActivityID")),
        related_activity_id=guid(correlation.get("RelatedActivityID")),
        message=text(rendering.get("Message")),
    )


class EvtxJson:
    name = "evtx_json"
    typed_output = True  # documents built from typed values: see Normalizer.typed_output

    def parse(self, raw: str, ctx: ParseContext) -> Doc:
        return to_ecs(self.win_event(raw))

    def win_event(self, raw: str) -> WinEvent:
        """The record's canonical Windows event (`parse` without the ECS mapping)."""
        return to_win_event(load_json(raw[1:] if raw[:1] == "\ufeff" else raw))

    def sniff(self, raw: str) -> bool:
        head = raw[:256]
        return '"Event"' in head and '"System"' in raw and head.lstrip("\ufeff \t\r\n")[:1] == "{"


NORMALIZER = EvtxJson()
