"""BIND (named) query log lines -> ECS `dns.*`.

    01-Jul-2025 08:00:00.123 queries: info: client @0x7f2a3c0a1b20 10.0.0.5#53211 (example.com):
        query: example.com IN A +E(0)K (10.0.0.1)
    client @0x7f2a3c0a1b20 10.0.0.5#53211 (example.com): view internal: query: example.com IN A +E(0)K
        (10.0.0.1)
    Jul  1 08:00:00 ns1 named[812]: client 2001:db8::5#40000 (vpn.example.gov.vn): query:
        vpn.example.gov.vn IN AAAA + (2001:db8::53)

(each one line in the log).

What precedes `client` may be BIND's own `dd-Mon-yyyy HH:MM:SS.mmm` time (server local time: the
source's zone), with `print-category`/`print-severity` words, or a syslog header; with neither, the
event time is the time the record was received. Older BIND (9.9 and before) has no `@0x...` client
object. The flags after the type are BIND's: `+` recursion desired (`-` not), `E(n)` EDNS version n,
`T` over TCP, `D` DNSSEC OK, `S` signed, `C` checking disabled, `K` cookie, `V` valid server cookie.

ECS: `dns.question.name/type/class`, `dns.type: query`, `dns.header_flags` (RD, DO, CD),
`source.ip/port` (the client), `destination.ip` (the server address that received the query),
`network.transport` (`tcp` with the T flag, else `udp`), `network.protocol: dns`,
`event.category: [network]`, `event.type: [protocol]`, and `bind.query.{view, flags, client_object,
category, severity}`.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from normalizers._text_common import MONTHS, add_related, endpoint, host_doc, truncate
from normalizers._text_syslog import parse_prefix
from normalizers.base import ParseContext
from soc_core.errors import NormalizeError

_QUERY = re.compile(
    r"client (?:(@0x[0-9a-fA-F]+) )?(\S+)#(\d+)(?: \(([^)]*)\))?: (?:view ([^:]+): )?query: "
    r"(\S+) (\S+) (\S+) ([+-]\S*)(?: \(([^)]*)\))?"
)
_BIND_TIME = re.compile(r"(\d\d)-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))? ")
_CATEGORY = re.compile(r"([a-z][\w-]*): (critical|error|warning|notice|info|debug(?: \d+)?|dynamic): ")


class BindQuery:
    name = "bind_query"
    typed_output = True  # documents built from typed values: see Normalizer.typed_output

    def parse(self, raw: str, ctx: ParseContext) -> dict[str, Any]:
        text = raw.rstrip("\r\n")
        m = _QUERY.search(text)
        if m is None:
            raise NormalizeError(
                "not a BIND query log line (expected 'client [@0x..] IP#PORT (name): query: NAME CLASS TYPE "
                f"FLAGS'): {truncate(text, 120)!r}"
            )
        prefix = text[: m.start()]
        event: dict[str, Any] = {
            "kind": "event",
            "module": "bind",
            "dataset": "bind.query",
            "category": ["network"],
            "type": ["protocol"],
            "action": "dns-query",
        }
        bind: dict[str, Any] = {}
        sender: dict[str, str] = {}
        doc: dict[str, Any] = {"@timestamp": self._timestamp(prefix, ctx, sender, bind), "event": event}
        if sender.get("name"):
            host = host_doc(sender["name"])
            if host is not None:
                doc["host"] = host
                add_related(doc, "hosts", host["name"])
        client_object, client_ip, client_port, _, view, qname, qclass, qtype, flags, server = m.groups()
        endpoint(doc, "source", client_ip, client_port)
        if server:
            endpoint(doc, "destination", server)
        header_flags = []
        if flags.startswith("+"):
            header_flags.append("RD")
        if "D" in flags:
            header_flags.append("DO")
        if "C" in flags:
            header_flags.append("CD")
        dns: dict[str, Any] = {"type": "query", "question": {"name": qname, "class": qclass, "type": qtype}}
        if header_flags:
            dns["header_flags"] = header_flags
        doc["dns"] = dns
        doc["network"] = {"transport": "tcp" if "T" in flags else "udp", "protocol": "dns"}
        bind["flags"] = flags
        if view:
            bind["view"] = view
        if client_object:
            bind["client_object"] = client_object
        doc["bind"] = {"query": bind}
        doc["message"] = text[m.start() :]
        return doc

    @staticmethod
    def _timestamp(prefix: str, ctx: ParseContext, host: dict[str, str], bind: dict[str, Any]) -> datetime:
        when = _BIND_TIME.match(prefix)
        stamp: datetime | None = None
        if when is not None:
            month = MONTHS.get(when.group(2).lower())
            if month is None:
                raise NormalizeError(f"bad month {when.group(2)!r} in BIND timestamp")
            fraction = when.group(7)
            try:
                stamp = datetime(
                    int(when.group(3)), month, int(when.group(1)),
                    int(when.group(4)), int(when.group(5)), int(when.group(6)),
                    int(fraction.ljust(6, "0")) if fraction else 0, tzinfo=ctx.timezone,
                )  # fmt: skip
            except ValueError as exc:
                raise NormalizeError(f"invalid BIND timestamp: {exc}") from None
        elif prefix.strip():
            header = parse_prefix(prefix, ctx)
            if header is not None:
                stamp = header.timestamp
                if header.hostname:
                    host["name"] = header.hostname
        category = _CATEGORY.search(prefix)
        if category is not None:
            bind["category"] = category.group(1)
            bind["severity"] = category.group(2)
        return stamp or ctx.received_at

    def sniff(self, raw: str) -> bool:
        return ": query: " in raw and "client " in raw and "#" in raw


NORMALIZER = BindQuery()
