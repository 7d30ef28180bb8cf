"""Rebuild the Windows golden inputs (`.raw` files) from the shared sample data. A dev tool, not a test.

    .venv/bin/python tests/normalizers/windows/make_cases.py [--data /work/shared/data]
    SOC_REGEN_GOLDEN=1 .venv/bin/pytest tests/normalizers/test_windows_golden.py   # then review

Sources, read in place (only the chosen single records are copied):
- SigmaHQ regression samples (`sigma/regression_data`): the `.json` file, verbatim, as an
  `evtx_json` case; its `.evtx` twin is the same event for the equivalence test;
- `.evtx` attack samples (`evtx-attack-samples`): one record read with `normalizers.evtx_file`,
  exactly as an EVTX upload would send it;
- Winlogbeat and NXLog cases: the same real records converted by `shapes.py` (how, is documented
  there); one `xmltodict`-style evtx case rewrites a real record's EventData as `Data` entries
  named by `#attributes.Name`, the other common evtx-to-JSON layout.

`cases.json` records where each case came from; the equivalence test reads it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT.parent.parent))  # the repository, for `normalizers`
sys.path.insert(0, str(HERE))

from shapes import to_nxlog, to_winlogbeat  # noqa: E402

from normalizers.evtx_file import ReadStats, iter_records  # noqa: E402

SYSMON = "Microsoft-Windows-Sysmon/Operational"
REGRESSION = "sigma/regression_data/"
ATTACK = "evtx-attack-samples/"
RDP = (
    ATTACK
    + "Command and Control/DE_RDP_Tunneling_TerminalServices-RemoteConnectionManagerOperational_1149.evtx"
)

# case name -> (source file under the data folder, event id, record id or None for the first)
EVTX_CASES: dict[str, tuple[str, int, int | None]] = {
    "sysmon_1_certutil_download": (
        REGRESSION + "rules/windows/process_creation/proc_creation_win_certutil_download",
        1,
        None,
    ),
    "sysmon_7_image_load_dbgcore": (
        REGRESSION
        + "rules-threat-hunting/windows/image_load/image_load_win_werfaultsecure_dbgcore_dbghelp_load",
        7,
        None,
    ),
    "sysmon_10_process_access_msmpeng": (
        REGRESSION + "rules/windows/process_access/proc_access_win_werfaultsecure_msmpeng_access",
        10,
        None,
    ),
    "sysmon_11_lsass_dump_file": (
        REGRESSION + "rules/windows/file/file_event/file_event_win_taskmgr_lsass_dump",
        11,
        None,
    ),
    "sysmon_12_registry_delete_runmru": (
        REGRESSION + "rules/windows/registry/registry_delete/registry_delete_runmru",
        12,
        None,
    ),
    "sysmon_13_registry_set_rdp_port": (
        REGRESSION + "rules/windows/registry/registry_set/registry_set_change_rdp_port",
        13,
        None,
    ),
    "sysmon_17_pipe_created": (
        REGRESSION + "rules-emerging-threats/2026/Exploits/RedSun/pipe_created_win_exploit_redsun_named_pipe",
        17,
        None,
    ),
    "security_4701_task_disabled": (
        REGRESSION + "rules/windows/builtin/security/win_security_susp_scheduled_task_delete_or_disable",
        4701,
        None,
    ),
    "defender_1119_remediation_failed": (
        REGRESSION + "rules-emerging-threats/2026/Exploits/RedSun/"
        "win_defender_exploit_redsun_tiering_engine_detected_as_eicar",
        1119,
        None,
    ),
    "security_4624_remote_interactive": (
        ATTACK + "Command and Control/DE_RDP_Tunnel_5156.evtx",
        4624,
        227762,
    ),
    "security_4625_logon_failed": (
        ATTACK + "Credential Access/CA_4624_4625_LogonType2_LogonProc_chrome.evtx",
        4625,
        137222,
    ),
    "security_4688_process_created": (ATTACK + "Credential Access/tutto_malseclogon.evtx", 4688, 329919),
    "security_4720_user_created": (
        ATTACK + "Defense Evasion/DE_Fake_ComputerAccount_4720.evtx",
        4720,
        769629,
    ),
    "security_4732_member_added": (
        ATTACK + "Persistence/Network_Service_Guest_added_to_admins_4732.evtx",
        4732,
        191029,
    ),
    "security_4769_service_ticket": (
        ATTACK
        + "Privilege Escalation/samaccount_spoofing_CVE-2021-42287_CVE-2021-42278_DC_securitylogs.evtx",
        4769,
        2982083,
    ),
    "security_5145_share_access": (
        ATTACK + "Credential Access/remote_sam_registry_access_via_backup_operator_priv.evtx",
        5145,
        2988537,
    ),
    "security_5156_wfp_connection": (ATTACK + "Command and Control/DE_RDP_Tunnel_5156.evtx", 5156, 227694),
    "security_1102_log_cleared": (ATTACK + "Command and Control/DE_RDP_Tunnel_5156.evtx", 1102, 227693),
    "sysmon_3_network_connection": (
        ATTACK + "AutomatedTestingTools/PanacheSysmon_vs_AtomicRedTeam01.evtx",
        3,
        3757,
    ),
    "sysmon_22_dns_query": (ATTACK + "Privilege Escalation/Sysmon_UACME_64.evtx", 22, 1084),
    "system_7045_service_installed": (
        ATTACK + "Privilege Escalation/System_7045_namedpipe_privesc.evtx",
        7045,
        10446,
    ),
    "system_7036_service_state": (
        ATTACK + "Defense Evasion/DE_WinEventLogSvc_Crash_System_7036.evtx",
        7036,
        65371,
    ),
    "system_104_log_cleared": (ATTACK + "Defense Evasion/DE_104_system_log_cleared.evtx", 104, None),
    "powershell_4104_script_block": (
        ATTACK + "Credential Access/Powershell_4104_MiniDumpWriteDump_Lsass.evtx",
        4104,
        None,
    ),
    "powershell_800_pipeline": (ATTACK + "Other/emotet/exec_emotet_ps_800_get-item.evtx", 800, None),
    "defender_1116_malware_detected": (
        ATTACK + "AutomatedTestingTools/WinDefender_Events_1117_1116_AtomicRedTeam.evtx",
        1116,
        None,
    ),
    "application_1040_msi_unnamed_data": (ATTACK + "Execution/rogue_msi_url_1040_1042.evtx", 1040, None),
    "rpc_etw_no_channel": (ATTACK + "Credential Access/etw_rpc_zerologon.evtx", 6, None),
    "rdp_1149_userdata": (RDP, 1149, None),
    "rdp_1155_null_eventdata": (
        RDP,
        1155,
        None,
    ),
}

# case name -> (evtx case it converts, options)
WINLOGBEAT_CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "sysmon_1_certutil_download": ("sysmon_1_certutil_download", {"message": True}),
    "sysmon_3_network_connection": ("sysmon_3_network_connection", {"message": True}),
    "sysmon_13_registry_set_rdp_port": ("sysmon_13_registry_set_rdp_port", {"message": True}),
    "sysmon_22_dns_query": ("sysmon_22_dns_query", {"message": True}),
    "security_4624_remote_interactive": ("security_4624_remote_interactive", {}),
    "security_4625_event_id_number": ("security_4625_logon_failed", {"event_id_number": True}),
    "security_4688_process_created": ("security_4688_process_created", {}),
    "security_1102_log_cleared": ("security_1102_log_cleared", {}),
    "system_7045_service_installed": ("system_7045_service_installed", {}),
    "powershell_4104_script_block": ("powershell_4104_script_block", {}),
    "powershell_800_pipeline": ("powershell_800_pipeline", {}),
    "defender_1116_malware_detected": ("defender_1116_malware_detected", {}),
}
NXLOG_CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "sysmon_1_certutil_download": ("sysmon_1_certutil_download", {"message": True}),
    "sysmon_13_registry_set_rdp_port": ("sysmon_13_registry_set_rdp_port", {}),
    "sysmon_22_dns_query": ("sysmon_22_dns_query", {}),
    "security_4624_remote_interactive": ("security_4624_remote_interactive", {}),
    "security_4624_nxlog_ce": ("security_4624_remote_interactive", {"nxlog_ce": True}),
    "security_4625_logon_failed": ("security_4625_logon_failed", {}),
    "security_4688_process_created": ("security_4688_process_created", {}),
    "security_1102_log_cleared": ("security_1102_log_cleared", {}),
    "system_7045_service_installed": ("system_7045_service_installed", {}),
    "powershell_4104_script_block": ("powershell_4104_script_block", {}),
    "defender_1116_malware_detected": ("defender_1116_malware_detected", {}),
}
XMLTODICT_CASE = ("security_4624_data_entries", "security_4624_remote_interactive")


def _event_id(record: dict[str, Any]) -> int:
    value = record["Event"]["System"]["EventID"]
    return int(value["#text"] if isinstance(value, dict) else value)


def _from_evtx(path: Path, event_id: int, record_id: int | None) -> str:
    stats = ReadStats()
    for payload in iter_records(path, stats):
        record = orjson.loads(payload)
        if _event_id(record) != event_id:
            continue
        if record_id is None or record["Event"]["System"]["EventRecordID"] == record_id:
            return payload
    raise SystemExit(f"no event {event_id} record {record_id} in {path} (read errors: {stats.errors})")


def _data_entries(record: dict[str, Any]) -> dict[str, Any]:
    """The record with EventData as `Data` entries named by `#attributes.Name`."""
    event = dict(record["Event"])
    named = event["EventData"]
    event["EventData"] = {
        "Data": [{"#attributes": {"Name": key}, "#text": value} for key, value in named.items()]
    }
    return {"Event": event}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data"))
    args = parser.parse_args()
    manifest: dict[str, Any] = {"evtx_json": {}, "winlogbeat": {}, "nxlog_windows": {}}
    records: dict[str, dict[str, Any]] = {}
    for case, (source, event_id, record_id) in EVTX_CASES.items():
        if source.startswith(REGRESSION):
            folder = args.data / source
            json_file = next(folder.glob("*.json"))
            payload = json_file.read_text(encoding="utf-8").rstrip("\n")
            record = orjson.loads(payload)
            evtx = json_file.with_suffix(".evtx")
            entry = {"json": str(json_file.relative_to(args.data)), "evtx": str(evtx.relative_to(args.data))}
        else:
            payload = _from_evtx(args.data / source, event_id, record_id)
            record = orjson.loads(payload)
            entry = {"evtx": source}
        if _event_id(record) != event_id:
            raise SystemExit(f"{case}: expected event {event_id}, got {_event_id(record)}")
        entry["record_id"] = record["Event"]["System"]["EventRecordID"]
        records[case] = record
        manifest["evtx_json"][case] = entry
        (ROOT / "evtx_json" / f"{case}.raw").write_text(payload + "\n", encoding="utf-8")
    name, origin = XMLTODICT_CASE
    converted = orjson.dumps(_data_entries(records[origin])).decode()
    (ROOT / "evtx_json" / f"{name}.raw").write_text(converted + "\n", encoding="utf-8")
    manifest["evtx_json"][name] = {"converted_from": origin, "how": "EventData as Data entries"}
    for folder, cases, convert in (
        ("winlogbeat", WINLOGBEAT_CASES, to_winlogbeat),
        ("nxlog_windows", NXLOG_CASES, to_nxlog),
    ):
        for case, (origin, options) in cases.items():
            doc = convert(records[origin], **options)
            (ROOT / folder / f"{case}.raw").write_text(orjson.dumps(doc).decode() + "\n", encoding="utf-8")
            manifest[folder][case] = {"converted_from": origin, "options": options}
    (HERE / "cases.json").write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n")
    counts = {folder: len(cases) for folder, cases in manifest.items()}
    print(f"wrote {counts}")


if __name__ == "__main__":
    main()
