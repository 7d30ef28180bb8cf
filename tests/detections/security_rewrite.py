"""A Sysmon event 1 (evtx-JSON record) rewritten as the Security 4688 event Windows would log for it.

What Windows writes for the same process creation, with "Audit Process Creation" and "Include
command line in process creation events" on (Windows 10 / Server 2016 and later, event version 2):

- System: provider `Microsoft-Windows-Security-Auditing`, channel `Security`, event id 4688,
  version 2, task 13312 (Process Creation), keywords Audit Success; same computer, time, record id;
- EventData in 4688's order: `SubjectUserSid/UserName/DomainName/LogonId` (the creator; here the
  Sysmon `User` split at `\\`, its `LogonId`), `NewProcessId` (hex), `NewProcessName` (= Image),
  `TokenElevationType`, `ProcessId` (the creator, hex), `CommandLine`, `TargetUserSid/UserName/
  DomainName/LogonId` (`S-1-0-0`, `-`, `-`, `0x0`: the new token's account is the creator's),
  `ParentProcessName` (= ParentImage), `MandatoryLabel` (the SID of Sysmon's IntegrityLevel);
- every other Sysmon field (hashes, PE version info, GUIDs, CurrentDirectory, ParentCommandLine,
  ParentUser, TerminalSessionId, ...) has no place in 4688 and is dropped.
"""

from __future__ import annotations

import copy
from typing import Any

SECURITY_PROVIDER = {
    "Name": "Microsoft-Windows-Security-Auditing",
    "Guid": "{54849625-5478-4994-A5BA-3E3B0328C30D}",
}

INTEGRITY_SIDS = {
    "untrusted": "S-1-16-0",
    "low": "S-1-16-4096",
    "medium": "S-1-16-8192",
    "high": "S-1-16-12288",
    "system": "S-1-16-16384",
    "protected": "S-1-16-20480",
}

WELL_KNOWN_SIDS = {
    ("NT AUTHORITY", "SYSTEM"): "S-1-5-18",
    ("NT AUTHORITY", "LOCAL SERVICE"): "S-1-5-19",
    ("NT AUTHORITY", "NETWORK SERVICE"): "S-1-5-20",
}

#: Sysmon event 1 fields that 4688 carries (under its own names); the rest are dropped.
CARRIED = frozenset(
    {
        "User",
        "LogonId",
        "ProcessId",
        "Image",
        "ParentProcessId",
        "CommandLine",
        "ParentImage",
        "IntegrityLevel",
    }
)


def _hex(value: Any) -> str:
    try:
        return hex(int(str(value), 0))
    except ValueError:
        return str(value)


def _account(user: str) -> tuple[str, str, str]:
    domain, _, name = user.rpartition("\\")
    sid = WELL_KNOWN_SIDS.get((domain.upper(), name.upper()), "S-1-5-21-1004336348-1177238915-682003330-1001")
    return sid, name, domain


def to_security_4688(record: dict[str, Any]) -> dict[str, Any]:
    """The 4688 record for one Sysmon event 1 record (evtx-JSON, as the regression samples)."""
    event = record["Event"]
    system = event["System"]
    data = event["EventData"]
    sid, name, domain = _account(str(data.get("User") or "-\\-"))
    new_data: dict[str, Any] = {
        "SubjectUserSid": sid,
        "SubjectUserName": name,
        "SubjectDomainName": domain,
        "SubjectLogonId": data.get("LogonId", "0x0"),
        "NewProcessId": _hex(data.get("ProcessId", 0)),
        "NewProcessName": data.get("Image", ""),
        "TokenElevationType": "%%1936",
        "ProcessId": _hex(data.get("ParentProcessId", 0)),
        "CommandLine": data.get("CommandLine", ""),
        "TargetUserSid": "S-1-0-0",
        "TargetUserName": "-",
        "TargetDomainName": "-",
        "TargetLogonId": "0x0",
        "ParentProcessName": data.get("ParentImage", ""),
        "MandatoryLabel": INTEGRITY_SIDS.get(str(data.get("IntegrityLevel", "")).lower(), "S-1-16-8192"),
    }
    new_system = {
        "Provider": {"#attributes": dict(SECURITY_PROVIDER)},
        "EventID": 4688,
        "Version": 2,
        "Level": 0,
        "Task": 13312,
        "Opcode": 0,
        "Keywords": "0x8020000000000000",
        "TimeCreated": copy.deepcopy(system["TimeCreated"]),
        "EventRecordID": system.get("EventRecordID"),
        "Correlation": None,
        "Execution": {"#attributes": {"ProcessID": 4, "ThreadID": 8}},
        "Channel": "Security",
        "Computer": system.get("Computer"),
        "Security": None,
    }
    return {
        "Event": {"#attributes": event.get("#attributes", {}), "System": new_system, "EventData": new_data}
    }


def is_sysmon_process_creation(record: dict[str, Any]) -> bool:
    system = record["Event"]["System"]
    event_id = system["EventID"]
    if isinstance(event_id, dict):
        event_id = event_id.get("#text")
    return system.get("Channel") == "Microsoft-Windows-Sysmon/Operational" and str(event_id) == "1"
