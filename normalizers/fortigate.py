"""FortiGate (FortiOS) logs in the default key=value syslog format -> ECS.

    <189>date=2025-07-01 time=08:00:00 devname="FGT-HQ" devid="FG100F..." eventtime=1751331600123456789
    tz="+0700" logid="0000000013" type="traffic" subtype="forward" level="notice" srcip=10.0.0.5 ...

Values are bare or double-quoted (quoted ones may hold spaces and `\\"`). A syslog header in front
(`<PRI>` alone as FortiOS sends it, or a relay's `Jul  1 08:00:00 fw01 `) is skipped. Time:
`eventtime` (epoch; s, ms, µs or ns depending on FortiOS version) when present, else `date` +
`time` in the `tz` offset (else the source's zone).

Every pair is kept verbatim under `fortinet.firewall.<key>` (FIELDS.md). ECS: `source/destination`
(`srcip/srcport/dstip/dstport`, NAT from `transip/transport/tranip/tranport`, bytes and packets),
`network.transport` (`proto`), `observer.*` (`devname`, `devid`, interfaces), `rule.id/name/uuid`
(`policyid/policyname/poluuid`), `user.name`, `event.code` (`logid`), `message` (`msg`, else
`logdesc`), `event.action`: `allow`/`deny` for the forwarding decision (accept, close, timeout,
client-rst, server-rst, pass, passthrough / deny, block, blocked, dropped, reset), otherwise the
vendor action (`login`, `tunnel-up`, `detected`...). Categories: traffic -> network; utm virus ->
malware; ips/anomaly -> intrusion_detection; webfilter -> web; dns -> network with `dns.question.name`;
event login/logout -> authentication; configuration changes -> configuration.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from normalizers._text_common import (
    absent,
    add_related,
    clean_ip,
    endpoint,
    epoch_to_datetime,
    host_doc,
    parse_offset,
    to_int,
    transport,
    truncate,
)
from normalizers._text_syslog import parse_prefix
from normalizers._text_web import set_url
from normalizers.base import ParseContext
from soc_core.errors import NormalizeError

# key="quoted \"value\"" or key=bare; the quoted branch is an unrolled loop (no per-char alternation).
_KV = re.compile(r'([A-Za-z_][\w-]*)=(?:"([^"\\]*(?:\\.[^"\\]*)*)"|([^\s"]*))')
_FIRST_KV = re.compile(r"(?:^|(?<=[\s>]))[a-z_][\w-]*=")
_ESCAPE = re.compile(r"\\(.)")
_DATE = re.compile(r"(\d{4})-(\d\d)-(\d\d)")
_TIME = re.compile(r"(\d\d):(\d\d):(\d\d)")

ALLOW = frozenset(
    {"accept", "close", "timeout", "client-rst", "server-rst", "start", "pass", "passthrough", "permit"}
)
DENY = frozenset({"deny", "block", "blocked", "dropped", "drop", "reset", "reject"})
_CONNECTION_END = frozenset({"close", "timeout", "client-rst", "server-rst"})
_UTM_CATEGORY = {
    "virus": ["malware"],
    "ips": ["intrusion_detection", "network"],
    "anomaly": ["intrusion_detection", "network"],
    "webfilter": ["web"],
    "dns": ["network"],
    "app-ctrl": ["network"],
    "dlp": ["network"],
    "waf": ["web", "intrusion_detection"],
    "emailfilter": ["email"],
    "ssl": ["network"],
    "ssh": ["network"],
    "file-filter": ["file"],
}


def parse_pairs(text: str) -> dict[str, str]:
    """`k=v k2="v 2"` -> {k: v}: quotes removed, `\\"` and `\\\\` undone; the first of a key wins."""
    pairs: dict[str, str] = {}
    for key, quoted, bare in _KV.findall(text):
        if key not in pairs:
            if quoted and "\\" in quoted:
                quoted = _ESCAPE.sub(r"\1", quoted)
            pairs[key] = quoted or bare
    return pairs


class Fortigate:
    name = "fortigate"
    typed_output = True  # documents built from typed values: see Normalizer.typed_output

    def parse(self, raw: str, ctx: ParseContext) -> dict[str, Any]:
        text = raw.strip()
        first = _FIRST_KV.search(text)
        if first is None:
            raise NormalizeError(
                f"not a FortiGate key=value log: no key=value pair in {truncate(text, 120)!r}"
            )
        header = parse_prefix(text[: first.start()], ctx) if first.start() else None
        kv = parse_pairs(text[first.start() :])
        if "logid" not in kv and "devid" not in kv:
            raise NormalizeError(
                f"not a FortiGate log: key=value pairs without logid/devid in {truncate(text, 120)!r}"
            )
        log_type = kv.get("type", "")
        subtype = kv.get("subtype", "")
        event: dict[str, Any] = {
            "kind": "event",
            "module": "fortinet",
            "dataset": "fortinet.firewall",
            "provider": log_type or None,
        }
        doc: dict[str, Any] = {
            "@timestamp": self._timestamp(kv, header.timestamp if header else None, ctx),
            "event": event,
            "fortinet": {"firewall": kv},
        }
        if not event["provider"]:
            del event["provider"]
        logid = kv.get("logid")
        if logid:
            event["code"] = logid
        message = kv.get("msg") or kv.get("logdesc")
        if message:
            doc["message"] = message
        level = kv.get("level")
        if level:
            doc["log"] = {"level": level}
        self._observer(doc, kv, header.hostname if header else None)
        self._network(doc, kv)
        self._classify(doc, event, kv, log_type, subtype)
        return doc

    @staticmethod
    def _timestamp(kv: dict[str, str], header_time: datetime | None, ctx: ParseContext) -> datetime:
        eventtime = kv.get("eventtime")
        if eventtime and eventtime.isdigit():
            return epoch_to_datetime(eventtime)
        d, t = _DATE.fullmatch(kv.get("date", "")), _TIME.fullmatch(kv.get("time", ""))
        if d is not None and t is not None:
            zone = parse_offset(kv.get("tz", "")) or ctx.timezone
            try:
                return datetime(
                    int(d.group(1)), int(d.group(2)), int(d.group(3)),
                    int(t.group(1)), int(t.group(2)), int(t.group(3)), tzinfo=zone,
                )  # fmt: skip
            except ValueError:
                raise NormalizeError(f"invalid FortiGate date/time {kv['date']} {kv['time']}") from None
        if header_time is not None:
            return header_time
        raise NormalizeError("FortiGate log has no eventtime, no date/time and no syslog timestamp")

    @staticmethod
    def _observer(doc: dict[str, Any], kv: dict[str, str], relay_host: str | None) -> None:
        observer: dict[str, Any] = {"vendor": "Fortinet", "product": "FortiGate", "type": "firewall"}
        name = kv.get("devname") or relay_host
        if name:
            observer["hostname"] = name
            observer["name"] = name
            host = host_doc(name)
            if host is not None:
                doc["host"] = host
        if kv.get("devid"):
            observer["serial_number"] = kv["devid"]
        if kv.get("srcintf"):
            observer["ingress"] = {"interface": {"name": kv["srcintf"]}}
        if kv.get("dstintf"):
            observer["egress"] = {"interface": {"name": kv["dstintf"]}}
        doc["observer"] = observer

    @staticmethod
    def _network(doc: dict[str, Any], kv: dict[str, str]) -> None:
        endpoint(doc, "source", kv.get("srcip") or kv.get("remip"), kv.get("srcport"))
        endpoint(doc, "destination", kv.get("dstip"), kv.get("dstport"))
        for side, prefix in (("source", "sent"), ("destination", "rcvd")):
            count = to_int(kv.get(f"{prefix}byte"))
            packets = to_int(kv.get(f"{prefix}pkt"))
            if count is not None or packets is not None:
                target = doc.setdefault(side, {})
                if count is not None:
                    target["bytes"] = count
                if packets is not None:
                    target["packets"] = packets
        for side, ip_key, port_key in (
            ("source", "transip", "transport"),
            ("destination", "tranip", "tranport"),
        ):
            nat_ip = clean_ip(kv.get(ip_key) or "")
            if nat_ip and side in doc:
                nat: dict[str, Any] = {"ip": nat_ip}
                nat_port = to_int(kv.get(port_key))
                if nat_port:
                    nat["port"] = nat_port
                doc[side]["nat"] = nat
        network: dict[str, Any] = {}
        proto = kv.get("proto")
        name = transport(proto)
        if name:
            network["transport"] = name
            if proto and proto.isdigit():
                network["iana_number"] = proto
        sent, received = to_int(kv.get("sentbyte")), to_int(kv.get("rcvdbyte"))
        if sent is not None and received is not None:
            network["bytes"] = sent + received
        if network:
            doc["network"] = network
        user = kv.get("user") or kv.get("unauthuser")
        if user and not absent(user):
            doc["user"] = {"name": user}
            add_related(doc, "user", user)
        rule: dict[str, Any] = {}
        if kv.get("policyid"):
            rule["id"] = kv["policyid"]
        if kv.get("policyname"):
            rule["name"] = kv["policyname"]
        if kv.get("poluuid"):
            rule["uuid"] = kv["poluuid"]
        if rule:
            doc["rule"] = rule
        duration = to_int(kv.get("duration"))
        if duration is not None:
            doc["event"]["duration"] = duration * 1_000_000_000

    @staticmethod
    def _classify(
        doc: dict[str, Any], event: dict[str, Any], kv: dict[str, str], log_type: str, subtype: str
    ) -> None:
        action = kv.get("action", "")
        verdict = "allow" if action in ALLOW else "deny" if action in DENY else action
        if verdict:
            event["action"] = verdict
        status = kv.get("status", "")
        if log_type == "traffic":
            event["category"] = ["network"]
            kinds = ["connection"]
            if verdict == "allow":
                kinds.append("allowed")
            elif verdict == "deny":
                kinds.append("denied")
            if action in _CONNECTION_END:
                kinds.append("end")
            event["type"] = kinds
        elif log_type == "utm":
            event["category"] = _UTM_CATEGORY.get(subtype, ["network"])
            event["type"] = (
                ["denied"] if verdict == "deny" else ["allowed"] if verdict == "allow" else ["info"]
            )
            if subtype == "virus" and kv.get("filename"):
                doc["file"] = {"name": kv["filename"]}
            if subtype == "dns" and kv.get("qname"):
                question: dict[str, Any] = {"name": kv["qname"]}
                if kv.get("qtype"):
                    question["type"] = kv["qtype"]
                if kv.get("qclass"):
                    question["class"] = kv["qclass"]
                doc["dns"] = {"question": question}
            if kv.get("url") and subtype in ("webfilter", "app-ctrl", "ips", "virus", "waf"):
                set_url(doc, kv["url"])
            if kv.get("hostname") and subtype in ("webfilter", "app-ctrl", "ips", "virus", "waf"):
                doc.setdefault("url", {})["domain"] = kv["hostname"]
        elif log_type == "event":
            lowered = action.lower()
            if "login" in lowered or "logout" in lowered or (subtype == "user" and "auth" in lowered):
                event["category"] = ["authentication"]
                event["type"] = ["end"] if "logout" in lowered else ["start"]
                failed = "fail" in lowered or status in ("failed", "failure", "denied")
                event["outcome"] = "failure" if failed else "success"
            elif kv.get("cfgpath") or lowered in ("add", "edit", "delete", "move"):
                event["category"] = ["configuration"]
                event["type"] = ["change"]
            elif lowered.startswith("tunnel-"):
                event["category"] = ["network"]
                event["type"] = ["connection", "end" if lowered == "tunnel-down" else "start"]
            if status in ("success", "failed", "failure") and "outcome" not in event:
                event["outcome"] = "success" if status == "success" else "failure"

    def sniff(self, raw: str) -> bool:
        return "logid=" in raw and ("devid=" in raw or "devname=" in raw) and "type=" in raw


NORMALIZER = Fortigate()
