"""systemd journal records as `journalctl -o json` prints them -> ECS.

One JSON object per record. Values are strings, except that journalctl prints a field that is not
valid UTF-8 (or holds control bytes) as an array of byte values, a field with several values as
an array, and a field over its size limit as null. All of those are turned into text here.

- `@timestamp` from `_SOURCE_REALTIME_TIMESTAMP` (when the program logged) or else
  `__REALTIME_TIMESTAMP` (when journald received it), microseconds since the epoch, UTC;
- `message` from `MESSAGE`; every other field is kept verbatim under `journald.<FIELD>`;
- `process.name` from `SYSLOG_IDENTIFIER` (or `_COMM`), `process.pid` from `_PID` (or `SYSLOG_PID`),
  `process.executable`/`command_line` from `_EXE`/`_CMDLINE`, `host.*` from `_HOSTNAME`,
  `log.syslog.*` from `PRIORITY`/`SYSLOG_FACILITY`;
- messages of the authentication programs get the same fields as through `linux_syslog`
  (`normalizers._text_linux_auth`) and `event.dataset: linux.auth`; others `linux.journald`.
"""

from __future__ import annotations

from typing import Any

import orjson

from normalizers._text_common import add_related, epoch_to_datetime, host_doc, to_int, truncate
from normalizers._text_linux_auth import AUTH_PROGRAMS, classify
from normalizers._text_syslog import FACILITIES, SEVERITIES
from normalizers.base import ParseContext
from soc_core.errors import NormalizeError


def _text(value: Any) -> Any:
    """A journal value as text: byte arrays decoded, multi-value fields kept as lists of text."""
    if isinstance(value, str) or value is None:
        return value
    if isinstance(value, list):
        if value and all(isinstance(b, int) and 0 <= b <= 255 for b in value):
            return bytes(value).decode("utf-8", "replace")
        return [_text(v) for v in value]
    if isinstance(value, bool | int | float):
        return str(value)
    return orjson.dumps(value).decode()


def _first(value: Any) -> str | None:
    """One text value: the first of a multi-value field."""
    if isinstance(value, list):
        return _first(value[0]) if value else None
    return value if isinstance(value, str) else None


class Journald:
    name = "journald"
    typed_output = True  # documents built from typed values: see Normalizer.typed_output

    def parse(self, raw: str, ctx: ParseContext) -> dict[str, Any]:
        try:
            record = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise NormalizeError(f"journald record is not JSON: {exc}") from None
        if not isinstance(record, dict):
            raise NormalizeError(f"journald record must be a JSON object, got {type(record).__name__}")
        fields: dict[str, Any] = {}
        for key, value in record.items():
            if key != "MESSAGE" and value is not None:  # null: over journalctl's size limit
                fields[key] = _text(value)
        stamp = _first(fields.get("_SOURCE_REALTIME_TIMESTAMP")) or _first(fields.get("__REALTIME_TIMESTAMP"))
        if not stamp:
            raise NormalizeError(
                f"journald record has no __REALTIME_TIMESTAMP: {truncate(raw, 80)!r} (use journalctl -o json)"
            )
        message = _text(record.get("MESSAGE"))
        if isinstance(message, list):
            message = "\n".join(m for m in message if isinstance(m, str))
        program = _first(fields.get("SYSLOG_IDENTIFIER")) or _first(fields.get("_COMM"))
        event: dict[str, Any] = {"kind": "event", "module": "journald"}
        doc: dict[str, Any] = {"@timestamp": epoch_to_datetime(stamp), "event": event, "journald": fields}
        if message is not None:
            doc["message"] = message
        process: dict[str, Any] = {}
        if program:
            process["name"] = program
            event["provider"] = program
        pid = to_int(_first(fields.get("_PID")) or _first(fields.get("SYSLOG_PID")))
        if pid is not None:
            process["pid"] = pid
        exe = _first(fields.get("_EXE"))
        if exe:
            process["executable"] = exe
        cmdline = _first(fields.get("_CMDLINE"))
        if cmdline:
            process["command_line"] = cmdline
        if process:
            doc["process"] = process
        host = host_doc(_first(fields.get("_HOSTNAME")))
        if host is not None:
            doc["host"] = host
            add_related(doc, "hosts", host["name"])
        syslog = self._syslog(fields)
        if syslog:
            doc["log"] = {"syslog": syslog}
        auth = classify(program, message or "", doc) if message else False
        facility = syslog.get("facility", {}).get("name")
        if auth or program in AUTH_PROGRAMS or facility in ("auth", "authpriv"):
            event["dataset"] = "linux.auth"
        else:
            event["dataset"] = "linux.journald"
        return doc

    @staticmethod
    def _syslog(fields: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        severity = to_int(_first(fields.get("PRIORITY")))
        facility = to_int(_first(fields.get("SYSLOG_FACILITY")))
        if severity is not None and 0 <= severity <= 7:
            out["severity"] = {"code": severity, "name": SEVERITIES[severity]}
        if facility is not None and 0 <= facility < len(FACILITIES):
            out["facility"] = {"code": facility, "name": FACILITIES[facility]}
            if severity is not None and 0 <= severity <= 7:
                out["priority"] = facility * 8 + severity
        return out

    def sniff(self, raw: str) -> bool:
        return (raw[:1] == "{" or raw.lstrip()[:1] == "{") and '"__REALTIME_TIMESTAMP"' in raw


NORMALIZER = Journald()
