"""Rebuild the raw-log samples of the provincial correlation rules. A dev tool, not a test.

    .venv/bin/python tests/detections/make_provincial_samples.py     # then review the diff

Each correlation rule `correlation_<x>.yml` in detections/rules/provincial gets raw log files beside it,
in the formats the province's sources send (rsyslog file format for sshd, NXLog JSON for the
Windows Security log, combined access logs, FortiGate key=value, Winlogbeat JSON for Defender,
Kaspersky Security Center CEF):

    correlation_<x>.fire[-<case>].log       must raise the alerts listed in the manifest
    correlation_<x>.nofire-<case>.log       must raise no alert of that rule (and whatever else listed)
    correlation_<x>.samples.json            the manifest: per file, the expected alert count of every
                                     correlation rule of the pack (by `name`), the unit to stamp
                                     (`socpipe detect --unit`) and why the case fires or not

The lines are modelled on the normalizers' golden samples (tests/normalizers/*), with the
surrounding lines a real source writes (pam_unix, connection closed, the login form GET...), so
the base rules are tested against noise too. Times are Asia/Ho_Chi_Minh on 15/07/2025; a case
that must fire keeps its events inside one aligned window of the rule's timespan (08:30-08:35 for
5 minutes), so the expectation holds whether the engine's windows slide or are aligned buckets.
The base rules' `.match.json` / `.nomatch.json` are the normalized form of lines built here.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PACK = ROOT / "detections" / "rules" / "provincial"
sys.path.insert(0, str(ROOT))

from normalizers.stage import NormalizeStage  # noqa: E402
from soc_core.event import Event  # noqa: E402
from soc_core.records import RawRecord  # noqa: E402

VN = timezone(timedelta(hours=7))
T0 = datetime(2025, 7, 15, 8, 30, 0, tzinfo=VN)  # a Tuesday morning; every 5m/30m/1h window starts here
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def at(minutes: float = 0, seconds: float = 0) -> datetime:
    return T0 + timedelta(minutes=minutes, seconds=seconds)


# -- sshd (rsyslog RSYSLOG_FileFormat: RFC 3339 time with microseconds) -------------------------


def _syslog(ts: datetime, host: str, program: str, pid: int, message: str) -> str:
    return f"{ts.isoformat(timespec='microseconds')} {host} {program}[{pid}]: {message}"


def ssh_failed(
    ts: datetime, host: str, ip: str, user: str, *, valid: bool = True, pid: int = 30514
) -> list[str]:
    """One wrong password, with the lines OpenSSH and pam_unix write around it."""
    port = 40000 + (pid * 7 + int(ts.timestamp())) % 20000
    if valid:
        return [
            _syslog(
                ts,
                host,
                "sshd",
                pid,
                "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= "
                f"rhost={ip}  user={user}",
            ),
            _syslog(
                ts + timedelta(seconds=2),
                host,
                "sshd",
                pid,
                f"Failed password for {user} from {ip} port {port} ssh2",
            ),
            _syslog(
                ts + timedelta(seconds=3),
                host,
                "sshd",
                pid,
                f"Connection closed by authenticating user {user} {ip} port {port} [preauth]",
            ),
        ]
    return [
        _syslog(ts, host, "sshd", pid, f"Invalid user {user} from {ip} port {port}"),
        _syslog(
            ts + timedelta(seconds=1), host, "sshd", pid, "pam_unix(sshd:auth): check pass; user unknown"
        ),
        _syslog(
            ts + timedelta(seconds=1),
            host,
            "sshd",
            pid,
            f"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}",
        ),
        _syslog(
            ts + timedelta(seconds=3),
            host,
            "sshd",
            pid,
            f"Failed password for invalid user {user} from {ip} port {port} ssh2",
        ),
        _syslog(
            ts + timedelta(seconds=4),
            host,
            "sshd",
            pid,
            f"Connection closed by invalid user {user} {ip} port {port} [preauth]",
        ),
    ]


def ssh_probe(ts: datetime, host: str, ip: str, user: str, pid: int = 30600) -> list[str]:
    """A scanner naming a user and leaving before it sends a password."""
    port = 50000 + pid % 9000
    return [
        _syslog(ts, host, "sshd", pid, f"Invalid user {user} from {ip} port {port}"),
        _syslog(
            ts + timedelta(seconds=1),
            host,
            "sshd",
            pid,
            f"Connection closed by invalid user {user} {ip} port {port} [preauth]",
        ),
    ]


def ssh_accepted(
    ts: datetime, host: str, ip: str, user: str, method: str = "password", pid: int = 31877
) -> list[str]:
    port = 50514 + pid % 1000
    return [
        _syslog(ts, host, "sshd", pid, f"Accepted {method} for {user} from {ip} port {port} ssh2"),
        _syslog(
            ts,
            host,
            "sshd",
            pid,
            f"pam_unix(sshd:session): session opened for user {user}(uid=1000) by (uid=0)",
        ),
        _syslog(ts + timedelta(seconds=1), host, "systemd-logind", 812, f"New session 4021 of user {user}."),
    ]


# -- Windows Security via NXLog (im_msvistalog, JSON) ------------------------------------------


def _nxlog(ts: datetime, computer: str, event_id: int, data: dict[str, str]) -> str:
    success = event_id != 4625
    doc: dict[str, Any] = {
        "EventTime": ts.isoformat(timespec="microseconds"),
        "Hostname": computer,
        "Keywords": "9232379236109516800" if success else "9227875636482146304",
        "EventType": "AUDIT_SUCCESS" if success else "AUDIT_FAILURE",
        "SeverityValue": 2 if success else 4,
        "Severity": "INFO" if success else "ERROR",
        "EventID": event_id,
        "SourceName": "Microsoft-Windows-Security-Auditing",
        "ProviderGuid": "{54849625-5478-4994-A5BA-3E3B0328C30D}",
        "Version": 0 if event_id == 4625 else 2,
        "TaskValue": 12544,
        "OpcodeValue": 0,
        "RecordNumber": 5_214_000 + int((ts - T0).total_seconds() * 4),  # grows with time, like the log
        "ExecutionProcessID": 684,
        "ExecutionThreadID": 4120,
        "Channel": "Security",
        "Category": "Logon",
        "Opcode": "Info",
        **data,
        "EventReceivedTime": (ts + timedelta(seconds=1)).isoformat(timespec="microseconds"),
        "SourceModuleName": "eventlog",
        "SourceModuleType": "im_msvistalog",
    }
    return json.dumps(doc, ensure_ascii=False)


def win_failed(
    ts: datetime,
    computer: str,
    ip: str,
    user: str,
    *,
    logon_type: int = 3,
    workstation: str = "-",
    unknown_user: bool = False,
) -> list[str]:
    domain = computer.split(".", 1)[1].split(".")[0].upper() if "." in computer else computer
    return [
        _nxlog(
            ts,
            computer,
            4625,
            {
                "SubjectUserSid": "S-1-0-0",
                "SubjectUserName": "-",
                "SubjectDomainName": "-",
                "SubjectLogonId": "0x0",
                "TargetUserSid": "S-1-0-0",
                "TargetUserName": user,
                "TargetDomainName": domain,
                "Status": "0xc000006d",
                "FailureReason": "%%2313",
                "SubStatus": "0xc0000064" if unknown_user else "0xc000006a",
                "LogonType": str(logon_type),
                "LogonProcessName": "NtLmSsp ",
                "AuthenticationPackageName": "NTLM",
                "WorkstationName": workstation,
                "TransmittedServices": "-",
                "LmPackageName": "-",
                "KeyLength": "0",
                "ProcessId": "0x0",
                "ProcessName": "-",
                "IpAddress": ip,
                "IpPort": "0",
            },
        )
    ]


def win_failed_local(ts: datetime, computer: str, user: str) -> list[str]:
    """A wrong password typed at the console (type 2): no remote address."""
    domain = computer.split(".", 1)[1].split(".")[0].upper() if "." in computer else computer
    return [
        _nxlog(
            ts,
            computer,
            4625,
            {
                "SubjectUserSid": "S-1-5-18",
                "SubjectUserName": computer.split(".")[0].upper() + "$",
                "SubjectDomainName": domain,
                "SubjectLogonId": "0x3e7",
                "TargetUserSid": "S-1-0-0",
                "TargetUserName": user,
                "TargetDomainName": domain,
                "Status": "0xc000006d",
                "FailureReason": "%%2313",
                "SubStatus": "0xc000006a",
                "LogonType": "2",
                "LogonProcessName": "User32 ",
                "AuthenticationPackageName": "Negotiate",
                "WorkstationName": computer.split(".")[0].upper(),
                "TransmittedServices": "-",
                "LmPackageName": "-",
                "KeyLength": "0",
                "ProcessId": "0x2d4",
                "ProcessName": "C:\\Windows\\System32\\svchost.exe",
                "IpAddress": "127.0.0.1",
                "IpPort": "0",
            },
        )
    ]


def win_logon(ts: datetime, computer: str, ip: str, user: str, *, logon_type: int = 10) -> list[str]:
    domain = computer.split(".", 1)[1].split(".")[0].upper() if "." in computer else computer
    return [
        _nxlog(
            ts,
            computer,
            4624,
            {
                "SubjectUserSid": "S-1-5-18",
                "SubjectUserName": computer.split(".")[0].upper() + "$",
                "SubjectDomainName": domain,
                "SubjectLogonId": "0x3e7",
                "TargetUserSid": "S-1-5-21-2241570138-1405371312-3213513240-1118",
                "TargetUserName": user,
                "TargetDomainName": domain,
                "TargetLogonId": "0x8b2f1c4",
                "LogonType": str(logon_type),
                "LogonProcessName": "User32 " if logon_type == 10 else "NtLmSsp ",
                "AuthenticationPackageName": "Negotiate" if logon_type == 10 else "NTLM",
                "WorkstationName": computer.split(".")[0].upper(),
                "LogonGuid": "{00000000-0000-0000-0000-000000000000}",
                "TransmittedServices": "-",
                "LmPackageName": "-",
                "KeyLength": "0",
                "ProcessId": "0x1c8" if logon_type == 10 else "0x0",
                "ProcessName": "C:\\Windows\\System32\\svchost.exe" if logon_type == 10 else "-",
                "IpAddress": ip,
                "IpPort": "0",
                "ImpersonationLevel": "%%1833",
                "RestrictedAdminMode": "-",
                "TargetOutboundUserName": "-",
                "TargetOutboundDomainName": "-",
                "VirtualAccount": "%%1843",
                "TargetLinkedLogonId": "0x0",
                "ElevatedToken": "%%1842",
            },
        )
    ]


# -- web access (Apache/nginx combined) --------------------------------------------------------

UA_WPSCAN = "WPScan v3.8.25 (https://wpscan.com/wordpress-security-scanner)"
UA_BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)


def web(
    ts: datetime,
    ip: str,
    method: str,
    path: str,
    status: int,
    size: int = 4521,
    *,
    referer: str = "-",
    agent: str = UA_BROWSER,
) -> list[str]:
    when = f"{ts.day:02d}/{MONTHS[ts.month - 1]}/{ts.year}:{ts:%H:%M:%S} +0700"
    return [f'{ip} - - [{when}] "{method} {path} HTTP/1.1" {status} {size} "{referer}" "{agent}"']


IIS_FIELDS = (
    "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) "
    "cs(Referer) sc-status sc-substatus sc-win32-status time-taken"
)


def iis(ts: datetime, ip: str, method: str, path: str, status: int) -> list[str]:
    """One IIS W3C line (UTC, '+' for spaces), in the default field selection."""
    utc = ts.astimezone(UTC)
    agent = UA_BROWSER.replace(" ", "+")
    referer = f"https://congthongtin.tinh.gov.vn{path}"
    return [
        f"{utc:%Y-%m-%d %H:%M:%S} 10.20.2.10 {method} {path} - 443 - {ip} {agent} {referer} {status} 0 0 46"
    ]


def iis_log(lines: Lines) -> Lines:
    """An IIS log file: its header, then the data lines (already in time order)."""
    header = ["#Software: Microsoft Internet Information Services 10.0", "#Version: 1.0"]
    return [*header, f"#Date: {T0.astimezone(UTC):%Y-%m-%d %H:%M:%S}", IIS_FIELDS, *lines]


# -- FortiGate traffic (key=value, FortiOS 7 with eventtime in ns) -----------------------------

_session = iter(range(190_112_400, 999_999_999))
SERVICES = {
    21: "FTP",
    22: "SSH",
    23: "TELNET",
    80: "HTTP",
    443: "HTTPS",
    445: "SMB",
    3389: "RDP",
    3306: "MYSQL",
}


def fgt(
    ts: datetime,
    src: str,
    dst: str,
    dport: int,
    *,
    action: str = "deny",
    sport: int = 51928,
    inside: bool = False,
) -> list[str]:
    ns = int(ts.timestamp()) * 1_000_000_000 + 412_345_678
    local = ts.astimezone(VN)
    src_intf, src_role = ("port1", "lan") if inside else ("wan1", "wan")
    dst_intf, dst_role = ("dmz", "dmz") if not inside else ("port2", "lan")
    allowed = action != "deny"
    service = SERVICES.get(dport, f"tcp/{dport}")
    policy = (
        'policyid=12 policytype="policy" poluuid="9f1e2d3c-4b5a-51ee-a1b2-c3d4e5f6a7b8" '
        'policyname="WAN-to-DMZ-web"'
    )
    if not allowed:
        policy = 'policyid=0 policytype="policy"'
    counters = (
        "duration=0 sentbyte=0 rcvdbyte=0 sentpkt=0"
        if not allowed
        else "duration=3 sentbyte=1850 rcvdbyte=5120 sentpkt=9 rcvdpkt=8"
    )
    country = (
        'srccountry="Reserved" dstcountry="Reserved"'
        if inside
        else 'srccountry="Netherlands" dstcountry="Vietnam"'
    )
    return [
        f'date={local:%Y-%m-%d} time={local:%H:%M:%S} devname="FGT-SOTTTT" devid="FG100FTK21000123" '
        f'eventtime={ns} tz="+0700" logid="0000000013" type="traffic" subtype="forward" level="notice" '
        f'vd="root" srcip={src} srcport={sport} srcintf="{src_intf}" srcintfrole="{src_role}" '
        f"dstip={dst} dstport={dport} "
        f'dstintf="{dst_intf}" dstintfrole="{dst_role}" {country} sessionid={next(_session)} proto=6 '
        f'action="{action}" {policy} service="{service}" trandisp="noop" {counters} appcat="unscanned"'
        + (' crscore=30 craction=131072 crlevel="high"' if not allowed else "")
    ]


# -- anti-malware: Defender (Winlogbeat 8) and Kaspersky Security Center (CEF over syslog) -----

_detection = iter(range(1, 10_000))


def _utc_millis(ts: datetime) -> str:
    utc = ts.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _winlogbeat_defender(
    ts: datetime, host: str, event_id: int, level: str, record: int, data: dict[str, str]
) -> list[str]:
    """A Defender/Operational event as Winlogbeat 8 ships it (one JSON document per line)."""
    doc = {
        "@timestamp": _utc_millis(ts),
        "@metadata": {"beat": "winlogbeat", "type": "_doc", "version": "8.15.3"},
        "agent": {"type": "winlogbeat", "version": "8.15.3", "name": host.lower()},
        "ecs": {"version": "8.0.0"},
        "host": {"name": host.lower()},
        "log": {"level": level},
        "event": {"code": str(event_id), "kind": "event", "provider": "Microsoft-Windows-Windows Defender"},
        "winlog": {
            "api": "wineventlog",
            "channel": "Microsoft-Windows-Windows Defender/Operational",
            "computer_name": f"{host}.soyte.local",
            "event_id": str(event_id),
            "provider_name": "Microsoft-Windows-Windows Defender",
            "provider_guid": "{11CD958A-C507-4EF3-B3F2-5FD9DFBD2C78}",
            "record_id": record,
            "task": "None",
            "opcode": "Info",
            "level": level,
            "process": {"pid": 3412, "thread": {"id": 7012}},
            "user": {"identifier": "S-1-5-18"},
            "event_data": data,
        },
    }
    return [json.dumps(doc, ensure_ascii=False)]


def defender(ts: datetime, host: str, threat: str, path: str, user: str, event_id: int = 1116) -> list[str]:
    n = next(_detection)
    data = {
        "Product Name": "Microsoft Defender Antivirus",
        "Product Version": "4.18.24050.7",
        "Detection ID": f"{{6C1B2E4F-{n:04X}-4D2B-9E31-0A5F7C3B2D{n % 256:02X}}}",
        "Detection Time": _utc_millis(ts),
        "Threat ID": "2147735505",
        "Threat Name": threat,
        "Severity ID": "5",
        "Severity Name": "Severe",
        "Category ID": "8",
        "Category Name": "Trojan",
        "FWLink": "https://go.microsoft.com/fwlink/?linkid=37020&name="
        + threat
        + "&threatid=2147735505&enterprise=1",
        "Status Code": "1" if event_id == 1116 else "3",
        "State": "1" if event_id == 1116 else "2",
        "Source ID": "3",
        "Source Name": "Real-Time Protection",
        "Process Name": "C:\\Windows\\explorer.exe",
        "Detection User": f"SOYTE\\{user}",
        "Path": f"file:_{path}",
        "Origin ID": "4",
        "Origin Name": "Removable Storage",
        "Execution ID": "0",
        "Execution Name": "Unknown",
        "Type ID": "0",
        "Type Name": "Concrete",
        "Pre Execution Status": "0",
        "Action ID": "2" if event_id == 1117 else "9",
        "Action Name": "Quarantine" if event_id == 1117 else "Not Applicable",
        "Error Code": "0x00000000",
        "Error Description": "The operation completed successfully. ",
        "Post Clean Status": "0",
        "Additional Actions ID": "0",
        "Additional Actions String": "No additional actions required",
        "Security intelligence Version": "AV: 1.413.402.0, AS: 1.413.402.0, NIS: 1.413.402.0",
        "Engine Version": "AM: 1.1.24050.5, NIS: 1.1.24050.5",
    }
    return _winlogbeat_defender(ts, host, event_id, "warning", 4100 + n, data)


def _ksc_header(local: datetime) -> str:
    """Syslog header and CEF prefix of the Security Center's export (BSD timestamp, local time)."""
    when = f"{MONTHS[local.month - 1]} {local.day:2d} {local:%H:%M:%S}"
    return f"<134>{when} ksc-soyte CEF:0|KasperskyLab|SecurityCenter|14.2.0.26967"


def _cef(value: str) -> str:
    """A CEF extension value: backslash and '=' escaped."""
    return value.replace("\\", "\\\\").replace("=", "\\=")


def defender_scan(ts: datetime, host: str) -> list[str]:
    """Defender 1001 (a scan finished): the channel's most common event, no detection."""
    data = {
        "Product Name": "Microsoft Defender Antivirus",
        "Product Version": "4.18.24050.7",
        "Scan ID": "{4E3F1A2B-9C8D-4E7F-A6B5-C4D3E2F1A0B9}",
        "Scan Type": "Antimalware",
        "Scan Parameters": "Quick Scan",
        "Domain": "NT AUTHORITY",
        "User": "SYSTEM",
        "SID": "S-1-5-18",
        "Scan Time Hours": "0",
        "Scan Time Minutes": "2",
        "Scan Time Seconds": "41",
    }
    return _winlogbeat_defender(ts, host, 1001, "information", 4099, data)


def kaspersky(
    ts: datetime, host: str, ip: str, threat: str, obj: str, folder: str, user: str, group: str
) -> list[str]:
    local = ts.astimezone(VN)
    rt = int(ts.timestamp() * 1000)
    msg = (
        f"User: SOYTE\\\\{user} (Active user)\\r\\nComponent: File Threat Protection\\r\\n"
        f"Result description: Detected\\r\\nType: Trojan\\r\\nName: {threat}\\r\\nThreat level: High\\r\\n"
        f"Precision: Exactly\\r\\nObject name: {obj}\\r\\n"
        f"Object path: {folder.replace(chr(92), chr(92) * 2)}\\r\\n"
    )
    return [
        f"{_ksc_header(local)}|GNRL_EV_VIRUS_FOUND|Virus found|8|"
        f"msg={msg} rt={rt} cs9={_cef(group)} cs9Label=GroupName "
        f"dhost={host} dst={ip} cs2=KES cs2Label=ProductName cs3=12.6.0.438 cs3Label=ProductVersion "
        f"cs10=File Threat Protection cs10Label=TaskName cs4=312 cs4Label=TaskId duser=SOYTE\\\\{user}"
    ]


def heartbeat(ts: datetime, host: str, ip: str, group: str) -> list[str]:
    """A KSC task-state event: the agent reports, no detection."""
    local = ts.astimezone(VN)
    rt = int(ts.timestamp() * 1000)
    return [
        f"{_ksc_header(local)}|KLPRCI_TaskState|Completed|1|"
        f"msg=Scan My Computer completed rt={rt} cs9={_cef(group)} "
        f"cs9Label=GroupName dhost={host} dst={ip} cs2=KES cs2Label=ProductName cs3=12.6.0.438 "
        f"cs3Label=ProductVersion cs10=Scan My Computer cs10Label=TaskName cs4=15 cs4Label=TaskId"
    ]


# -- the cases ---------------------------------------------------------------------------------

Lines = list[str]


def _join(*parts: Iterable[str]) -> Lines:
    return [line for part in parts for line in part]


def event_time(line: str) -> datetime:
    """The event time a line carries, whatever its format (to write each sample in time order)."""
    if line.startswith("{"):
        doc = json.loads(line)
        return datetime.fromisoformat(doc.get("EventTime") or doc["@timestamp"].replace("Z", "+00:00"))
    if "eventtime=" in line:
        return datetime.fromtimestamp(int(line.split("eventtime=", 1)[1].split()[0]) / 1e9, UTC)
    if " rt=" in line:
        return datetime.fromtimestamp(int(line.split(" rt=", 1)[1].split()[0]) / 1000, UTC)
    if '] "' in line:
        day, month, rest = line.split("[", 1)[1].split("]", 1)[0].split("/", 2)
        return datetime.strptime(f"{day}/{MONTHS.index(month) + 1}/{rest}", "%d/%m/%Y:%H:%M:%S %z")
    return datetime.fromisoformat(line.split(" ", 1)[0])


def chrono(*parts: Iterable[str]) -> Lines:
    """The lines of all parts in event-time order (stable: lines of one instant keep their order)."""
    return sorted(_join(*parts), key=event_time)


def _every(start: datetime, step: timedelta, count: int, make: Callable[[int, datetime], Lines]) -> Lines:
    return _join(*(make(i, start + step * i) for i in range(count)))


ATTACKER = "185.220.101.47"
ATTACKER2 = "45.135.232.10"
ADMIN_LAN = "10.20.1.8"
SSH_HOST = "portal-app01"
DICT = [
    "admin",
    "oracle",
    "test",
    "ubuntu",
    "postgres",
    "git",
    "ftpuser",
    "deploy",
    "user",
    "guest",
    "support",
    "hadoop",
]

WIN_HOST = "SRV-DVC01.sotttt.local"
WIN_HOST2 = "SRV-MOTCUA.sotttt.local"
WIN_USERS = [
    "administrator",
    "admin",
    "ketoan",
    "vanthu",
    "lan.nt",
    "hung.pv",
    "tuan.la",
    "mai.tt",
    "scanner",
    "backup",
    "sql",
    "guest",
]

PORTAL_IP = "103.77.1.2"
PORTAL_ADMIN = "113.161.20.30"

SCANNER = "194.26.192.77"
PUBLIC_WEB = "203.162.10.5"
INFECTED = "10.20.1.77"
PORTS = [
    21,
    22,
    23,
    25,
    53,
    110,
    111,
    135,
    139,
    143,
    445,
    993,
    995,
    1433,
    1521,
    1723,
    3306,
    3389,
    5432,
    5900,
    5985,
    6379,
    8080,
    8443,
    9200,
]


def ssh_burst(count: int, step: timedelta) -> Lines:
    """`count` wrong passwords for root from the attacker on the portal server, from 08:31."""
    return _every(at(1), step, count, lambda i, t: ssh_failed(t, SSH_HOST, ATTACKER, "root"))


def win_burst(count: int, step: timedelta) -> Lines:
    """`count` failed network logons as administrator from the attacker on the server, from 08:31."""
    return _every(at(1), step, count, lambda i, t: win_failed(t, WIN_HOST, ATTACKER2, "administrator"))


def burst_block_cases(
    burst: Callable[[int, timedelta], Lines], login: Callable[[datetime], Lines], chain: str
) -> dict[str, Any]:
    """The samples of a failure-burst building block, seen through the login-after-failures rule
    that uses it: exactly at the threshold, one below, and spread over more than the timespan."""
    return {
        "fire-at-threshold": (
            chrono(burst(5, timedelta(seconds=30)), login(at(4))),
            {chain: 1},
            "exactly 5 failures in 2 minutes, then a login: the burst is complete",
        ),
        "nofire-below-threshold": (
            chrono(burst(4, timedelta(seconds=30)), login(at(4))),
            {},
            "4 failures then a login: no burst",
        ),
        "nofire-spread-out": (
            chrono(burst(5, timedelta(minutes=3)), login(at(14))),
            {},
            "5 failures one every 3 minutes then a login: never 5 within 10 minutes",
        ),
    }


BOTNET = [f"193.32.162.{n}" for n in range(11, 19)]


def distributed_cases(
    failed: Callable[[datetime, str, str, str], Lines], target: tuple[str, list[str], str, str], noise: Lines
) -> dict[str, Any]:
    """Samples of a many-sources-one-account rule: `failed(time, source, user, host)` builds one
    failure; `target` is the account, two servers, the rule's name and the per-source rule's."""
    user, (host, other), rule, per_source = target
    step = timedelta(seconds=30)

    def rotate(sources: list[str], gap: timedelta = step, hosts: tuple[str, ...] = (host,)) -> Lines:
        tries = (failed(at(1) + gap * i, ip, user, hosts[i % len(hosts)]) for i, ip in enumerate(sources))
        return _join(*tries)

    return {
        "fire": (chrono(rotate(BOTNET), noise), {rule: 1}, f"8 addresses try {user} once each in 4 minutes"),
        "nofire-below-threshold": (chrono(rotate(BOTNET[:4]), noise), {}, "4 addresses: one below threshold"),
        "nofire-one-source": (
            chrono(rotate([BOTNET[0]] * 12, timedelta(seconds=10)), noise),
            {per_source: 1},
            "12 failures from one address: the per-source brute force, not this rule",
        ),
        "nofire-different-accounts": (
            chrono(
                _join(*(failed(at(1) + step * i, ip, f"user{i:02d}", host) for i, ip in enumerate(BOTNET))),
                noise,
            ),
            {},
            "8 addresses, each for a different account",
        ),
        "nofire-spread-out": (
            chrono(rotate(BOTNET, timedelta(minutes=3))),
            {},
            "8 addresses one every 3 minutes: at most 4 within any 10 minutes",
        ),
        "nofire-several-servers": (
            chrono(rotate(BOTNET, step, (host, other))),
            {},
            "8 addresses split over two servers, 4 each",
        ),
    }


def sshd_cases() -> dict[str, dict[str, Any]]:
    burst = ssh_burst(12, timedelta(seconds=12))
    background = _join(
        ssh_accepted(at(0, 20), SSH_HOST, ADMIN_LAN, "deploy", "publickey"),
        ssh_failed(at(2, 5), SSH_HOST, "10.20.3.44", "tranvanb", pid=31002),
        ssh_accepted(at(2, 30), SSH_HOST, "10.20.3.44", "tranvanb", pid=31003),
    )
    # A relay delivers the first three attempts (9 lines) late, after the fifth: up to 50 s late.
    in_time = chrono(burst[9:], background)
    fifth = max(i for i, line in enumerate(in_time) if line.startswith("2025-07-15T08:31:5"))
    out_of_order = in_time[: fifth + 1] + burst[:9] + in_time[fifth + 1 :]
    spread = ssh_burst(12, timedelta(seconds=40))

    def spray(users: int) -> Lines:
        return _every(
            at(1),
            timedelta(seconds=50),
            users,
            lambda i, t: (
                ssh_failed(t, SSH_HOST, ATTACKER2, DICT[i], valid=False, pid=32000 + i)
                if i % 3
                else ssh_probe(t, SSH_HOST, ATTACKER2, DICT[i], pid=32000 + i)
            ),
        )

    return {
        "correlation_sshd_brute_force": {
            "fire": (
                chrono(burst + background),
                {"vn_sshd_brute_force": 1},
                "12 failed passwords for root from one address in 2.5 minutes",
            ),
            "fire-out-of-order": (
                out_of_order,
                {"vn_sshd_brute_force": 1},
                "the same burst, its first 3 attempts delivered 50 s late by a relay",
            ),
            "nofire-below-threshold": (
                chrono(burst[: 9 * 3] + background),
                {},
                "9 failures: one short of the threshold",
            ),
            "nofire-spread-out": (
                chrono(spread + background),
                {},
                "12 failures one every 40 s: never 10 within 5 minutes",
            ),
            "nofire-several-sources": (
                chrono(
                    _every(
                        at(1),
                        timedelta(seconds=12),
                        12,
                        lambda i, t: ssh_failed(t, SSH_HOST, f"10.20.3.{40 + i % 4}", "root", pid=33000 + i),
                    )
                ),
                {},
                "12 failures within 2.5 minutes but from 4 addresses, 3 each",
            ),
            "nofire-several-servers": (
                chrono(
                    _every(
                        at(1),
                        timedelta(seconds=12),
                        12,
                        lambda i, t: ssh_failed(
                            t, ("portal-app01", "portal-app02")[i % 2], ATTACKER, "root", pid=34000 + i
                        ),
                    )
                ),
                {},
                "12 failures from one address split over two servers, 6 each",
            ),
        },
        "correlation_sshd_distributed_brute_force": distributed_cases(
            lambda t, ip, user, host: ssh_failed(t, host, ip, user, pid=37000 + int(ip.rsplit(".", 1)[1])),
            ("root", [SSH_HOST, "portal-app02"], "vn_sshd_distributed_brute_force", "vn_sshd_brute_force"),
            background,
        ),
        "correlation_sshd_password_spraying": {
            "fire": (
                chrono(spray(9), background),
                {"vn_sshd_password_spraying": 1},
                "9 user names (6 failed passwords for invalid users, 3 probes) from one address in 7 minutes",
            ),
            "nofire-below-threshold": (
                chrono(spray(7), background),
                {},
                "7 user names: one short of the threshold",
            ),
            "nofire-same-user-repeated": (
                chrono(ssh_burst(12, timedelta(seconds=20)) + background),
                {"vn_sshd_brute_force": 1},
                "12 attempts, all for root: brute force, not spraying",
            ),
            "nofire-spread-out": (
                chrono(
                    _every(
                        at(1),
                        timedelta(minutes=5),
                        9,
                        lambda i, t: ssh_failed(t, SSH_HOST, ATTACKER2, DICT[i], valid=False, pid=35000 + i),
                    )
                ),
                {},
                "9 user names one every 5 minutes: at most 7 within any 30 minutes",
            ),
            "nofire-several-sources": (
                chrono(
                    _every(
                        at(1),
                        timedelta(seconds=50),
                        9,
                        lambda i, t: ssh_failed(
                            t, SSH_HOST, f"45.135.232.{10 + i % 3}", DICT[i], valid=False, pid=36000 + i
                        ),
                    )
                ),
                {},
                "9 user names from 3 addresses, 3 each",
            ),
        },
        # A building block raises nothing itself: its samples show it through the rule that uses it.
        "correlation_sshd_failure_burst": burst_block_cases(
            ssh_burst, lambda t: ssh_accepted(t, SSH_HOST, ATTACKER, "root"), "vn_sshd_login_after_failures"
        ),
        "correlation_sshd_login_after_failures": {
            "fire": (
                chrono(
                    ssh_burst(6, timedelta(seconds=20))
                    + ssh_accepted(at(4), SSH_HOST, ATTACKER, "root")
                    + background
                ),
                {"vn_sshd_login_after_failures": 1},
                "6 failed passwords then a login for root from the same address 2 minutes later",
            ),
            "fire-after-brute-force": (
                chrono(burst + ssh_accepted(at(4, 30), SSH_HOST, ATTACKER, "root") + background),
                {"vn_sshd_login_after_failures": 1, "vn_sshd_brute_force": 1},
                "a 12-failure brute force that ends in a login: both alerts",
            ),
            "nofire-login-without-failures": (
                chrono(background + ssh_accepted(at(4), SSH_HOST, "10.20.1.9", "root")),
                {},
                "logins with at most one failure before them",
            ),
            "nofire-too-few-failures": (
                chrono(
                    _every(
                        at(1),
                        timedelta(seconds=20),
                        4,
                        lambda i, t: ssh_failed(t, SSH_HOST, "10.20.3.44", "tranvanb"),
                    )
                    + ssh_accepted(at(3), SSH_HOST, "10.20.3.44", "tranvanb")
                ),
                {},
                "4 failures then a login: a user who remembered the password",
            ),
            "nofire-login-before-failures": (
                chrono(
                    ssh_accepted(at(0, 10), SSH_HOST, ATTACKER, "root") + ssh_burst(6, timedelta(seconds=20))
                ),
                {},
                "the login comes before the failures: wrong order",
            ),
            "nofire-login-from-other-source": (
                chrono(
                    ssh_burst(6, timedelta(seconds=20)) + ssh_accepted(at(4), SSH_HOST, ADMIN_LAN, "root")
                ),
                {},
                "failures from the attacker, the login from the admin LAN",
            ),
            "nofire-login-much-later": (
                chrono(
                    ssh_burst(6, timedelta(seconds=20)) + ssh_accepted(at(75), SSH_HOST, ATTACKER, "root")
                ),
                {},
                "the login comes over an hour after the failures, beyond the 30-minute timespan",
            ),
        },
    }


def windows_cases() -> dict[str, dict[str, Any]]:
    rdp_burst = win_burst(12, timedelta(seconds=10))
    staff = _join(
        win_logon(at(0, 30), WIN_HOST, "10.20.5.21", "vanthu"),
        win_failed(at(2), WIN_HOST, "10.20.5.22", "ketoan", workstation="PC-KETOAN-02"),
        win_logon(at(2, 15), WIN_HOST, "10.20.5.22", "ketoan"),
    )
    spray = _every(
        at(2),
        timedelta(seconds=40),
        9,
        lambda i, t: win_failed(t, WIN_HOST, ATTACKER, WIN_USERS[i], unknown_user=i % 4 == 3),
    )
    return {
        "correlation_win_brute_force": {
            "fire": (
                chrono(rdp_burst, staff),
                {"vn_win_brute_force": 1},
                "12 failed network logons for administrator from one address in 2 minutes",
            ),
            "nofire-below-threshold": (
                chrono(rdp_burst[:9], staff),
                {},
                "9 failures: one short of the threshold",
            ),
            "nofire-spread-out": (
                win_burst(12, timedelta(seconds=35)),
                {},
                "12 failures one every 35 s: at most 9 within any 5 minutes",
            ),
            "nofire-local-console": (
                _every(
                    at(1), timedelta(seconds=10), 12, lambda i, t: win_failed_local(t, WIN_HOST, "vanthu")
                ),
                {},
                "12 wrong passwords typed at the console (type 2, loopback): not a network brute force",
            ),
            "nofire-several-computers": (
                _every(
                    at(1),
                    timedelta(seconds=10),
                    12,
                    lambda i, t: win_failed(t, (WIN_HOST, WIN_HOST2)[i % 2], ATTACKER2, "administrator"),
                ),
                {},
                "12 failures from one address over two computers, 6 each",
            ),
        },
        "correlation_win_distributed_brute_force": distributed_cases(
            lambda t, ip, user, host: win_failed(t, host, ip, user),
            ("administrator", [WIN_HOST, WIN_HOST2], "vn_win_distributed_brute_force", "vn_win_brute_force"),
            staff,
        ),
        "correlation_win_password_spraying": {
            "fire": (
                chrono(spray, staff),
                {"vn_win_password_spraying": 1},
                "9 accounts failing from one address in 6 minutes",
            ),
            "nofire-below-threshold": (
                chrono(spray[:7], staff),
                {},
                "7 accounts: one short of the threshold",
            ),
            "nofire-same-account": (
                chrono(rdp_burst, staff),
                {"vn_win_brute_force": 1},
                "12 failures, all for administrator: brute force, not spraying",
            ),
            "nofire-several-sources": (
                _every(
                    at(2),
                    timedelta(seconds=40),
                    9,
                    lambda i, t: win_failed(t, WIN_HOST, f"185.220.101.{47 + i % 3}", WIN_USERS[i]),
                ),
                {},
                "9 accounts from 3 addresses, 3 each",
            ),
            "nofire-spread-out": (
                _every(
                    at(1),
                    timedelta(minutes=5),
                    9,
                    lambda i, t: win_failed(t, WIN_HOST, ATTACKER, WIN_USERS[i]),
                ),
                {},
                "9 accounts one every 5 minutes: at most 7 within any 30 minutes",
            ),
        },
        # A building block raises nothing itself: its samples show it through the rule that uses it.
        "correlation_win_failure_burst": burst_block_cases(
            win_burst,
            lambda t: win_logon(t, WIN_HOST, ATTACKER2, "administrator"),
            "vn_win_logon_after_failures",
        ),
        "correlation_win_logon_after_failures": {
            "fire": (
                chrono(rdp_burst[:6], win_logon(at(3), WIN_HOST, ATTACKER2, "administrator"), staff),
                {"vn_win_logon_after_failures": 1},
                "6 failed network logons then an RDP logon as administrator from the same address",
            ),
            "nofire-logon-without-burst": (staff, {}, "staff logons, one after a single failure"),
            "nofire-logon-before-failures": (
                chrono(win_logon(at(0, 20), WIN_HOST, ATTACKER2, "administrator"), rdp_burst[:6]),
                {},
                "the logon comes before the failures: wrong order",
            ),
            "nofire-logon-from-other-source": (
                chrono(rdp_burst[:6], win_logon(at(3), WIN_HOST, "10.20.5.30", "administrator")),
                {},
                "failures from the attacker, the logon from an internal address",
            ),
            "nofire-logon-on-other-computer": (
                chrono(rdp_burst[:6], win_logon(at(3), WIN_HOST2, ATTACKER2, "administrator")),
                {},
                "failures on one computer, the logon on another",
            ),
        },
    }


def web_cases() -> dict[str, dict[str, Any]]:
    def wp_attempts(ip: str, count: int, step: float, start: datetime | None = None) -> Lines:
        return _every(
            start or at(1),
            timedelta(seconds=step),
            count,
            lambda i, t: web(t, ip, "POST", "/wp-login.php", 200, 4521, referer="-", agent=UA_WPSCAN),
        )

    admin_session = _join(
        web(at(0, 5), PORTAL_ADMIN, "GET", "/wp-login.php", 200, 4390),
        web(
            at(0, 20),
            PORTAL_ADMIN,
            "POST",
            "/wp-login.php",
            302,
            0,
            referer="https://sotuphap.tinh.gov.vn/wp-login.php",
        ),
        *(
            web(
                at(0, 21 + 9 * i),
                PORTAL_ADMIN,
                "GET",
                path,
                200,
                18342,
                referer="https://sotuphap.tinh.gov.vn/wp-admin/",
            )
            for i, path in enumerate(["/wp-admin/", "/wp-admin/edit.php", "/wp-admin/post-new.php"] * 4)
        ),
        web(at(2), "203.113.135.20", "GET", "/tin-tuc/thong-bao-nghi-le.html", 200, 18342),
    )
    success = web(at(4, 10), PORTAL_IP, "POST", "/wp-login.php", 302, 0, referer="-", agent=UA_WPSCAN) + web(
        at(4, 11), PORTAL_IP, "GET", "/wp-admin/", 200, 50213, agent=UA_WPSCAN
    )
    basic_auth = _every(
        at(1),
        timedelta(seconds=8),
        11,
        lambda i, t: web(t, "171.244.50.9", "GET", "/quantri/", 401, 381, agent="Hydra"),
    )
    return {
        "correlation_web_vn11_admin_brute_force": {
            "fire": (
                chrono(wp_attempts(PORTAL_IP, 12, 10) + admin_session),
                {"vn_web_admin_brute_force": 1},
                "12 POSTs to wp-login.php answered 200 (wrong password) from one address in 2 minutes",
            ),
            "fire-iis": (
                iis_log(
                    _join(
                        *(
                            iis(at(1, 9 * i), "171.244.50.9", "POST", "/Admin/Login.aspx", 200)
                            for i in range(11)
                        )
                    )
                ),
                {"vn_web_admin_brute_force": 1},
                "11 POSTs to an ASP.NET portal's /Admin/Login.aspx answered 200 (form shown again), IIS log",
            ),
            "fire-basic-auth": (
                basic_auth,
                {"vn_web_admin_brute_force": 1},
                "11 401 answers on /quantri/ (HTTP authentication) from one address",
            ),
            "nofire-below-threshold": (
                chrono(wp_attempts(PORTAL_IP, 9, 10) + admin_session),
                {},
                "9 attempts: one short of the threshold",
            ),
            "nofire-admin-browsing": (
                admin_session,
                {},
                "an administrator logs in once and works in /wp-admin",
            ),
            "nofire-spread-out": (
                wp_attempts(PORTAL_IP, 12, 40),
                {},
                "12 attempts one every 40 s: at most 8 within any 5 minutes",
            ),
        },
        "correlation_web_vn11_admin_login_after_brute_force": {
            "fire": (
                chrono(wp_attempts(PORTAL_IP, 12, 10) + success + admin_session),
                {"vn_web_admin_brute_force": 1, "vn_web_admin_login_after_brute_force": 1},
                "12 wrong passwords then the 302 of a good one from the same address",
            ),
            "nofire-login-without-brute-force": (
                admin_session,
                {},
                "the administrator's own login: no brute force before it",
            ),
            "nofire-login-from-other-source": (
                chrono(wp_attempts(PORTAL_IP, 12, 10) + admin_session),
                {"vn_web_admin_brute_force": 1},
                "a brute force from one address, a login from another",
            ),
            "nofire-login-before-brute-force": (
                chrono(
                    web(at(0, 10), PORTAL_IP, "POST", "/wp-login.php", 302, 0, agent=UA_WPSCAN)
                    + wp_attempts(PORTAL_IP, 12, 10, at(6)),
                ),
                {"vn_web_admin_brute_force": 1},
                "the login comes 6 minutes before the brute force: wrong order",
            ),
        },
    }


FGT_UTM_VIRUS = (
    '<185>date=2025-07-15 time=08:31:30 devname="FGT-SOTTTT" devid="FG100FTK21000123" '
    'eventtime=1752543090 tz="+0700" logid="0211008192" type="utm" subtype="virus" eventtype="infected" '
    'level="warning" vd="root" policyid=5 msg="File is infected." action="blocked" service="HTTP" '
    'sessionid=90012500 srcip=10.20.1.77 dstip=103.77.1.2 srcport=50122 dstport=80 srcintf="port1" '
    'srcintfrole="lan" dstintf="wan1" dstintfrole="wan" proto=6 direction="incoming" '
    'filename="hoadon_thang7.exe" virus="W32/Agent.ABCD!tr" dtype="av-engine" virusid=10123456 '
    'profile="default"'
)


def firewall_cases() -> dict[str, dict[str, Any]]:
    web_users = _join(
        *(
            fgt(at(1, 7 * i), f"113.161.{20 + i}.{30 + i}", PUBLIC_WEB, 443, action="close", sport=52000 + i)
            for i in range(6)
        )
    )
    scan = _every(
        at(1), timedelta(seconds=2), 25, lambda i, t: fgt(t, SCANNER, PUBLIC_WEB, PORTS[i], sport=61000 + i)
    )
    sweep = _every(
        at(1),
        timedelta(seconds=3),
        24,
        lambda i, t: fgt(t, INFECTED, f"10.20.{2 + i // 12}.{10 + i}", 445, sport=49700 + i, inside=True),
    )
    return {
        "correlation_fw_port_scan": {
            "fire": (
                chrono(scan + web_users),
                {"vn_fw_port_scan": 1},
                "25 ports of one public server denied to one address within a minute",
            ),
            "nofire-below-threshold": (
                chrono(scan[:19] + web_users),
                {},
                "19 ports: one short of the threshold",
            ),
            "nofire-same-port-retried": (
                _every(
                    at(1),
                    timedelta(seconds=2),
                    25,
                    lambda i, t: fgt(t, SCANNER, PUBLIC_WEB, 3389, sport=61000 + i),
                ),
                {},
                "25 denied connections, all to 3389: one port",
            ),
            "nofire-spread-out": (
                _every(
                    at(1),
                    timedelta(seconds=20),
                    25,
                    lambda i, t: fgt(t, SCANNER, PUBLIC_WEB, PORTS[i], sport=61000 + i),
                ),
                {},
                "25 ports one every 20 s: at most 16 within any 5 minutes",
            ),
            "nofire-allowed-traffic": (
                _every(
                    at(1),
                    timedelta(seconds=2),
                    25,
                    lambda i, t: fgt(t, SCANNER, PUBLIC_WEB, PORTS[i], action="close", sport=61000 + i),
                ),
                {},
                "25 ports, but the connections were allowed (no deny): not counted",
            ),
            "nofire-external-host-sweep": (
                _every(
                    at(1),
                    timedelta(seconds=2),
                    25,
                    lambda i, t: fgt(t, SCANNER, f"203.162.10.{5 + i}", 22, sport=61000 + i),
                ),
                {},
                "one port on 25 public addresses from the Internet: not a port scan, and host sweeps "
                "are only raised for internal sources",
            ),
        },
        "correlation_fw_internal_host_sweep": {
            "fire": (
                chrono(sweep + web_users),
                {"vn_fw_internal_host_sweep": 1},
                "an internal computer denied SMB to 24 hosts in 70 seconds",
            ),
            "nofire-below-threshold": (sweep[:19], {}, "19 hosts: one short of the threshold"),
            "nofire-spread-out": (
                _every(
                    at(1),
                    timedelta(seconds=20),
                    24,
                    lambda i, t: fgt(t, INFECTED, f"10.20.2.{10 + i}", 445, sport=49700 + i, inside=True),
                ),
                {},
                "24 hosts one every 20 s: at most 16 within any 5 minutes",
            ),
            "nofire-several-sources": (
                _every(
                    at(1),
                    timedelta(seconds=3),
                    24,
                    lambda i, t: fgt(
                        t, f"10.20.1.{70 + i % 3}", f"10.20.2.{10 + i}", 445, sport=49700 + i, inside=True
                    ),
                ),
                {},
                "24 hosts from 3 internal computers, 8 each",
            ),
        },
    }


AV_UNIT = "so-yte"
GROUP = "So Y te\\Van phong So"


def av_cases() -> dict[str, dict[str, Any]]:
    def outbreak(hosts: list[str], step: timedelta) -> Lines:
        lines: Lines = []
        for i, host in enumerate(hosts):
            t = at(-25) + step * i
            if i % 3 == 2:
                lines += kaspersky(
                    t,
                    host,
                    f"10.40.1.{20 + i}",
                    "HEUR:Worm.Win32.Autorun.gen",
                    "autorun.inf",
                    "E:\\",
                    f"nv{i}",
                    GROUP,
                )
            else:
                path = f"E:\\Tai lieu\\hoso_{i}.exe"
                lines += defender(t, host, "Worm:Win32/Jenxcus!rfn", path, f"nv{i}")
                lines += defender(
                    t + timedelta(seconds=4), host, "Worm:Win32/Jenxcus!rfn", path, f"nv{i}", 1117
                )
        return lines

    beats = _join(
        *(heartbeat(at(-28 + 3 * i), f"PC-SYT-{10 + i:02d}", f"10.40.1.{60 + i}", GROUP) for i in range(4))
    )
    return {
        "correlation_av_detections_several_hosts_unit": {
            "fire": (
                chrono(
                    beats,
                    outbreak(["PC-SYT-01", "PC-SYT-02", "PC-SYT-03", "PC-SYT-04"], timedelta(minutes=9)),
                ),
                {"vn_av_detections_several_hosts_unit": 1},
                "a worm found on 4 computers of one unit (Defender on 3, Kaspersky on 1) within 27 minutes",
            ),
            "nofire-below-threshold": (
                chrono(beats, outbreak(["PC-SYT-01", "PC-SYT-02"], timedelta(minutes=9))),
                {},
                "2 computers: one short of the threshold",
            ),
            "nofire-same-host-repeated": (
                chrono(beats, outbreak(["PC-SYT-01"] * 5, timedelta(minutes=5))),
                {},
                "5 detections, all on one computer",
            ),
            "nofire-spread-out": (
                chrono(outbreak(["PC-SYT-01", "PC-SYT-02", "PC-SYT-03", "PC-SYT-04"], timedelta(minutes=65))),
                {},
                "4 computers, one every 65 minutes: never 3 within an hour",
            ),
        },
    }


def write_cases() -> list[Path]:
    written: list[Path] = []
    for group in (sshd_cases(), windows_cases(), web_cases(), firewall_cases(), av_cases()):
        for rule, cases in group.items():
            manifest: dict[str, Any] = {}
            for case, (lines, expect, why) in cases.items():
                name = f"{rule}.{case}.log"
                (PACK / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
                entry: dict[str, Any] = {"expect": expect, "why": why}
                if rule.startswith("correlation_av_"):
                    entry["unit"] = AV_UNIT
                manifest[name] = entry
                written.append(PACK / name)
            path = PACK / f"{rule}.samples.json"
            path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            written.append(path)
    return written


# -- base-rule samples: normalized events ------------------------------------------------------


def _normalized(lines: Lines) -> list[dict[str, Any]]:
    stage = NormalizeStage()
    docs = []
    for n, line in enumerate(lines):
        result = stage(RawRecord(id=f"sample-{n}", source_id="sample", payload=line))
        if not isinstance(result, Event):
            raise SystemExit(f"sample line does not normalize: {result.reason}: {line[:120]}")
        doc = result.to_doc()
        doc.pop("soc", None)
        for key in ("id", "ingested", "created"):
            doc["event"].pop(key, None)
        docs.append(doc)
    return docs


def base_cases() -> dict[str, tuple[Lines, Lines]]:
    """Per base rule file: lines that must match, lines that must not."""
    return {
        "lnx_sshd_failed_password": (
            ssh_failed(at(1), SSH_HOST, ATTACKER, "root")[1:2]
            + ssh_failed(at(1), SSH_HOST, ATTACKER2, "oracle", valid=False)[3:4]
            + [
                _syslog(
                    at(2),
                    SSH_HOST,
                    "sshd",
                    30514,
                    f"message repeated 5 times: [ Failed password for root from {ATTACKER} port 43312 ssh2]",
                )
            ],
            ssh_failed(at(1), SSH_HOST, ATTACKER, "root")[0:1]
            + ssh_failed(at(1), SSH_HOST, ATTACKER, "root")[2:3]
            + ssh_accepted(at(3), SSH_HOST, ADMIN_LAN, "deploy", "publickey")[:1]
            + [
                _syslog(
                    at(2),
                    SSH_HOST,
                    "sudo",
                    4410,
                    "tranvanb : TTY=pts/0 ; PWD=/home/tranvanb ; USER=root ; "
                    "COMMAND=/usr/bin/grep -c 'Failed password for' /var/log/auth.log",
                )
            ],
        ),
        "lnx_sshd_invalid_user": (
            ssh_probe(at(1), SSH_HOST, ATTACKER2, "oracle")[:1],
            ssh_failed(at(1), SSH_HOST, ATTACKER, "root")[1:2]
            + ssh_accepted(at(3), SSH_HOST, ADMIN_LAN, "deploy")[:1],
        ),
        "lnx_sshd_accepted_login": (
            ssh_accepted(at(3), SSH_HOST, ADMIN_LAN, "deploy", "publickey")[:1]
            + ssh_accepted(at(4), SSH_HOST, ATTACKER, "root")[:1],
            ssh_failed(at(1), SSH_HOST, ATTACKER, "root")[1:2]
            + ssh_accepted(at(3), SSH_HOST, ADMIN_LAN, "deploy")[1:],
        ),
        "win_security_failed_network_logon": (
            win_failed(at(1), WIN_HOST, ATTACKER2, "administrator")
            + win_failed(at(1), WIN_HOST, ATTACKER2, "admin", logon_type=10, unknown_user=True),
            win_failed_local(at(1), WIN_HOST, "vanthu")
            + win_failed(at(1), WIN_HOST, "-", "vanthu")
            + win_logon(at(2), WIN_HOST, ATTACKER2, "administrator"),
        ),
        "win_security_network_logon_success": (
            win_logon(at(2), WIN_HOST, ATTACKER2, "administrator")
            + win_logon(at(2), WIN_HOST, "10.20.5.22", "ketoan", logon_type=3),
            win_logon(at(2), WIN_HOST, "10.20.5.23", "PC-KETOAN-03$", logon_type=3)
            + win_logon(at(2), WIN_HOST, "127.0.0.1", "vanthu")
            + win_logon(at(2), WIN_HOST, "10.20.5.23", "vanthu", logon_type=2)
            + win_failed(at(1), WIN_HOST, ATTACKER2, "administrator"),
        ),
        "web_vn11_admin_login_attempt": (
            web(at(1), PORTAL_IP, "POST", "/wp-login.php", 200, agent=UA_WPSCAN)
            + web(at(1), PORTAL_ADMIN, "POST", "/wp-login.php", 302, 0)
            + web(at(1), "171.244.50.9", "GET", "/quantri/", 401, 381, agent="Hydra")
            + web(at(1), "171.244.50.9", "POST", "/quantri/dang-nhap", 200, 381)
            + iis(at(1), "171.244.50.9", "POST", "/Admin/Login.aspx", 200),
            web(at(1), PORTAL_ADMIN, "GET", "/wp-login.php", 200, 4390)
            + web(at(1), PORTAL_ADMIN, "GET", "/wp-admin/edit.php", 200)
            + web(at(1), "203.113.135.20", "GET", "/tin-tuc/thong-bao.html", 403, 312),
        ),
        "net_firewall_denied_connection": (
            fgt(at(1), SCANNER, PUBLIC_WEB, 3389) + fgt(at(1), INFECTED, "10.20.2.10", 445, inside=True),
            [*fgt(at(1), "113.161.20.30", PUBLIC_WEB, 443, action="close"), FGT_UTM_VIRUS],
        ),
        "net_firewall_denied_connection_internal_source": (
            fgt(at(1), INFECTED, "10.20.2.10", 445, inside=True)
            + fgt(at(1), "192.168.10.5", "10.20.2.10", 3389, inside=True),
            fgt(at(1), SCANNER, PUBLIC_WEB, 3389)
            + fgt(at(1), INFECTED, "10.20.2.10", 445, action="close", inside=True),
        ),
        "win_defender_malware_detected": (
            defender(at(1), "PC-SYT-01", "Worm:Win32/Jenxcus!rfn", "E:\\hoso.exe", "nv1")
            + defender(at(1), "PC-SYT-01", "Worm:Win32/Jenxcus!rfn", "E:\\hoso.exe", "nv1", 1117),
            defender_scan(at(1), "PC-SYT-01")
            + kaspersky(
                at(1),
                "PC-SYT-03",
                "10.40.1.22",
                "HEUR:Worm.Win32.Autorun.gen",
                "autorun.inf",
                "E:\\",
                "nv3",
                GROUP,
            ),
        ),
        "av_kaspersky_malware_detected": (
            kaspersky(
                at(1),
                "PC-SYT-03",
                "10.40.1.22",
                "HEUR:Worm.Win32.Autorun.gen",
                "autorun.inf",
                "E:\\",
                "nv3",
                GROUP,
            ),
            heartbeat(at(1), "PC-SYT-03", "10.40.1.22", GROUP)
            + defender(at(1), "PC-SYT-01", "Worm:Win32/Jenxcus!rfn", "E:\\hoso.exe", "nv1"),
        ),
    }


def write_base_samples() -> list[Path]:
    written = []
    for stem, (match, nomatch) in base_cases().items():
        for suffix, lines in ((".match.json", match), (".nomatch.json", nomatch)):
            path = PACK / f"{stem}{suffix}"
            path.write_text(
                json.dumps(_normalized(lines), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
            )
            written.append(path)
    return written


if __name__ == "__main__":
    for path in write_cases() + write_base_samples():
        print(path.relative_to(ROOT))
