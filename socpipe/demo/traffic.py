"""Demo shippers: realistic traffic for every demo source, posted to the real HTTP intake.

Each source format gets records shaped as its real shipper sends them (Fluent Bit's `{"date",
"log"}` wrapping for text lines, Winlogbeat's raw `winlog.*` JSON for Windows), mostly routine
activity with a small share of the attacks the province's checklist looks for (firewall turned
off, KMS activators, guest account enabled, SSH and portal brute force), so detections fire.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import orjson

from socpipe.demo.province import SILENT_SOURCES

log = logging.getLogger(__name__)
ICT = timezone(timedelta(hours=7))

USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 14; SM-A546E) AppleWebKit/537.36 Chrome/123.0 Mobile Safari/537.36",
]
PORTAL_PATHS = [
    "/",
    "/tin-tuc/hoat-dong-chinh-quyen",
    "/thu-tuc-hanh-chinh?linhvuc=dat-dai",
    "/van-ban-chi-dao-dieu-hanh",
    "/lich-cong-tac",
    "/static/css/main.css",
]
USERS = ["nguyenvana", "tranthib", "lequangc", "phamthid", "hoangvane", "vuthif"]


def _ip(rng: random.Random, public: bool = True) -> str:
    if public:
        return (
            f"{rng.choice([14, 27, 42, 113, 115, 171, 203])}.{rng.randint(0, 255)}.{rng.randint(0, 255)}."
            f"{rng.randint(1, 254)}"
        )
    return f"10.{rng.randint(1, 30)}.{rng.randint(0, 255)}.{rng.randint(2, 254)}"


def nginx_line(rng: random.Random, now: datetime) -> str:
    ts = now.strftime("%d/%b/%Y:%H:%M:%S %z")
    if rng.random() < 0.08:
        ip = "45.129.14.77"
        return f'{ip} - - [{ts}] "POST /wp-login.php HTTP/1.1" 401 512 "-" "python-requests/2.31.0"'
    if rng.random() < 0.03:
        return (
            f'185.220.101.4 - - [{ts}] "GET /tin-tuc?id=1%27%20UNION%20SELECT%20username,password%20FROM'
            f'%20users-- HTTP/1.1" 500 312 "-" "sqlmap/1.7.2#stable (https://sqlmap.org)"'
        )
    path = rng.choice(PORTAL_PATHS)
    return (
        f'{_ip(rng)} - - [{ts}] "GET {path} HTTP/1.1" 200 {rng.randint(800, 90000)} '
        f'"https://ninhbinh.gov.vn/" "{rng.choice(USER_AGENTS)}"'
    )


def sshd_line(rng: random.Random, now: datetime) -> str:
    ts = now.strftime("%b %e %H:%M:%S")
    pid = rng.randint(1000, 60000)
    roll = rng.random()
    if roll < 0.25:
        return (
            f"<38>{ts} portal-web01 sshd[{pid}]: Failed password for invalid user admin from "
            f"193.32.162.{rng.randint(2, 250)} port {rng.randint(30000, 65000)} ssh2"
        )
    if roll < 0.45:
        user = rng.choice(USERS)
        return (
            f"<38>{ts} portal-web01 sshd[{pid}]: Accepted publickey for {user} from "
            f"{_ip(rng, False)} port {rng.randint(30000, 65000)} ssh2: ED25519 SHA256:q1w2e3r4t5y6u7i8o9p0"
        )
    if roll < 0.55:
        return (
            f"<85>{ts} portal-web01 sudo[{pid}]:  deploy : TTY=pts/0 ; PWD=/srv/portal ; USER=root ; "
            f"COMMAND=/usr/bin/systemctl reload nginx"
        )
    return f"<30>{ts} portal-web01 systemd-logind[612]: New session {rng.randint(100, 9999)} of user deploy."


def fortigate_line(rng: random.Random, now: datetime) -> str:
    action = "deny" if rng.random() < 0.2 else "accept"
    return (
        f'date={now:%Y-%m-%d} time={now:%H:%M:%S} devname="FGT-TTDL" devid="FG100FTK22000123" '
        f'eventtime={int(now.timestamp() * 1e9)} tz="+0700" logid="0000000013" type="traffic" '
        f'subtype="forward" level="notice" vd="root" srcip={_ip(rng, False)} srcport={rng.randint(1024, 65000)} '
        f'srcintf="port2" dstip={_ip(rng)} dstport={rng.choice([443, 80, 53, 3389, 22])} dstintf="wan1" '
        f'proto=6 action="{action}" policyid={rng.randint(1, 40)} service="HTTPS" sentbyte={rng.randint(100, 90000)} '
        f"rcvdbyte={rng.randint(100, 900000)}"
    )


def kaspersky_cef(rng: random.Random, now: datetime) -> str:
    host = f"HCC-PC{rng.randint(1, 12):02d}"
    if rng.random() < 0.15:
        return (
            f"CEF:0|KasperskyLab|SecurityCenter|14.2.0.26967|GNRL_EV_VIRUS_FOUND|Phát hiện đối tượng độc hại|8|"
            f"rt={int(now.timestamp() * 1000)} dhost={host} dst=10.20.0.{rng.randint(10, 60)} "
            f"msg=Trojan.Win32.Agent.gen filePath=C:\\\\Users\\\\Public\\\\Downloads\\\\KMSPico_setup.exe act=Đã xóa"
        )
    return (
        f"CEF:0|KasperskyLab|SecurityCenter|14.2.0.26967|KLNAG_EV_HEARTBEAT|Agent heartbeat|1|"
        f"rt={int(now.timestamp() * 1000)} dhost={host} dst=10.20.0.{rng.randint(10, 60)} act=heartbeat"
    )


def _winlog(
    now: datetime,
    computer: str,
    channel: str,
    provider: str,
    event_id: int,
    data: dict[str, str],
    record_id: int,
) -> dict[str, Any]:
    return {
        "@timestamp": now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "agent": {"type": "winlogbeat", "version": "8.15.0"},
        "host": {"name": computer.split(".")[0].lower()},
        "event": {"code": str(event_id), "provider": provider, "created": now.isoformat()},
        "winlog": {
            "channel": channel,
            "provider_name": provider,
            "event_id": event_id,
            "computer_name": computer,
            "record_id": record_id,
            "event_data": data,
        },
    }


def windows_event(rng: random.Random, now: datetime, computer: str) -> dict[str, Any]:
    rec = rng.randint(100000, 9999999)
    user = rng.choice(USERS)
    roll = rng.random()
    sysmon = "Microsoft-Windows-Sysmon/Operational"
    if roll < 0.03:
        return _winlog(
            now,
            computer,
            sysmon,
            "Microsoft-Windows-Sysmon",
            1,
            {
                "Image": "C:\\Windows\\System32\\netsh.exe",
                "OriginalFileName": "netsh.exe",
                "CommandLine": "netsh advfirewall set allprofiles state off",
                "User": f"DEMO\\{user}",
                "ParentImage": "C:\\Windows\\System32\\cmd.exe",
                "ParentCommandLine": "cmd.exe /c fw.bat",
                "IntegrityLevel": "High",
                "ProcessId": str(rng.randint(1000, 9000)),
            },
            rec,
        )
    if roll < 0.05:
        return _winlog(
            now,
            computer,
            sysmon,
            "Microsoft-Windows-Sysmon",
            1,
            {
                "Image": "C:\\Users\\Public\\Downloads\\KMSAuto Net.exe",
                "OriginalFileName": "KMSAuto Net.exe",
                "CommandLine": '"C:\\Users\\Public\\Downloads\\KMSAuto Net.exe" /win=act /ofs=act',
                "User": f"DEMO\\{user}",
                "ParentImage": "C:\\Windows\\explorer.exe",
                "IntegrityLevel": "High",
                "ProcessId": str(rng.randint(1000, 9000)),
            },
            rec,
        )
    if roll < 0.07:
        return _winlog(
            now,
            computer,
            "Security",
            "Microsoft-Windows-Security-Auditing",
            4722,
            {
                "TargetUserName": "Guest",
                "TargetDomainName": computer.split(".")[0].upper(),
                "TargetSid": "S-1-5-21-1004336348-1177238915-682003330-501",
                "SubjectUserName": user,
                "SubjectDomainName": "DEMO",
                "SubjectLogonId": "0x3e7",
            },
            rec,
        )
    if roll < 0.25:
        return _winlog(
            now,
            computer,
            "Security",
            "Microsoft-Windows-Security-Auditing",
            4625,
            {
                "TargetUserName": rng.choice(["administrator", "admin", user]),
                "TargetDomainName": "DEMO",
                "LogonType": "3",
                "IpAddress": _ip(rng, False),
                "IpPort": str(rng.randint(1024, 65000)),
                "Status": "0xc000006d",
                "SubStatus": "0xc000006a",
                "WorkstationName": "UNKNOWN",
                "LogonProcessName": "NtLmSsp ",
                "AuthenticationPackageName": "NTLM",
            },
            rec,
        )
    return _winlog(
        now,
        computer,
        "Security",
        "Microsoft-Windows-Security-Auditing",
        4624,
        {
            "TargetUserName": user,
            "TargetDomainName": "DEMO",
            "LogonType": rng.choice(["2", "3", "10"]),
            "IpAddress": _ip(rng, False),
            "IpPort": "0",
            "LogonProcessName": "User32 ",
            "AuthenticationPackageName": "Negotiate",
            "TargetLogonId": hex(rng.randint(0x10000, 0xFFFFFF)),
            "WorkstationName": computer.split(".")[0].upper(),
        },
        rec,
    )


def _wrap_text(line: str, now: datetime) -> dict[str, Any]:
    """How Fluent Bit's `http` output wraps a tailed line by default."""
    return {"date": now.timestamp(), "log": line}


Generator = Callable[[random.Random, datetime, str], Any]

GENERATORS: dict[str, Generator] = {
    "web_access": lambda rng, now, src: _wrap_text(nginx_line(rng, now), now),
    "linux_syslog": lambda rng, now, src: _wrap_text(sshd_line(rng, now), now),
    "fortigate": lambda rng, now, src: _wrap_text(fortigate_line(rng, now), now),
    "cef": lambda rng, now, src: _wrap_text(kaspersky_cef(rng, now), now),
    "winlogbeat": lambda rng, now, src: windows_event(rng, now, f"{src.upper()[:15]}.demo.local"),
}


class DemoShippers:
    """Posts a few records per source every `interval_s` to the intake until stopped."""

    def __init__(
        self,
        base_url: str,
        tokens: dict[str, str],
        formats: dict[str, str] | None = None,
        *,
        interval_s: float = 2.0,
        seed: int | None = None,
    ) -> None:
        self.base_url = base_url
        self.tokens = tokens
        self.formats = formats or {}
        self.interval_s = interval_s
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.sent = 0

    def batch(self, source_id: str, fmt: str, now: datetime) -> list[Any]:
        generate = GENERATORS[fmt]
        return [
            generate(self.rng, now - timedelta(seconds=self.rng.random() * self.interval_s), source_id)
            for _ in range(self.rng.randint(1, 6))
        ]

    def tick(self, client: httpx.Client) -> None:
        now = datetime.now(ICT)
        for source_id, token in self.tokens.items():
            fmt = self.formats.get(source_id)
            if source_id in SILENT_SOURCES or fmt not in GENERATORS:
                continue
            body = b"\n".join(orjson.dumps(r) for r in self.batch(source_id, fmt, now))
            resp = client.post(
                "/ingest/v1/events",
                content=body,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"},
            )
            if resp.status_code == 202:
                self.sent += int(resp.json()["accepted"])
            else:
                log.warning(
                    "demo shipper %s: intake answered %s %s", source_id, resp.status_code, resp.text[:200]
                )

    def run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            while not self.stop.is_set():
                try:
                    self.tick(client)
                except httpx.TransportError as exc:
                    log.debug("demo shippers: intake not reachable yet (%s)", exc)
                self.stop.wait(self.interval_s)
