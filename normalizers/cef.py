"""ArcSight Common Event Format (CEF), with or without a syslog header -> ECS.

    <134>Jul  1 08:00:00 ksc01 CEF:0|KasperskyLab|SecurityCenter|14.2.0.26967|GNRL_EV_VIRUS_FOUND|
    Virus found|8|rt=1751331600000 dhost=PC-KETOAN-01 dst=10.20.1.15 duser=SOCTRANG\\\\lan.nt ...

Header fields are pipe-separated (`\\|` and `\\\\` escaped); the extension is `key=value` pairs
whose values may hold spaces and escape `\\=`, `\\\\`, `\\n`, `\\r`. Every extension pair is kept as
text under `cef.extensions.<key>`; the header under `cef.version/name/severity` and
`cef.device.{vendor,product,version,event_class_id}`. Standard keys mapped to ECS:

| CEF | ECS |
| --- | --- |
| src, spt, smac, shost / dst, dpt, dmac, dhost | source.* / destination.* (ip, port, mac, domain) |
| suser, suid / duser, duid | source.user.* / destination.user.*; `user.name` = duser, else suser |
| proto, app, in, out | network.transport, network.protocol, source.bytes, destination.bytes |
| act | event.action (`allow`/`deny` when it says so, else as sent) |
| outcome, reason, msg, cat | event.outcome (success/failure), event.reason, message (else the header name) |
| rt, start, end | @timestamp (else the syslog header time, else received), event.start, event.end |
| dvchost, dvc, deviceExternalId | observer.hostname, observer.ip, observer.name |
| fname, filePath, fsize, fileHash | file.name, file.path, file.size, file.hash.md5/sha1/sha256 (by length) |
| request, requestMethod, requestClientApplication | url.original, http.request.method, user_agent.original |
| dproc, dpid | process.name, process.pid |

`host.*` is the device (`dvchost`, else the syslog host), except for Kaspersky Security Center
exports, where it is the managed computer the event is about (`dhost`/`dst`).

Kaspersky (vendor `KasperskyLab`/`Kaspersky Lab`...): `event.module: kaspersky`. Detections
(GNRL_EV_VIRUS_FOUND, _SUSPICIOUS_OBJECT_FOUND, _OBJECT_CURED, _DELETED, _QUARANTINED, _NOTCURED,
_BLOCKED, _VIRUS_OUTBREAK) get `event.category: [malware]` and an action such as
`malware-detected`; GNRL_EV_ATTACK_DETECTED is `intrusion_detection`. Task state reports from an
endpoint's protection application (`KLPRCI_TaskState`) have `event.action: heartbeat`: they show
that the computer's anti-malware is installed and reporting to the server (checklist VN-06).
Other events keep their class id as the action (lower-case, `-` for `_`). The detection text in
`msg` ("Name: ...\\r\\nObject path: ...") is read into `file.*`, `user.*` and
`kaspersky.threat_name`.
"""

from __future__ import annotations

import contextlib
import re
from datetime import datetime
from typing import Any

from normalizers._text_common import MONTHS as _MONTHS
from normalizers._text_common import (
    add_related,
    endpoint,
    epoch_to_datetime,
    host_doc,
    parse_iso,
    parse_offset,
    to_int,
    transport,
    truncate,
)
from normalizers._text_syslog import infer_year, parse_prefix
from normalizers.base import ParseContext
from soc_core.errors import NormalizeError

_FIELD = r"([^|\\]*(?:\\.[^|\\]*)*)"
_HEADER = re.compile(r"CEF: ?(\d+(?:\.\d+)?)\|" + (_FIELD + r"\|") * 6 + r"(.*)", re.S)
# A key follows a space; splitting " " + text on it leaves [junk, k1, v1, k2, v2, ...]. (An
# alternation such as `(?:^|\s+)` here costs the regex engine a retry at every space of a value.)
_EXT_SPLIT = re.compile(r" ([\w.\[\]-]+)=")
_SIDES = (
    ("source", "shost", "smac", "suser", "suid", "sntdom"),
    ("destination", "dhost", "dmac", "duser", "duid", "dntdom"),
)
_CEF_TIME = re.compile(
    r"([A-Za-z]{3}) (\d{1,2})(?: (\d{4}))? (\d\d):(\d\d):(\d\d)(?:\.(\d{1,3}))?(?: (\S+))?"
)
_SEVERITY_WORDS = {"unknown": 0, "low": 3, "medium": 6, "high": 8, "very-high": 10, "very high": 10}
_ALLOW = frozenset({"allow", "allowed", "accept", "accepted", "permit", "permitted", "pass", "passed"})
_DENY = frozenset({"deny", "denied", "block", "blocked", "drop", "dropped", "reject", "rejected"})
_KASPERSKY_VENDORS = frozenset({"kasperskylab", "kaspersky lab", "ao kaspersky lab", "kaspersky"})
_KASPERSKY_ACTIONS: dict[str, tuple[list[str], list[str], str]] = {
    "GNRL_EV_VIRUS_FOUND": (["malware"], ["info"], "malware-detected"),
    "GNRL_EV_SUSPICIOUS_OBJECT_FOUND": (["malware"], ["info"], "suspicious-object-detected"),
    "GNRL_EV_OBJECT_CURED": (["malware"], ["change"], "malware-cleaned"),
    "GNRL_EV_OBJECT_DELETED": (["malware"], ["deletion"], "malware-deleted"),
    "GNRL_EV_OBJECT_QUARANTINED": (["malware"], ["change"], "malware-quarantined"),
    "GNRL_EV_OBJECT_NOTCURED": (["malware"], ["info"], "malware-not-cleaned"),
    "GNRL_EV_OBJECT_BLOCKED": (["malware"], ["denied"], "malware-blocked"),
    "GNRL_EV_VIRUS_OUTBREAK": (["malware"], ["info"], "virus-outbreak"),
    "GNRL_EV_ATTACK_DETECTED": (["intrusion_detection", "network"], ["denied"], "network-attack-detected"),
    "GNRL_EV_APPLICATION_LAUNCH_DENIED": (["process"], ["denied"], "application-launch-denied"),
    "KLPRCI_TASKSTATE": (["host"], ["info"], "heartbeat"),
}


def _unescape(value: str, header: bool = False) -> str:
    """CEF escapes: `\\\\` and `\\|` in the header; `\\\\`, `\\=`, `\\n`, `\\r` in the extension.

    Split on the escaped backslash first so that `\\\\n` stays a backslash and an `n`; plain
    `str.replace` on the pieces is much faster than a regex callback per escape.
    """
    pieces = value.split("\\\\")
    if header:
        pieces = [p.replace("\\|", "|") for p in pieces]
    else:
        pieces = [
            p.replace("\\=", "=").replace("\\n", "\n").replace("\\r", "\r").replace("\\|", "|")
            for p in pieces
        ]
    return "\\".join(pieces)


def parse_extension(text: str) -> dict[str, str]:
    """`k=v with spaces k2=v\\=2` -> {k: 'v with spaces', k2: 'v=2'}."""
    parts = _EXT_SPLIT.split(" " + text.rstrip())
    out: dict[str, str] = {}
    for index in range(1, len(parts) - 1, 2):
        value = parts[index + 1].rstrip(" ")
        out[parts[index]] = _unescape(value) if "\\" in value else value
    return out


def _cef_time(value: str, ctx: ParseContext) -> Any:
    """CEF `rt`/`start`/`end`: epoch ms, `MMM dd [yyyy] HH:mm:ss[.SSS] [zone]`, or ISO 8601."""
    if value.isdigit():
        return epoch_to_datetime(value)
    m = _CEF_TIME.fullmatch(value)
    if m is not None:
        month = _MONTHS.get(m.group(1).lower())
        if month is None:
            raise NormalizeError(f"bad month in CEF time {value!r}")
        zone = parse_offset(m.group(8).replace("GMT", "") or "Z") if m.group(8) else None
        zone = zone or ctx.timezone
        ms = int(m.group(7).ljust(3, "0")) * 1000 if m.group(7) else 0
        hh, mm, ss = int(m.group(4)), int(m.group(5)), int(m.group(6))
        if m.group(3):
            try:
                return datetime(int(m.group(3)), month, int(m.group(2)), hh, mm, ss, ms, tzinfo=zone)
            except ValueError:
                raise NormalizeError(f"invalid CEF time {value!r}") from None
        return infer_year(month, int(m.group(2)), hh, mm, ss, ms, zone, ctx.received_at)
    return parse_iso(value, ctx.timezone)


def _hash(value: str) -> dict[str, str] | None:
    algo = {32: "md5", 40: "sha1", 64: "sha256"}.get(len(value))
    if algo is None or not all(c in "0123456789abcdefABCDEF" for c in value):
        return None
    return {algo: value.lower()}


class Cef:
    name = "cef"
    typed_output = True  # documents built from typed values: see Normalizer.typed_output

    def parse(self, raw: str, ctx: ParseContext) -> dict[str, Any]:
        text = raw.rstrip("\r\n")
        start = text.find("CEF:")
        if start < 0:
            raise NormalizeError(f"not a CEF record: no 'CEF:' in {truncate(text, 120)!r}")
        m = _HEADER.match(text, start)
        if m is None:
            pipes = text.count("|", start)
            raise NormalizeError(f"CEF header needs 7 '|'-separated fields after 'CEF:', found {pipes} pipes")
        header = parse_prefix(text[:start], ctx) if start else None
        version = m.group(1)
        vendor, product, device_version, class_id, name, severity = [
            _unescape(f, header=True) if "\\" in f else f for f in m.group(2, 3, 4, 5, 6, 7)
        ]
        ext = parse_extension(m.group(8))
        kaspersky = vendor.lower() in _KASPERSKY_VENDORS
        event: dict[str, Any] = {"kind": "event", "code": class_id}
        cef: dict[str, Any] = {
            "version": version,
            "name": name,
            "severity": severity,
            "device": {
                "vendor": vendor,
                "product": product,
                "version": device_version,
                "event_class_id": class_id,
            },
        }
        if ext:
            cef["extensions"] = ext
        doc: dict[str, Any] = {"event": event, "cef": cef}
        level = to_int(severity)
        if level is None:
            level = _SEVERITY_WORDS.get(severity.lower())
        if level is not None:
            event["severity"] = level
        doc["@timestamp"] = self._timestamp(ext, header.timestamp if header else None, ctx)
        for key, target in (("start", "start"), ("end", "end")):
            if ext.get(key):
                with contextlib.suppress(NormalizeError):  # a bad optional time loses only itself
                    event[target] = _cef_time(ext[key], ctx)
        doc["message"] = ext.get("msg") or name
        self._observer(doc, vendor, product, device_version, ext, header.hostname if header else None)
        self._network(doc, ext)
        self._details(doc, ext)
        if kaspersky:
            self._kaspersky(doc, event, product, class_id, ext)
        else:
            slug = re.sub(r"[^a-z0-9]+", "_", vendor.lower()).strip("_") or "cef"
            event["module"] = slug
            event["dataset"] = f"{slug}.{re.sub(r'[^a-z0-9]+', '_', product.lower()).strip('_') or 'log'}"
            host = host_doc(ext.get("dvchost") or (header.hostname if header else None))
            if host is not None:
                doc["host"] = host
        act = ext.get("act")
        if act and "action" not in event:
            lowered = act.lower()
            event["action"] = "allow" if lowered in _ALLOW else "deny" if lowered in _DENY else act
        outcome = ext.get("outcome", "").lower()
        if outcome in ("success", "failure", "unknown"):
            event["outcome"] = outcome
        elif outcome in ("succeeded", "successful", "ok"):
            event["outcome"] = "success"
        elif outcome in ("failed", "fail", "failure"):
            event["outcome"] = "failure"
        if ext.get("reason"):
            event["reason"] = ext["reason"]
        return doc

    @staticmethod
    def _timestamp(ext: dict[str, str], header_time: Any, ctx: ParseContext) -> Any:
        rt = ext.get("rt")
        if rt:
            return _cef_time(rt, ctx)
        if header_time is not None:
            return header_time
        if ext.get("end"):
            return _cef_time(ext["end"], ctx)
        return ctx.received_at

    @staticmethod
    def _observer(
        doc: dict[str, Any], vendor: str, product: str, version: str, ext: dict[str, str], relay: str | None
    ) -> None:
        observer: dict[str, Any] = {"vendor": vendor, "product": product}
        if version:
            observer["version"] = version
        hostname = ext.get("dvchost") or relay
        if hostname:
            observer["hostname"] = hostname
        if ext.get("dvc"):
            observer["ip"] = ext["dvc"]
        if ext.get("deviceExternalId"):
            observer["name"] = ext["deviceExternalId"]
        doc["observer"] = observer

    @staticmethod
    def _network(doc: dict[str, Any], ext: dict[str, str]) -> None:
        endpoint(doc, "source", ext.get("src"), ext.get("spt"))
        endpoint(doc, "destination", ext.get("dst"), ext.get("dpt"))
        for side, host, mac, user_key, uid, domain in _SIDES:
            values: dict[str, Any] = {}
            if host in ext:
                values["domain"] = ext[host]
            if mac in ext:
                values["mac"] = ext[mac].upper().replace(":", "-")
            if user_key in ext or uid in ext or domain in ext:
                user: dict[str, Any] = {}
                if ext.get(user_key):
                    user["name"] = ext[user_key]
                    add_related(doc, "user", user["name"])
                if ext.get(uid):
                    user["id"] = ext[uid]
                if ext.get(domain):
                    user["domain"] = ext[domain]
                if user:
                    values["user"] = user
            if values:
                doc.setdefault(side, {}).update(values)
        for side, key in (("source", "in"), ("destination", "out")):
            count = to_int(ext.get(key))
            if count is not None:
                doc.setdefault(side, {})["bytes"] = count
        user_name = ext.get("duser") or ext.get("suser")
        if user_name:
            domain, sep, short = user_name.rpartition("\\")
            doc["user"] = (
                {"name": short, "domain": domain} if sep and domain and short else {"name": user_name}
            )
        network: dict[str, Any] = {}
        name = transport(ext.get("proto"))
        if name:
            network["transport"] = name
        if ext.get("app"):
            network["protocol"] = ext["app"].lower()
        if network:
            doc["network"] = network

    @staticmethod
    def _details(doc: dict[str, Any], ext: dict[str, str]) -> None:
        file: dict[str, Any] = {}
        if ext.get("fname"):
            file["name"] = ext["fname"]
        if ext.get("filePath"):
            file["path"] = ext["filePath"]
        size = to_int(ext.get("fsize"))
        if size is not None:
            file["size"] = size
        hashed = _hash(ext.get("fileHash", ""))
        if hashed:
            file["hash"] = hashed
        if file:
            doc["file"] = file
        if ext.get("request"):
            doc["url"] = {"original": ext["request"]}
        if ext.get("requestMethod"):
            doc["http"] = {"request": {"method": ext["requestMethod"]}}
        if ext.get("requestClientApplication"):
            doc["user_agent"] = {"original": ext["requestClientApplication"]}
        process: dict[str, Any] = {}
        if ext.get("dproc"):
            process["name"] = ext["dproc"].replace("\\", "/").rpartition("/")[2]
            if "\\" in ext["dproc"] or "/" in ext["dproc"]:
                process["executable"] = ext["dproc"]
        pid = to_int(ext.get("dpid"))
        if pid is not None:
            process["pid"] = pid
        if process:
            doc["process"] = process

    @staticmethod
    def _kaspersky(
        doc: dict[str, Any], event: dict[str, Any], product: str, class_id: str, ext: dict[str, str]
    ) -> None:
        event["module"] = "kaspersky"
        event["dataset"] = (
            "kaspersky.security_center" if "center" in product.lower() else "kaspersky.endpoint"
        )
        mapping = _KASPERSKY_ACTIONS.get(class_id.upper())
        if mapping is not None:
            event["category"], event["type"], event["action"] = list(mapping[0]), list(mapping[1]), mapping[2]
        else:
            event["action"] = class_id.lower().replace("_", "-")
        host = host_doc(ext.get("dhost") or ext.get("dst"))
        if host is not None:
            if ext.get("dst") and ext.get("dhost"):
                host["ip"] = [ext["dst"]]
            doc["host"] = host
            add_related(doc, "hosts", host["name"])
        labels = {v: ext.get(k[:-5], "") for k, v in ext.items() if k.endswith("Label")}
        kaspersky: dict[str, Any] = {}
        for label, key in (
            ("GroupName", "group_name"),
            ("ProductName", "product_name"),
            ("TaskName", "task_name"),
        ):
            if labels.get(label):
                kaspersky[key] = labels[label]
        message = ext.get("msg", "")
        details: dict[str, str] = {}
        if ": " in message:
            for line in message.splitlines():
                key, sep, value = line.partition(": ")
                if sep and 0 < len(key) <= 40:
                    details.setdefault(key, value)
        threat = details.get("Name") or labels.get("VirusName") or labels.get("Virus name")
        if threat and mapping is not None and mapping[0] == ["malware"]:
            kaspersky["threat_name"] = threat.strip()
        path, name = details.get("Object path"), details.get("Object name")
        file: dict[str, Any] = doc.get("file", {})
        if name and "name" not in file:
            file["name"] = name.strip()
        if path and "path" not in file:
            path = path.strip()
            file["path"] = (
                path if not name or path.endswith(name.strip()) else path.rstrip("\\/") + "\\" + name.strip()
            )
        for key in ("MD5 of an object", "SHA256 of an object"):
            hashed = _hash(details.get(key, "").strip())
            if hashed:
                file.setdefault("hash", {}).update(hashed)
        if file:
            doc["file"] = file
        user = details.get("User")
        if user and "user" not in doc:
            account = user.split(" (", 1)[0].strip()
            domain, sep, short = account.rpartition("\\")
            doc["user"] = {"name": short, "domain": domain} if sep else {"name": account}
        if kaspersky:
            doc["kaspersky"] = kaspersky

    def sniff(self, raw: str) -> bool:
        index = raw.find("CEF:")
        return index >= 0 and raw.count("|", index) >= 7


NORMALIZER = Cef()
