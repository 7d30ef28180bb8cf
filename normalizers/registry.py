"""The one list of log formats: registry key -> module that defines `NORMALIZER`.

Modules are imported on first use so a broken or slow format never costs the others. The order
is the content-detection order used when a source declares no format: most specific first.
"""

from __future__ import annotations

import importlib
from functools import cache

from normalizers.base import Normalizer
from soc_core.errors import ConfigError

FORMATS: dict[str, str] = {
    # Windows, four shapes (evtx files are read into the evtx_json shape by normalizers.evtx_file)
    "winlogbeat": "normalizers.winlogbeat",
    "evtx_json": "normalizers.evtx_json",
    "nxlog_windows": "normalizers.nxlog_windows",
    # JSON formats
    "journald": "normalizers.journald",
    "web_json": "normalizers.web_json",
    "ecs": "normalizers.ecs",
    # key=value and delimited formats
    "cef": "normalizers.cef",
    "fortigate": "normalizers.fortigate",
    "cisco_asa": "normalizers.cisco_asa",
    "auditd": "normalizers.auditd",
    "iis_w3c": "normalizers.iis_w3c",
    "web_access": "normalizers.web_access",
    "bind_query": "normalizers.bind_query",
    # broadest last: any RFC 3164/5424 line (sshd, sudo, su, useradd, systemd-logind, ...)
    "linux_syslog": "normalizers.linux_syslog",
}


#: Formats whose records are one JSON document each: the HTTP intake keeps such an object whole,
#: where for the other formats it takes the text line out of the shipper's JSON envelope.
JSON_FORMATS = frozenset({"winlogbeat", "evtx_json", "nxlog_windows", "journald", "web_json", "ecs"})


@cache
def get(name: str) -> Normalizer:
    """The normalizer registered under `name`; ConfigError names the known formats otherwise."""
    try:
        module_path = FORMATS[name]
    except KeyError:
        raise ConfigError(f"unknown log format {name!r}", known=",".join(sorted(FORMATS))) from None
    module = importlib.import_module(module_path)
    normalizer: Normalizer = module.NORMALIZER
    return normalizer


def names() -> list[str]:
    return list(FORMATS)


def sniff(raw: str) -> Normalizer | None:
    """The first registered format whose `sniff` accepts the record, or None."""
    for name in FORMATS:
        normalizer = get(name)
        if normalizer.sniff(raw):
            return normalizer
    return None
