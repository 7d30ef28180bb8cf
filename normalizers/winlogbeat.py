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

from normalizers.base import ParseContext
from normalizers.windows_ecs import (
    Doc,
    WinEvent,
    event_code,
    guid,
    level_name,
    load_json,
    merge_user_data,
    nonempty,
    parse_time,
    provider_guid,
    put_text,
    record_id,
    rendered_keywords,
    text,
    to_ecs,
    to_int,
)
from soc_core.errors import NormalizeError


def _strings(node: object) -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(node, dict):
        for key, value in node.items():
            put_text(out, key, value)
    return out


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
    code = event_code(event_id, "winlog.event_id")
    moment = winlog.get("time_created") or obj.get("@timestamp")
    time = parse_time(moment, what="@timestamp")

    data = _strings(winlog.get("event_data"))
    user = _strings(winlog.get("user_data")) or None
    merge_user_data(data, user)
    process = _obj(winlog.get("process"))
    thread = _obj(process.get("thread"))
    account = _obj(winlog.get("user"))
    version = winlog.get("version")
    computer = nonempty(winlog.get("computer_name")) or nonempty(_obj(obj.get("host")).get("name"))
    level = winlog.get("level") or _obj(obj.get("log")).get("level")
    return WinEvent(
        event_id=code,
        time=time,
        channel=nonempty(winlog.get("channel")),
        provider=nonempty(winlog.get("provider_name")) or nonempty(meta.get("provider")),
        provider_guid=provider_guid(winlog["provider_guid"])
        if isinstance(winlog.get("provider_guid"), str)
        else None,
        record_id=record_id(winlog.get("record_id")),
        computer=computer,
        event_data=data,
        user_data=user,
        version=version if type(version) is int else None,
        level=level_name(level) if isinstance(level, str) else None,
        task=nonempty(winlog.get("task")),
        opcode=nonempty(winlog.get("opcode")),
        keywords=rendered_keywords(winlog.get("keywords")),
        pid=to_int(process.get("pid")),
        thread_id=to_int(thread.get("id")),
        user_sid=nonempty(account.get("identifier")),
        user_name=nonempty(account.get("name")),
        user_domain=nonempty(account.get("domain")),
        user_type=nonempty(account.get("type")),
        activity_id=guid(winlog.get("activity_id")),
        related_activity_id=guid(winlog.get("related_activity_id")),
        message=text(obj.get("message")) if isinstance(obj.get("message"), str) else None,
    )


class Winlogbeat:
    name = "winlogbeat"
    typed_output = True  # documents built from typed values: see Normalizer.typed_output

    def parse(self, raw: str, ctx: ParseContext) -> Doc:
        return to_ecs(to_win_event(load_json(raw)))

    def sniff(self, raw: str) -> bool:
        return raw.lstrip()[:1] == "{" and ('"winlog":' in raw or '"winlog" :' in raw)


NORMALIZER = Winlogbeat()
