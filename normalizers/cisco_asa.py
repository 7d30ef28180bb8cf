"""Cisco ASA (and Firepower Threat Defense) syslog messages -> ECS.

    <166>Jul 01 2025 08:00:00 asa01 : %ASA-6-302013: Built outbound TCP connection 1234 for
    outside:93.184.216.34/443 (93.184.216.34/443) to inside:10.0.0.5/52211 (203.0.113.2/52211)

The header in front of `%ASA-<level>-<id>:` varies with `logging timestamp` / `logging device-id`
and relays: `<PRI>` alone, `<PRI>Mmm dd yyyy hh:mm:ss[:]`, `... host :`, an RFC 3164 or 5424 relay
header. Without a timestamp the event time is the time it was received.

Messages given ECS fields: 302013/302015 (built TCP/UDP), 302014/302016 (teardown), 302020/302021
(ICMP), 106001/106006/106007/106015 (inbound denies), 106023 (ACL deny), 106100 (ACL log),
111008/111010 (command executed), 113004/113005/113012/113015 (AAA), 605004/605005 (management
login), 611101/611102 (remote-access user authentication). Others keep the header fields, the
message id and the text. Direction: "Built inbound" names the initiator first, "Built outbound"
names it second, and `source` is always the initiator. Teardown messages do not say which side
initiated, so there the first endpoint is `source` (as Elastic's Cisco integration does).

Vendor values are kept under `cisco.asa.*` (strings); `event.action` is `allow`/`deny` for the
firewall decision (built, permitted / deny, denied), `teardown` for connection ends, and
`logged-in`/`logon-failed`/`executed-command` for the management and AAA messages.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from normalizers._text_common import add_related, clean_ip, endpoint, host_doc, transport, truncate
from normalizers._text_syslog import SEVERITIES, parse_prefix
from normalizers.base import ParseContext
from soc_core.errors import NormalizeError

_MARK = re.compile(r"%(ASA|FTD|FWSM|PIX)-(?:[A-Za-z]+-)?([0-7])-(\d{6}): ?")
_EP = r"([^:\s]+):(\S+?)/(\d+)"  # interface:ip/port

_BUILT = re.compile(
    r"Built (inbound|outbound) (TCP|UDP|SCTP) connection (\d+) for "
    + _EP
    + r" \((\S+?)/(\d+)\) ?(?:\(([^)]*)\))?"
    r" to " + _EP + r" \((\S+?)/(\d+)\) ?(?:\(([^)]*)\))?"
)
_TEARDOWN = re.compile(
    r"Teardown (TCP|UDP|SCTP) connection (\d+) for "
    + _EP
    + r" ?(?:\(([^)]*)\))? to "
    + _EP
    + r" ?(?:\(([^)]*)\))? duration (\d+):(\d\d):(\d\d) bytes (\d+)(?: ([^(]*?))?(?: ?\(([^)]*)\))?\s*$"
)
_ICMP = re.compile(
    r"(Built (inbound|outbound)|Teardown) ICMP connection for faddr (\S+?)/(\d+)(?:\(([^)]*)\))? "
    r"gaddr (\S+?)/(\d+) laddr (\S+?)/(\d+)(?:\(([^)]*)\))?"
)
_ACL_DENY = re.compile(
    r"Deny (\S+) src ([^:\s]+):(\S+?)(?:/(\d+))? ?(?:\(([^)]*)\))?"
    r" dst ([^:\s]+):(\S+?)(?:/(\d+))? ?(?:\((?!type )([^)]*)\))?"
    r" (?:\(type (\d+), code (\d+)\) )?by access-group \"([^\"]*)\""
)
_INBOUND_DENY = re.compile(
    r"(?:Inbound (\S+) connection denied|Deny inbound (\S+)|Deny (\S+) \(no connection\)) from (\S+?)/(\d+)"
    r" to (\S+?)/(\d+)(?: flags (.*?))?(?: .*?)? on interface (\S+)"
)
_ACL_LOG = re.compile(
    r"access-list (\S+) (permitted|denied|est-allowed) (\S+) ([^/\s]+)/(\S+?)\((\d+)\) ?(?:\(([^)]*)\))? -> "
    r"([^/\s]+)/(\S+?)\((\d+)\) ?(?:\(([^)]*)\))? hit-cnt (\d+)"
)
_AAA = re.compile(
    r"AAA user (authentication|authorization|accounting) (Successful|Rejected)(?: : reason = (.*?))?"
    r" : (?:server = (\S+)|local database) : user = (.*?)(?:\s*:\s*user IP = (\S+))?\s*$"
)
_MGMT_LOGIN = re.compile(
    r"Login (denied|permitted) from (\S+?)/(\w+) to ([^:\s]+):(\S+?)/(\w+) for user \"([^\"]*)\""
)
_RA_AUTH = re.compile(r"User authentication (succeeded|failed): (?:IP address: (\S+?), )?Uname: (.*?)\s*$")
_COMMAND = re.compile(
    r"User '([^']*)'(?:, running '[^']*' from IP (\S+),)? executed (?:the )?'(.*)'(?: command)?\.?$"
)


def _asa(doc: dict[str, Any]) -> dict[str, Any]:
    asa: dict[str, Any] = doc["cisco"]["asa"]
    return asa


def _set(asa: dict[str, Any], **values: str | None) -> None:
    for key, value in values.items():
        if value:
            asa[key] = value


def _duration_ns(h: str, m: str, s: str) -> int:
    return ((int(h) * 60 + int(m)) * 60 + int(s)) * 1_000_000_000


def _mark(
    event: dict[str, Any], category: list[str], kind: list[str], action: str, outcome: str | None = None
) -> None:
    event["category"] = category
    event["type"] = kind
    event["action"] = action
    if outcome:
        event["outcome"] = outcome


def _user(doc: dict[str, Any], name: str | None) -> None:
    if name and name not in ("*****", "***"):
        doc["user"] = {"name": name}
        add_related(doc, "user", name)


def _built(m: re.Match[str], doc: dict[str, Any]) -> None:
    direction, proto, conn = m.group(1), m.group(2), m.group(3)
    first = m.group(4, 5, 6, 7, 8, 9)
    second = m.group(10, 11, 12, 13, 14, 15)
    src, dst = (first, second) if direction == "inbound" else (second, first)
    endpoint(doc, "source", src[1], src[2])
    endpoint(doc, "destination", dst[1], dst[2])
    for side, (_, ip, port, mapped_ip, mapped_port, _) in (("source", src), ("destination", dst)):
        if (mapped_ip, mapped_port) != (ip, port) and side in doc and clean_ip(mapped_ip):
            doc[side]["nat"] = {"ip": clean_ip(mapped_ip), "port": int(mapped_port)}
    doc["network"] = {"transport": proto.lower(), "direction": direction}
    _set(
        _asa(doc),
        connection_id=conn,
        source_interface=src[0],
        destination_interface=dst[0],
        mapped_source_ip=src[3],
        mapped_source_port=src[4],
        mapped_destination_ip=dst[3],
        mapped_destination_port=dst[4],
        source_username=src[5],
        destination_username=dst[5],
    )
    _user(doc, src[5])
    _mark(doc["event"], ["network"], ["connection", "start", "allowed"], "allow")


def _teardown(m: re.Match[str], doc: dict[str, Any]) -> None:
    proto, conn = m.group(1), m.group(2)
    endpoint(doc, "source", m.group(4), m.group(5))
    endpoint(doc, "destination", m.group(8), m.group(9))
    doc["network"] = {"transport": proto.lower(), "bytes": int(m.group(14))}
    doc["event"]["duration"] = _duration_ns(m.group(11), m.group(12), m.group(13))
    reason = (m.group(15) or "").strip() or None
    _set(
        _asa(doc),
        connection_id=conn,
        source_interface=m.group(3),
        destination_interface=m.group(7),
        source_username=m.group(6),
        destination_username=m.group(10),
        termination_reason=reason,
        termination_user=m.group(16),
    )
    _user(doc, m.group(6))
    _mark(doc["event"], ["network"], ["connection", "end"], "teardown")


def _icmp(m: re.Match[str], doc: dict[str, Any]) -> None:
    direction = m.group(2)
    foreign, local = (m.group(3), m.group(4)), (m.group(8), m.group(9))
    src, dst = (foreign, local) if direction == "inbound" else (local, foreign)
    endpoint(doc, "source", src[0])
    endpoint(doc, "destination", dst[0])
    doc["network"] = {"transport": "icmp"}
    if direction:
        doc["network"]["direction"] = direction
    _set(_asa(doc), icmp_id=m.group(4), mapped_source_ip=m.group(6) if direction == "outbound" else None)
    if m.group(1).startswith("Built"):
        _mark(doc["event"], ["network"], ["connection", "start", "allowed"], "allow")
    else:
        _mark(doc["event"], ["network"], ["connection", "end"], "teardown")


def _acl_deny(m: re.Match[str], doc: dict[str, Any]) -> None:
    endpoint(doc, "source", m.group(3), m.group(4))
    endpoint(doc, "destination", m.group(7), m.group(8))
    name = transport(m.group(1))
    if name:
        doc["network"] = {"transport": name}
    doc["rule"] = {"name": m.group(12)}
    _set(
        _asa(doc),
        source_interface=m.group(2),
        destination_interface=m.group(6),
        rule_name=m.group(12),
        source_username=m.group(5),
        destination_username=m.group(9),
        icmp_type=m.group(10),
        icmp_code=m.group(11),
    )
    _user(doc, m.group(5))
    _mark(doc["event"], ["network"], ["connection", "denied"], "deny")


def _inbound_deny(m: re.Match[str], doc: dict[str, Any]) -> None:
    proto = m.group(1) or m.group(2) or m.group(3)
    endpoint(doc, "source", m.group(4), m.group(5))
    endpoint(doc, "destination", m.group(6), m.group(7))
    doc["network"] = {"transport": proto.lower(), "direction": "inbound"}
    _set(_asa(doc), source_interface=m.group(9), tcp_flags=m.group(8))
    _mark(doc["event"], ["network"], ["connection", "denied"], "deny")


def _acl_log(m: re.Match[str], doc: dict[str, Any]) -> None:
    endpoint(doc, "source", m.group(5), m.group(6))
    endpoint(doc, "destination", m.group(9), m.group(10))
    name = transport(m.group(3))
    if name:
        doc["network"] = {"transport": name}
    doc["rule"] = {"name": m.group(1)}
    _set(
        _asa(doc),
        rule_name=m.group(1),
        source_interface=m.group(4),
        destination_interface=m.group(8),
        source_username=m.group(7),
        destination_username=m.group(11),
        hit_count=m.group(12),
    )
    _user(doc, m.group(7))
    if m.group(2) == "denied":
        _mark(doc["event"], ["network"], ["connection", "denied"], "deny")
    else:
        _mark(doc["event"], ["network"], ["connection", "allowed"], "allow")


def _aaa(m: re.Match[str], doc: dict[str, Any]) -> None:
    kind, verdict, reason, server, user, user_ip = m.groups()
    _user(doc, user)
    endpoint(doc, "source", user_ip)
    _set(_asa(doc), aaa_type=kind, reason=reason, aaa_server=server or "LOCAL")
    ok = verdict == "Successful"
    if kind == "authentication":
        _mark(
            doc["event"],
            ["authentication"],
            ["start"],
            "logged-in" if ok else "logon-failed",
            "success" if ok else "failure",
        )
    else:
        _mark(
            doc["event"],
            ["authentication"],
            ["info"],
            f"{kind}-{'granted' if ok else 'rejected'}",
            "success" if ok else "failure",
        )


def _mgmt_login(m: re.Match[str], doc: dict[str, Any]) -> None:
    verdict, src_ip, src_port, iface, dst_ip, service, user = m.groups()
    endpoint(doc, "source", src_ip, src_port if src_port.isdigit() else None)
    endpoint(doc, "destination", dst_ip, service if service.isdigit() else None)
    _user(doc, user)
    _set(_asa(doc), destination_interface=iface, service=service)
    ok = verdict == "permitted"
    _mark(
        doc["event"],
        ["authentication"],
        ["start"],
        "logged-in" if ok else "logon-failed",
        "success" if ok else "failure",
    )


def _ra_auth(m: re.Match[str], doc: dict[str, Any]) -> None:
    verdict, ip, user = m.groups()
    endpoint(doc, "source", ip)
    _user(doc, user)
    ok = verdict == "succeeded"
    _mark(
        doc["event"],
        ["authentication"],
        ["start"],
        "logged-in" if ok else "logon-failed",
        "success" if ok else "failure",
    )


def _command(m: re.Match[str], doc: dict[str, Any]) -> None:
    user, ip, command = m.groups()
    _user(doc, user)
    endpoint(doc, "source", ip)
    _set(_asa(doc), command_line=command)
    _mark(doc["event"], ["configuration"], ["change"], "executed-command", "success")


Handler = tuple[re.Pattern[str], Callable[[re.Match[str], dict[str, Any]], None]]
_HANDLERS: dict[str, Handler] = {
    "302013": (_BUILT, _built),
    "302015": (_BUILT, _built),
    "302014": (_TEARDOWN, _teardown),
    "302016": (_TEARDOWN, _teardown),
    "302020": (_ICMP, _icmp),
    "302021": (_ICMP, _icmp),
    "106023": (_ACL_DENY, _acl_deny),
    "106001": (_INBOUND_DENY, _inbound_deny),
    "106006": (_INBOUND_DENY, _inbound_deny),
    "106007": (_INBOUND_DENY, _inbound_deny),
    "106015": (_INBOUND_DENY, _inbound_deny),
    "106100": (_ACL_LOG, _acl_log),
    "113004": (_AAA, _aaa),
    "113005": (_AAA, _aaa),
    "113012": (_AAA, _aaa),
    "113015": (_AAA, _aaa),
    "605004": (_MGMT_LOGIN, _mgmt_login),
    "605005": (_MGMT_LOGIN, _mgmt_login),
    "611101": (_RA_AUTH, _ra_auth),
    "611102": (_RA_AUTH, _ra_auth),
    "111008": (_COMMAND, _command),
    "111010": (_COMMAND, _command),
}


class CiscoAsa:
    name = "cisco_asa"
    typed_output = True  # documents built from typed values: see Normalizer.typed_output

    def parse(self, raw: str, ctx: ParseContext) -> dict[str, Any]:
        text = raw.rstrip("\r\n")
        mark = _MARK.search(text)
        if mark is None:
            raise NormalizeError(f"not a Cisco ASA message: no %ASA-<level>-<id>: in {truncate(text, 120)!r}")
        header = parse_prefix(text[: mark.start()], ctx)
        product, level, message_id = mark.group(1), int(mark.group(2)), mark.group(3)
        message = text[mark.end() :]
        event: dict[str, Any] = {
            "kind": "event",
            "module": "cisco",
            "dataset": "cisco.asa",
            "code": message_id,
            "severity": level,
        }
        observer: dict[str, Any] = {"vendor": "Cisco", "product": product, "type": "firewall"}
        doc: dict[str, Any] = {
            "@timestamp": header.timestamp if header and header.timestamp else ctx.received_at,
            "message": message,
            "event": event,
            "observer": observer,
            "log": {"level": SEVERITIES[level]},
            "cisco": {"asa": {"message_id": message_id, "severity": str(level)}},
        }
        if header is not None:
            if header.hostname:
                observer["hostname"] = header.hostname
                host = host_doc(header.hostname)
                if host is not None:
                    doc["host"] = host
            syslog = header.log_fields()
            if syslog:
                doc["log"]["syslog"] = syslog
        handler = _HANDLERS.get(message_id)
        if handler is not None:
            m = handler[0].search(message)
            if m is not None:
                handler[1](m, doc)
        return doc

    def sniff(self, raw: str) -> bool:
        if "%ASA-" in raw or "%FTD-" in raw or "%PIX-" in raw or "%FWSM-" in raw:
            return _MARK.search(raw) is not None
        return False


NORMALIZER = CiscoAsa()
