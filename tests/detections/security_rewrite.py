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
    new_system = _security_system(system, event_id=4688, version=2, task=13312)
    return {
        "Event": {"#attributes": event.get("#attributes", {}), "System": new_system, "EventData": new_data}
    }


def is_sysmon_process_creation(record: dict[str, Any]) -> bool:
    return _is_sysmon(record, "1")


#: Sysmon's hive names -> the kernel names 4657 writes in ObjectName.
KERNEL_HIVES = (("HKLM\\", "\\REGISTRY\\MACHINE\\"), ("HKU\\", "\\REGISTRY\\USER\\"))
#: Registry value types 4657 names by message id (`%%1873` REG_SZ, `%%1876` REG_DWORD).
REG_SZ, REG_DWORD = "%%1873", "%%1876"


def _dword(details: str) -> int | None:
    if details.startswith("DWORD (") and details.endswith(")"):
        try:
            return int(details[7:-1], 16)
        except ValueError:
            return None
    return None


def to_security_4657(record: dict[str, Any]) -> dict[str, Any]:
    """The 4657 ("a registry value was modified") record for one Sysmon event 13 record.

    As Microsoft documents 4657: ObjectName is the key with its kernel hive name
    (`\\REGISTRY\\MACHINE\\...`), ObjectValueName the value's name, OperationType `%%1905`
    (existing value modified), ProcessId hex. NewValue: a string as it is; a DWORD as its decimal
    number (how Windows prints DWORD data; Sysmon's `DWORD (0x...)` form is Sysmon's own).
    """
    event = record["Event"]
    system = event["System"]
    data = event["EventData"]
    target = str(data.get("TargetObject", ""))
    for short, kernel in KERNEL_HIVES:
        if target.upper().startswith(short):
            target = kernel + target[len(short) :]
            break
    key, _, value_name = target.rpartition("\\")
    details = str(data.get("Details", ""))
    number = _dword(details)
    sid, name, domain = _account(str(data.get("User") or "-\\-"))
    new_data = {
        "SubjectUserSid": sid,
        "SubjectUserName": name,
        "SubjectDomainName": domain,
        "SubjectLogonId": "0x3e7",
        "ObjectName": key,
        "ObjectValueName": value_name,
        "HandleId": "0x1a4",
        "OperationType": "%%1905",
        "OldValueType": REG_SZ,
        "OldValue": "",
        "NewValueType": REG_SZ if number is None else REG_DWORD,
        "NewValue": details if number is None else str(number),
        "ProcessId": _hex(data.get("ProcessId", 0)),
        "ProcessName": data.get("Image", ""),
    }
    new_system = _security_system(system, event_id=4657, version=0, task=12801)
    return {"Event": {"System": new_system, "EventData": new_data}}


def is_sysmon_registry_set(record: dict[str, Any]) -> bool:
    return _is_sysmon(record, "13")


def _security_system(system: dict[str, Any], *, event_id: int, version: int, task: int) -> dict[str, Any]:
    """A Security-Auditing System block (Audit Success) keeping the source's computer, time, record id."""
    return {
        "Provider": {"#attributes": dict(SECURITY_PROVIDER)},
        "EventID": event_id,
        "Version": version,
        "Level": 0,
        "Task": task,
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


def _is_sysmon(record: dict[str, Any], wanted: str) -> bool:
    system = record["Event"]["System"]
    event_id = system["EventID"]
    if isinstance(event_id, dict):
        event_id = event_id.get("#text")
    return system.get("Channel") == "Microsoft-Windows-Sysmon/Operational" and str(event_id) == wanted
