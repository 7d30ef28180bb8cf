"""Winlogbeat 8.x events as they arrive over Kafka, before any Elasticsearch ingest pipeline.

Winlogbeat sends the raw Windows fields under `winlog.*` (`channel`, `event_id` as a string or,
from older versions, a number, `event_data`, `user_data` with `xml_name`, `provider_name`,
`computer_name`, `record_id`, `process.pid`, `user.identifier`, rendered `level`/`task`/`opcode`/
`keywords`), plus `@timestamp`, `message`, `event.code`/`provider` and shipper metadata (`agent.*`,
`ecs.*`, `host.*` of the shipping host). Only the Windows fields are read: shipper metadata stays
in `event.original`, so that the same event from any shipper maps to the same ECS document
(`normalizers.windows_ecs`). ECS fields Winlogbeat already filled are recomputed, not trusted.
"""

from __future__ import annotations

from typing import Any

import orjson

from normalizers.base import ParseContext
from normalizers.windows_ecs import (
    Doc,
    WinEvent,
    guid,
    level_name,
    parse_time,
    provider_guid,
    text,
    to_ecs,
    to_int,
)
from soc_core.errors import NormalizeError


def _strings(node: object) -> dict[str, str]:
    if not isinstance(node, dict):
        return {}
    out: dict[str, str] = {}
    for key, value in node.items():
        if type(value) is str and value and "\r" not in value and value[-1] != "\n":
            out[key] = value  # the common case: Winlogbeat already sent clean strings
            continue
        item = text(value)
        if item is not None:
            out[key] = item
    return out


def _keywords(value: object) -> list[str] | None:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return None
    names = [item for item in value if isinstance(item, str) and item]
    return names or None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _obj(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def to_win_event(obj: object) -> WinEvent:
    """The canonical event from one parsed Winlogbeat document."""
    if not isinstance(obj, dict):
        raise NormalizeError(f"Winlogbeat event must be a JSON object, got {type(obj).__name__}")
    winlog = obj.get("winlog")
    if not isinstance(winlog, dict):
        raise NormalizeError("no winlog object: not a Winlogbeat Windows event")
    meta = _obj(obj.get("event"))
    event_id = winlog.get("event_id")
    if event_id is None:
        event_id = meta.get("code")
    code = to_int(event_id)
    if code is None:
        raise NormalizeError(f"winlog.event_id missing or not a number: {str(event_id)[:40]!r}")
    moment = winlog.get("time_created") or obj.get("@timestamp")
    time = parse_time(moment, what="@timestamp")

    data = _strings(winlog.get("event_data"))
    user = _strings(winlog.get("user_data")) or None
    if user is not None:
        for key, value in user.items():
            if key != "xml_name" and key not in data:
                data[key] = value
    process = _obj(winlog.get("process"))
    thread = _obj(process.get("thread"))
    account = _obj(winlog.get("user"))
    record = winlog.get("record_id")
    record_number = to_int(record)
    version = winlog.get("version")
    computer = _str(winlog.get("computer_name")) or _str(_obj(obj.get("host")).get("name"))
    level = winlog.get("level") or _obj(obj.get("log")).get("level")
    return WinEvent(
        event_id=str(code),
        time=time,
        channel=_str(winlog.get("channel")),
        provider=_str(winlog.get("provider_name")) or _str(meta.get("provider")),
        provider_guid=provider_guid(winlog["provider_guid"])
        if isinstance(winlog.get("provider_guid"), str)
        else None,
        record_id=str(record_number) if record_number else None,
        computer=computer,
        event_data=data,
        user_data=user,
        version=version if type(version) is int else None,
        level=level_name(level) if isinstance(level, str) else None,
        task=_str(winlog.get("task")),
        opcode=_str(winlog.get("opcode")),
        keywords=_keywords(winlog.get("keywords")),
        pid=to_int(process.get("pid")),
        thread_id=to_int(thread.get("id")),
        user_sid=_str(account.get("identifier")),
        user_name=_str(account.get("name")),
        user_domain=_str(account.get("domain")),
        user_type=_str(account.get("type")),
        activity_id=guid(winlog.get("activity_id")),
        related_activity_id=guid(winlog.get("related_activity_id")),
        message=text(obj.get("message")) if isinstance(obj.get("message"), str) else None,
    )


class Winlogbeat:
    name = "winlogbeat"
    typed_output = True  # documents built from typed values: see Normalizer.typed_output

    def parse(self, raw: str, ctx: ParseContext) -> Doc:
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise NormalizeError(f"not JSON: {exc}") from None
        return to_ecs(to_win_event(obj))

    def sniff(self, raw: str) -> bool:
        return raw.lstrip()[:1] == "{" and ('"winlog":' in raw or '"winlog" :' in raw)


NORMALIZER = Winlogbeat()
