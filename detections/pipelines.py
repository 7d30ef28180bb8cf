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
  `sysmon_pipeline`. Security 4688 process creation is not mapped (the Sysmon field names differ);
  the provincial pack carries explicit 4688 rules where it needs them.

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
        ProcessingItem(
            identifier="socpipe_windows_event_data",
            transformation=AddFieldnamePrefixTransformation("winlog.event_data."),
            # Mapped names contain a dot, EventData names never do. (Not "not processed by the
            # mapping item": pySigma marks fieldref items as processed without renaming them.)
            field_name_conditions=[IncludeFieldCondition(fields=["\\w+\\."], mode="re")],
            field_name_condition_negation=True,
            rule_conditions=[LogsourceCondition(product="windows")],
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
        ProcessingItem(
            identifier="socpipe_auditd_data",
            transformation=AddFieldnamePrefixTransformation("auditd.data."),
            field_name_conditions=[IncludeFieldCondition(fields=["\\w+\\."], mode="re")],
            field_name_condition_negation=True,
            rule_conditions=[LogsourceCondition(product="linux", service="auditd")],
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
    """The one pipeline for our matcher and for pysigma-backend-elasticsearch."""
    return ProcessingPipeline(
        name="socpipe: Sigma logsources and fields onto socpipe ECS (normalizers/FIELDS.md)",
        priority=20,
        items=_windows_items() + _linux_items() + _linux_bare_items() + _network_items(),
    )


def is_routed(rule: SigmaRule) -> bool:
    """True when a routing item of the pipeline added its telemetry condition to the rule."""
    return any(item.startswith(ROUTE_PREFIX) for item in rule.applied_processing_items)
