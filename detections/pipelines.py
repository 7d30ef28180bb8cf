"""pySigma processing pipelines: Sigma logsources and field names onto the fields our normalizers emit.

The target is `normalizers/FIELDS.md`; change both together. One pipeline (`socpipe_pipeline()`)
serves our matcher AND pysigma-backend-elasticsearch, so the differential test converts the same
rules with the same pipeline. It only uses stock pySigma transformations for that reason.

Why our own pipeline rather than `ecs_windows` / `sysmon_pipeline` + `windows_logsource_pipeline`:

- `ecs_windows` maps ~90 Sysmon field names onto ECS fields (`Image` -> `process.executable`, ...)
  and prefixes the rest with `winlog.event_data.`. The ECS side of a Windows event depends on which
  of the four shapes (Winlogbeat, evtx, NXLog...) and which event id it came from; the EventData side
  does not: the normalizers keep EVERY EventData field there, verbatim, as a string. Mapping every
  Windows field to `winlog.event_data.<Field>` therefore tests exactly what the rule author tested
  (the Sysmon/Security value) and needs no per-event-id tables, so it is the most faithful mapping.
- The logsource tables are reused from the stock packages (category -> Sysmon EventID from
  pysigma-pipeline-sysmon, PowerShell categories from pysigma-pipeline-windows, service -> channel
  from pySigma), with our own processing-item ids so the loader can tell which rules were routed:
  a rule whose logsource no item recognised is *dormant* (compiled and validated, never dispatched),
  because without a channel/dataset condition it would match unrelated events.
- Windows generic categories (`process_creation`, `file_event`, ...) route to Sysmon, like
  `sysmon_pipeline`.
- The categories pySigma's `windows_audit_pipeline` maps onto the Security log (`process_creation`
  -> 4688, `registry_event`/`registry_set`/`registry_add` -> 4657) get a second *variant*: the
  same rule through `security_pipeline()`. The loader compiles both into the one rule id
  (`compiler.compile_rule`): the rule is filed under both variants' dispatch keys and runs the
  variant of the event's channel and event id, so a `process_creation` rule fires on Sysmon
  event 1 AND on Security 4688, for the many machines with process auditing but no Sysmon. The
  differential test converts both variants for Elasticsearch and ORs the two queries.

The Security variant maps only true equivalents (`SECURITY_4688_FIELDS`, `SECURITY_4657_FIELDS`:
pySigma's audit mapping plus the fields 4688/4657 carry with the same meaning, e.g. `ProcessId` ->
`NewProcessId`, `ParentProcessId` -> `ProcessId`, `IntegrityLevel` -> `MandatoryLabel` with level
names turned into their SIDs). Every other field of the rule has no Security equivalent
(`OriginalFileName`, `Hashes`, `Company`, `ParentCommandLine`, `User`, ...) and is mapped under
`NO_EQUIVALENT_PREFIX`, a namespace no normalizer writes: it is ABSENT on the Security event, never
guessed from another field, so `OriginalFileName: x` cannot match there and `OriginalFileName: null`
behaves as for any missing field. (pySigma instead fails the whole rule on 4657's unsupported
fields; absent keeps the rule's other selections working.) Values keep the Security log's own form:
`NewProcessId` is hex (`0x1a2c`; numeric comparison reads it), `MandatoryLabel` a SID.

Non-Windows logsources are matched on the dataset/record fields the normalizers promise:

| Sigma logsource                         | condition added                                  |
|-----------------------------------------|--------------------------------------------------|
| linux / process_creation                | `auditd.record_types: EXECVE`                    |
| linux / auditd                          | `auditd.record_types` exists                     |
| linux / sshd, sudo, cron, vsftpd, ...   | `process.name` one of the program names          |
| linux / auth                            | `event.dataset: linux.auth`                      |
| linux / syslog, linux (no service)      | `event.dataset` one of `LINUX_SYSLOG_DATASETS`   |
| webserver, apache, nginx                | `event.dataset` one of `WEB_DATASETS`            |
| proxy                                   | `event.dataset` one of `PROXY_DATASETS`          |
| firewall                                | `observer.type: firewall`                        |
| dns                                     | `dns.question.name` exists                       |
| antivirus                               | `event.category: malware`                        |

Everything else (cloud, macOS, Linux file_event/network_connection, ETW-only Windows categories) is
dormant until a normalizer emits that telemetry.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import cache
from typing import Any

from sigma.correlations import SigmaCorrelationRule
from sigma.modifiers import SigmaWideModifier, modifier_mapping
from sigma.pipelines.common import windows_logsource_mapping
from sigma.pipelines.sysmon.sysmon import sysmon_generic_logsource_eventid_mapping
from sigma.pipelines.windows.windows import windows_generic_category_channel_mapping
from sigma.processing.conditions import (
    IncludeFieldCondition,
    LogsourceCondition,
    RuleProcessingCondition,
)
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import (
    AddConditionTransformation,
    AddFieldnamePrefixTransformation,
    ChangeLogsourceTransformation,
    FieldMappingTransformation,
    MapStringTransformation,
)
from sigma.rule import SigmaRule

# The Sigma specification names `utf16le` as an alias of `wide`; pySigma 1.5 only knows `wide`.
# Registered here so that our matcher and the Elasticsearch backend (both import this module) agree.
modifier_mapping.setdefault("utf16le", SigmaWideModifier)

#: Prefix of the ids of processing items that route a rule to telemetry (see `is_routed`).
ROUTE_PREFIX = "socpipe_route_"

#: `event.dataset` values the normalizers emit (FIELDS.md: `<format>.<subtype>`).
LINUX_AUTH_DATASETS = ["linux.auth"]
LINUX_SYSLOG_DATASETS = ["linux.auth", "linux.syslog", "linux.journald"]
WEB_DATASETS = ["web.access", "iis.access"]
PROXY_DATASETS = ["proxy.access"]

#: Linux services whose Sigma rules are keyword searches over one program's messages.
LINUX_PROGRAMS: dict[str, list[str]] = {
    "sshd": ["sshd", "sshd-session"],  # OpenSSH 9.8+ logs sessions as sshd-session
    "sudo": ["sudo"],
    "cron": ["cron", "crond", "CRON"],
    "vsftpd": ["vsftpd"],
    "clamav": ["clamd", "freshclam", "clamscan", "clamdscan", "clamav-milter"],
    "guacamole": ["guacd", "guacamole"],
}

#: Windows services missing from pySigma's table that we can name with confidence.
EXTRA_WINDOWS_CHANNELS: dict[str, str | list[str]] = {
    "smbserver-connectivity": "Microsoft-Windows-SmbServer/Connectivity",
    "smbclient-connectivity": "Microsoft-Windows-SmbClient/Connectivity",
    "iis-configuration": "Microsoft-IIS-Configuration/Operational",
    "ldap": "Microsoft-Windows-LDAP-Client/Debug",
    "kernel-pnp": "Microsoft-Windows-Kernel-PnP/Configuration",
}

#: Fields of a rule's Security-log variant that the Security event does not carry: no normalizer
#: writes this namespace, so they are always absent (see the module docstring).
NO_EQUIVALENT_PREFIX = "socpipe.no_equivalent."

#: Sysmon process-creation fields -> their Security 4688 equivalents (EventData names). pySigma's
#: audit pipeline maps Image, ParentImage and LogonId; the rest carry the same fact in 4688 too.
#: Not here, so absent: User (4688 splits the *creator's* account into Subject*; Target* is the
#: new token's account only when it differs, else `-`), ParentCommandLine, CurrentDirectory, Hashes,
#: OriginalFileName, Description, Product, Company, FileVersion, ProcessGuid, ParentProcessGuid,
#: LogonGuid, TerminalSessionId, ParentUser.
SECURITY_4688_FIELDS = {
    "Image": "NewProcessName",
    "ParentImage": "ParentProcessName",  # 4688 version 2 (Windows 10 / Server 2016 and later)
    "CommandLine": "CommandLine",  # with "Include command line in process creation events" on
    "ProcessId": "NewProcessId",  # hex in 4688
    "ParentProcessId": "ProcessId",  # the creator, hex in 4688
    "LogonId": "SubjectLogonId",  # the new process runs in its creator's logon session
    "IntegrityLevel": "MandatoryLabel",  # a SID: see INTEGRITY_LEVEL_SIDS
}

#: Sysmon's integrity level names -> the mandatory label SIDs 4688 writes.
INTEGRITY_LEVEL_SIDS: dict[str, str | list[str]] = {
    name: sid
    for level, sid in (
        ("Untrusted", "S-1-16-0"),
        ("Low", "S-1-16-4096"),
        ("Medium", "S-1-16-8192"),
        ("High", "S-1-16-12288"),
        ("System", "S-1-16-16384"),
        ("Protected", "S-1-16-20480"),
    )
    for name in (level, level.lower(), level.upper())
}

#: Sysmon registry fields -> Security 4657 (pySigma's audit mapping plus ProcessId, which 4657
#: carries in hex). Absent: EventType, NewName, User (as pySigma lists them), ProcessGuid.
#: TargetObject is the value's full path; 4657 splits it into ObjectName (the key, with kernel hive
#: names: `\REGISTRY\MACHINE\...`) and ObjectValueName. pySigma maps it to ObjectName, where patterns
#: naming the value or `HKLM\` never match; here it maps to `registry.path`, which the normalizer
#: builds from the two as Sysmon writes TargetObject (`windows_ecs.registry_value_path`). Details
#: keeps pySigma's NewValue: 4657 prints value data its own way (no `DWORD (0x...)`).
SECURITY_4657_FIELDS = {
    "Image": "ProcessName",
    "Details": "NewValue",
    "ProcessId": "ProcessId",
    "OperationType": "OperationType",  # the route condition below
}
SECURITY_4657_ECS = {"TargetObject": "registry.path"}

#: 4657 OperationType per registry category: the message-table id the event carries, and the text
#: a shipper that renders insertion strings sends (pySigma's conditions use the text).
SECURITY_4657_OPERATIONS = {
    "registry_event": ["%%1904", "New registry value created", "%%1905", "Existing registry value modified"],
    "registry_set": ["%%1905", "Existing registry value modified"],
    "registry_add": ["%%1904", "New registry value created"],
}

#: Windows System-header fields that are not EventData.
WINDOWS_FIELDS = {
    "EventID": "event.code",
    "Channel": "winlog.channel",
    "Provider_Name": "winlog.provider_name",
    "Computer": "winlog.computer_name",
}

#: Defender (windefend) EventData names carry spaces ("Threat Name"); Sigma writes them without
#: ("ThreatName"). Shippers differ on which they keep, so such a field matches either spelling.
DEFENDER_SPACED_FIELDS = (
    "Product Name",
    "Product Version",
    "Detection ID",
    "Detection Time",
    "Threat ID",
    "Threat Name",
    "Severity ID",
    "Severity Name",
    "Category ID",
    "Category Name",
    "Status Code",
    "Status Description",
    "Source ID",
    "Source Name",
    "Process Name",
    "Detection User",
    "Origin ID",
    "Origin Name",
    "Execution ID",
    "Execution Name",
    "Type ID",
    "Type Name",
    "Pre Execution Status",
    "Action ID",
    "Action Name",
    "Error Code",
    "Error Description",
    "Post Clean Status",
    "Additional Actions ID",
    "Additional Actions String",
    "Remediation User",
    "Security intelligence Version",
    "Engine Version",
    "Old Value",
    "New Value",
    "Feature Name",
    "Feature ID",
    "Scan ID",
    "Scan Type",
    "Scan Parameters",
    "Signature Version",
    "Source Path",
    "Target Path",
    "Threat Name",
)

LINUX_PROCESS_FIELDS = {
    "Image": "process.executable",
    "CommandLine": "process.command_line",
    "ParentImage": "process.parent.executable",
    "ParentCommandLine": "process.parent.command_line",
    "CurrentDirectory": "process.working_directory",
    "User": "user.name",
    "ProcessId": "process.pid",
    "ParentProcessId": "process.parent.pid",
    "LogonId": "auditd.data.auid",
}

# `SYSCALL` stays `auditd.data.SYSCALL`: the normalizer writes the syscall's name there (as auditd's
# enriched format does, and as Sigma rules expect), while `auditd.data.syscall` is the raw number.
AUDITD_FIELDS = {"type": "auditd.record_types"}

WEB_FIELDS = {
    "c-ip": "source.ip",
    "cs-uri-query": "url.original",
    "cs-uri-stem": "url.path",
    "cs-uri": "url.original",
    "c-uri": "url.original",
    "c-uri-query": "url.query",
    "c-uri-stem": "url.path",
    "c-uri-extension": "url.extension",
    "cs-method": "http.request.method",
    "sc-status": "http.response.status_code",
    "cs-user-agent": "user_agent.original",
    "c-useragent": "user_agent.original",
    "cs-referer": "http.request.referrer",
    "cs-username": "user.name",
    "cs-host": "url.domain",
    "cs-content-type": "http.request.mime_type",
    "cs-cookie": "http.request.cookie",
    "r-dns": "url.domain",
    "dst_ip": "destination.ip",
    "src_ip": "source.ip",
}

FIREWALL_FIELDS = {
    "src_ip": "source.ip",
    "src_port": "source.port",
    "dst_ip": "destination.ip",
    "dst_port": "destination.port",
    "action": "event.action",
    "blocked": "event.action",
    "username": "user.name",
}

#: Sigma's `antivirus` taxonomy: the threat name each anti-malware source reports, and the file.
#: Kaspersky (CEF from the Security Center), Defender (windefend channel, either spelling of the
#: EventData name) and FortiGate's UTM antivirus each name the threat in their own field.
ANTIVIRUS_FIELDS: dict[str, str | list[str]] = {
    "Signature": [
        "kaspersky.threat_name",
        "winlog.event_data.Threat Name",
        "winlog.event_data.ThreatName",
        "fortinet.firewall.virus",
    ],
    "Filename": "file.path",
    "Computer": "host.name",
}

DNS_FIELDS = {
    "query": "dns.question.name",
    "record_type": "dns.question.type",
    "answer": "dns.answers.data",
    "src_ip": "source.ip",
}


def _fields(mapping: dict[str, str] | dict[str, str | list[str]]) -> dict[str | None, str | list[str]]:
    """A fresh copy typed as pySigma wants it (transformations must not share mutable state)."""
    return {k: list(v) if isinstance(v, list) else v for k, v in mapping.items()}


def _defender_fields() -> dict[str | None, str | list[str]]:
    out: dict[str | None, str | list[str]] = {}
    for name in DEFENDER_SPACED_FIELDS:
        compact = name.replace(" ", "")
        out[compact] = ["winlog.event_data." + compact, "winlog.event_data." + name]
    return out


def _prefix_unmapped(identifier: str, prefix: str, logsource: LogsourceCondition) -> ProcessingItem:
    """Prefix the field names no mapping item renamed (mapped names contain a dot, raw names never
    do; not "not processed by the mapping item": pySigma marks fieldref items as processed without
    renaming them)."""
    return ProcessingItem(
        identifier=identifier,
        transformation=AddFieldnamePrefixTransformation(prefix),
        field_name_conditions=[IncludeFieldCondition(fields=["\\w+\\."], mode="re")],
        field_name_condition_negation=True,
        rule_conditions=[logsource],
    )


def _route(
    name: str, conditions: dict[str, Any], logsource: LogsourceCondition, **change: str
) -> list[ProcessingItem]:
    """Add the telemetry condition for one logsource (and optionally rewrite the logsource)."""
    items = [
        ProcessingItem(
            identifier=f"{ROUTE_PREFIX}{name}",
            transformation=AddConditionTransformation(conditions),
            rule_conditions=[copy.deepcopy(logsource)],
        )
    ]
    if change:
        items.append(
            ProcessingItem(
                identifier=f"socpipe_logsource_{name}",
                transformation=ChangeLogsourceTransformation(**change),
                rule_conditions=[copy.deepcopy(logsource)],
            )
        )
    return items


def _windows_items() -> list[ProcessingItem]:
    items: list[ProcessingItem] = []
    # Generic categories first: they add the event id and turn the logsource into a service, which
    # the channel items below then pick up.
    for category, event_id in sysmon_generic_logsource_eventid_mapping.items():
        items += _route(
            f"win_cat_{category}",
            {"EventID": event_id},
            LogsourceCondition(category=category, product="windows"),
            product="windows",
            service="sysmon",
            category=category,
        )
    for category, info in windows_generic_category_channel_mapping.items():
        items += _route(
            f"win_cat_{category}",
            {"EventID": info["EventID"]},
            LogsourceCondition(category=category, product="windows"),
            product="windows",
            service=str(info["service"]),
            category=category,
        )
    channels: dict[str, Any] = {**windows_logsource_mapping, **EXTRA_WINDOWS_CHANNELS}
    for service, channel in channels.items():
        items += _route(
            f"win_svc_{service}",
            {"Channel": channel},
            LogsourceCondition(product="windows", service=service),
        )
    items += [
        ProcessingItem(
            identifier="socpipe_windefend_fields",
            transformation=FieldMappingTransformation(_defender_fields()),
            rule_conditions=[LogsourceCondition(product="windows", service="windefend")],
        ),
        ProcessingItem(
            identifier="socpipe_windows_fields",
            transformation=FieldMappingTransformation(_fields(WINDOWS_FIELDS)),
            rule_conditions=[LogsourceCondition(product="windows")],
        ),
        # Every other Windows field is EventData, kept verbatim by the normalizers.
        _prefix_unmapped(
            "socpipe_windows_event_data", "winlog.event_data.", LogsourceCondition(product="windows")
        ),
    ]
    return items


def _linux_items() -> list[ProcessingItem]:
    items = _route(
        "linux_process_creation",
        {"auditd.record_types": "EXECVE"},
        LogsourceCondition(product="linux", category="process_creation"),
    )
    items.append(
        ProcessingItem(
            identifier="socpipe_linux_process_fields",
            transformation=FieldMappingTransformation(_fields(LINUX_PROCESS_FIELDS)),
            rule_conditions=[LogsourceCondition(product="linux", category="process_creation")],
        )
    )
    items += _route(
        "linux_auditd",
        {"auditd.record_types|exists": True},
        LogsourceCondition(product="linux", service="auditd"),
    )
    items += [
        ProcessingItem(
            identifier="socpipe_auditd_fields",
            transformation=FieldMappingTransformation(_fields(AUDITD_FIELDS)),
            rule_conditions=[LogsourceCondition(product="linux", service="auditd")],
        ),
        _prefix_unmapped(
            "socpipe_auditd_data", "auditd.data.", LogsourceCondition(product="linux", service="auditd")
        ),
    ]
    for service, programs in LINUX_PROGRAMS.items():
        items += _route(
            f"linux_{service}",
            {"process.name": list(programs)},
            LogsourceCondition(product="linux", service=service),
        )
    items += _route(
        "linux_auth",
        {"event.dataset": list(LINUX_AUTH_DATASETS)},
        LogsourceCondition(product="linux", service="auth"),
    )
    items += _route(
        "linux_syslog",
        {"event.dataset": list(LINUX_SYSLOG_DATASETS)},
        LogsourceCondition(product="linux", service="syslog"),
    )
    return items


def _category(
    category: str, conditions: dict[str, Any], fields: dict[str, str] | dict[str, str | list[str]]
) -> list[ProcessingItem]:
    """A Sigma category routed to its telemetry, with the category's field names mapped."""
    logsource = LogsourceCondition(category=category)
    return [
        *_route(category, conditions, logsource),
        ProcessingItem(
            identifier=f"socpipe_{category}_fields",
            transformation=FieldMappingTransformation(_fields(fields)),
            rule_conditions=[copy.deepcopy(logsource)],
        ),
    ]


def _network_items() -> list[ProcessingItem]:
    items: list[ProcessingItem] = []
    web = [
        LogsourceCondition(category="webserver"),
        LogsourceCondition(service="apache"),
        LogsourceCondition(service="nginx"),
    ]
    for i, logsource in enumerate(web):
        items += _route(f"web_{i}", {"event.dataset": list(WEB_DATASETS)}, logsource)
        items.append(
            ProcessingItem(
                identifier=f"socpipe_web_fields_{i}",
                transformation=FieldMappingTransformation(_fields(WEB_FIELDS)),
                rule_conditions=[copy.deepcopy(logsource)],
            )
        )
    items += _category("proxy", {"event.dataset": list(PROXY_DATASETS)}, WEB_FIELDS)
    items += _category("firewall", {"observer.type": "firewall"}, FIREWALL_FIELDS)
    items += _category("antivirus", {"event.category": "malware"}, ANTIVIRUS_FIELDS)
    items += _category("dns", {"dns.question.name|exists": True}, DNS_FIELDS)
    return items


def _linux_bare_items() -> list[ProcessingItem]:
    """`product: linux` with neither category nor service: syslog keyword rules."""
    return [
        ProcessingItem(
            identifier=f"{ROUTE_PREFIX}linux_bare",
            transformation=AddConditionTransformation({"event.dataset": list(LINUX_SYSLOG_DATASETS)}),
            rule_conditions=[_BareLinux()],
        )
    ]


@dataclass
class _BareLinux(RuleProcessingCondition):
    """Matches `product: linux` only when the rule names neither a category nor a service."""

    def match(self, rule: SigmaRule | SigmaCorrelationRule) -> bool:
        if not isinstance(rule, SigmaRule):
            return False
        ls = rule.logsource
        return bool(ls.product == "linux" and ls.category is None and ls.service is None)


def socpipe_pipeline() -> ProcessingPipeline:
    """The pipeline for our matcher and for pysigma-backend-elasticsearch (every rule's first
    variant; `security_pipeline` gives some Windows rules a second)."""
    return ProcessingPipeline(
        name="socpipe: Sigma logsources and fields onto socpipe ECS (normalizers/FIELDS.md)",
        priority=20,
        items=_windows_items() + _linux_items() + _linux_bare_items() + _network_items(),
    )


def _full(mapping: dict[str, str]) -> dict[str | None, str | list[str]]:
    return {sigma: "winlog.event_data." + name for sigma, name in mapping.items()}


def _security_items() -> list[ProcessingItem]:
    items: list[ProcessingItem] = []
    process = LogsourceCondition(category="process_creation", product="windows")
    items += _route("sec_process_creation", {"Channel": "Security", "EventID": 4688}, copy.deepcopy(process))
    items += [
        ProcessingItem(
            identifier="socpipe_sec_integrity_level_sids",
            transformation=MapStringTransformation(dict(INTEGRITY_LEVEL_SIDS)),
            field_name_conditions=[IncludeFieldCondition(fields=["IntegrityLevel"])],
            rule_conditions=[copy.deepcopy(process)],
        ),
        ProcessingItem(
            identifier="socpipe_sec_4688_fields",
            transformation=FieldMappingTransformation(_full(SECURITY_4688_FIELDS)),
            rule_conditions=[copy.deepcopy(process)],
        ),
    ]
    for category, operations in SECURITY_4657_OPERATIONS.items():
        registry = LogsourceCondition(category=category, product="windows")
        conditions = {"Channel": "Security", "EventID": 4657, "OperationType": list(operations)}
        items += _route(f"sec_{category}", conditions, copy.deepcopy(registry))
        items.append(
            ProcessingItem(
                identifier=f"socpipe_sec_4657_fields_{category}",
                transformation=FieldMappingTransformation(
                    {**_full(SECURITY_4657_FIELDS), **_fields(SECURITY_4657_ECS)}
                ),
                rule_conditions=[copy.deepcopy(registry)],
            )
        )
    items += [
        ProcessingItem(
            identifier="socpipe_sec_windows_fields",
            transformation=FieldMappingTransformation(_fields(WINDOWS_FIELDS)),
            rule_conditions=[LogsourceCondition(product="windows")],
        ),
        # What the tables above did not map has no Security equivalent: absent, never guessed.
        _prefix_unmapped(
            "socpipe_sec_no_equivalent", NO_EQUIVALENT_PREFIX, LogsourceCondition(product="windows")
        ),
    ]
    return items


def security_pipeline() -> ProcessingPipeline:
    """The Security-log variant of the Windows categories pySigma's audit pipeline covers."""
    return ProcessingPipeline(
        name="socpipe: Sysmon categories onto their Security-log equivalents (4688, 4657)",
        priority=20,
        items=_security_items(),
    )


#: Logsource categories that have a Security-log variant (`security_pipeline`).
SECURITY_VARIANT_CATEGORIES = frozenset({"process_creation", *SECURITY_4657_OPERATIONS})


@cache
def _security() -> ProcessingPipeline:
    """One instance, as the loader keeps one of the main pipeline (`apply` resets its state)."""
    return security_pipeline()


def apply_pipelines(rule: SigmaRule, pipeline: ProcessingPipeline) -> list[SigmaRule]:
    """`rule` through `pipeline`, plus a copy of it through `security_pipeline` when the rule has a
    Security-log variant: the arguments of `compiler.compile_rule` (rules and filters alike)."""
    variant = copy.deepcopy(rule) if has_security_variant(rule) else None
    pipeline.apply(rule)
    if variant is None:
        return [rule]
    _security().apply(variant)
    return [rule, variant] if is_routed(variant) else [rule]


def has_security_variant(rule: SigmaRule) -> bool:
    """True for a Windows rule of a category the Security log also records (before any pipeline)."""
    ls = rule.logsource
    return ls.product == "windows" and ls.category in SECURITY_VARIANT_CATEGORIES and ls.service is None


def is_routed(rule: SigmaRule) -> bool:
    """True when a routing item of the pipeline added its telemetry condition to the rule."""
    return any(item.startswith(ROUTE_PREFIX) for item in rule.applied_processing_items)
