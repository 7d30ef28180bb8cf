"""Linux syslog lines (RFC 3164 and RFC 5424, with or without `<PRI>`) -> ECS.

Every line that has a syslog header becomes an event with the header fields (`host.*`,
`process.name/pid`, `log.syslog.*`) and `message`. Lines from the authentication programs
(sshd, sudo, su, login, PAM, shadow-utils, systemd-logind) also get the auth/iam/session fields
of `normalizers._text_linux_auth`; those events carry `event.dataset: linux.auth`, the rest
`linux.syslog` (also `linux.auth` for the auth/authpriv facilities).

Year-less RFC 3164 timestamps take their zone from the source (`ctx.timezone`) and their year
from `ctx.received_at` (see `_text_syslog.infer_year`). Example::

    <38>Jan  1 00:00:05 web01 sshd[812]: Accepted publickey for deploy from 10.0.0.8 port 50514 ssh2
"""

from __future__ import annotations

import re
from typing import Any

from normalizers._text_common import add_related, host_doc, to_int, truncate
from normalizers._text_linux_auth import AUTH_PROGRAMS, classify
from normalizers._text_syslog import parse_header
from normalizers.base import ParseContext
from soc_core.errors import NormalizeError

_SNIFF = re.compile(
    r"(?:<\d{1,3}>)?(?:[1-9]\d? (?:\d{4}-\d\d-\d\dT|-)|[A-Z][a-z]{2} [ 1-3]\d \d\d:\d\d:\d\d|"
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)"
)
_AUTH_FACILITIES = frozenset({"auth", "authpriv", "security"})


class LinuxSyslog:
    name = "linux_syslog"
    typed_output = True  # documents built from typed values: see Normalizer.typed_output

    def parse(self, raw: str, ctx: ParseContext) -> dict[str, Any]:
        line = raw.rstrip("\r\n")
        header = parse_header(line, ctx)
        if header is None:
            raise NormalizeError(
                f"not a syslog line: no <PRI>, RFC 5424 or 'Mmm dd hh:mm:ss' header in {truncate(line, 80)!r}"
            )
        timestamp = header.timestamp or ctx.received_at
        program = header.appname
        event: dict[str, Any] = {"kind": "event", "module": "linux"}
        doc: dict[str, Any] = {"@timestamp": timestamp, "message": header.message, "event": event}
        if program:
            event["provider"] = program
            process: dict[str, Any] = {"name": program}
            pid = to_int(header.procid)
            if pid is not None:
                process["pid"] = pid
            doc["process"] = process
        host = host_doc(header.hostname)
        if host is not None:
            doc["host"] = host
            add_related(doc, "hosts", host["name"])
        syslog = header.log_fields()
        if syslog:
            doc["log"] = {"syslog": syslog}
        auth = classify(program, header.message, doc)
        if auth or program in AUTH_PROGRAMS or header.facility_name in _AUTH_FACILITIES:
            event["dataset"] = "linux.auth"
        else:
            event["dataset"] = "linux.syslog"
        if header.priority is not None:
            event["severity"] = header.priority & 7
        return doc

    def sniff(self, raw: str) -> bool:
        return _SNIFF.match(raw) is not None


NORMALIZER = LinuxSyslog()
