"""Windows events -> ECS, once, for the four shapes the same events arrive in.

Winlogbeat JSON (`normalizers.winlogbeat`), evtx-to-JSON (`normalizers.evtx_json`, also what
`normalizers.evtx_file` reads out of `.evtx` files) and NXLog `im_msvistalog` JSON
(`normalizers.nxlog_windows`) each turn their record into a `WinEvent`, the canonical
intermediate, and call `to_ecs`. Mapping in one place is what makes the shapes agree: the same
event gives the same ECS document whichever shipper carried it (tested in
`tests/normalizers/test_windows_equivalence.py`).

The ECS mapping follows Elastic's Windows and Sysmon integrations (Winlogbeat output plus the
`windows`/`system` ingest pipelines) field for field, with these deliberate differences:

- every EventData/UserData field stays under `winlog.event_data` as a string (Elastic moves many
  out): Sigma rules test the raw names, so each needs a value (FIELDS.md);
- `process.args` use the real Windows command-line rules everywhere (Elastic splits 4688 on
  blanks only);
- user fields come from `Subject*` for every Security event that has them, not only the events
  Elastic lists, so `SubjectUserName`-based rules work on all of them;
- `winlog.logon.id` of a 4624 is the new session (`TargetLogonId`), which is what 4634/4647 name;
- Sysmon 23 hashes are the deleted file's, so they go to `file.hash` (Elastic: `process.hash`);
- `sysmon.dns.status` keeps the numeric status Sigma rules test (Elastic translates it);
- a group member's `user.target.domain` joins all `DC=` parts of its DN (Elastic takes the 4th
  part of the DN, whatever it is); logon type 0 is named `System`.

Conventions that make the shapes agree:

- values: an empty EventData value is kept as `""` (Sigma tells `field: ''` from `field: null`),
  a null one is dropped; CRLF becomes LF with trailing newlines trimmed (Winlogbeat and NXLog both
  do this, so the evtx shape must too); numbers become decimal strings, booleans `true`/`false`.
  Winlogbeat and NXLog drop empty values before sending, so only the shapes that carry them (evtx
  files, evtx JSON) can have them;
- unnamed `<Data>` elements are `param1..N` (Winlogbeat's names), and `winlog.event_data.Data` is
  the list of those values in order, Sigma's `Data` field on classic logs (`unnamed_values`);
- `@timestamp` is the event's own `TimeCreated/SystemTime` in UTC, cut to milliseconds (Winlogbeat
  sends milliseconds and an Elasticsearch `date` keeps no more);
- `winlog.level`/`opcode`/`task`/`keywords` are names: as the shipper rendered them, else the
  standard Windows (winmeta) names and, for tasks, the names of the Security, Sysmon, PowerShell and
  Eventlog providers below; omitted when unknown (raw numbers mean nothing to an analyst);
- `host.name` is the lower-case short computer name, `host.hostname` and `winlog.computer_name`
  the computer name as sent (FIELDS.md).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Any, Final

import orjson

from normalizers._text_common import add_related
from soc_core.errors import NormalizeError
from soc_core.flat import flatten_at, flatten_under, json_time, make_place

Doc = dict[str, Any]


@dataclass(slots=True, kw_only=True, init=False)
class WinEvent:
    """One Windows event, whatever shipper carried it: System fields, EventData, UserData.

    `event_data` holds EventData and the flattened UserData, already as the strings FIELDS.md
    promises; `user_data` is UserData kept as Winlogbeat gives it (`xml_name` = the element name).
    Name fields (`level`, `task`, ...) are None when neither the shipper nor our tables know them.

    The constructor is written out (the dataclass gives the rest: eq, repr): mypyc compiles a
    class's own `__init__`, while the one `@dataclass` generates runs as interpreted Python, and
    one is built per Windows event (a tenth of the evtx_json parser's time).
    """

    event_id: str
    time: datetime
    channel: str | None = None
    provider: str | None = None
    provider_guid: str | None = None
    record_id: str | None = None
    computer: str | None = None
    event_data: dict[str, str] = field(default_factory=dict)
    user_data: dict[str, str] | None = None
    version: int | None = None
    level: str | None = None
    task: str | None = None
    opcode: str | None = None
    keywords: list[str] | None = None
    pid: int | None = None
    thread_id: int | None = None
    user_sid: str | None = None
    user_name: str | None = None
    user_domain: str | None = None
    user_type: str | None = None
    activity_id: str | None = None
    related_activity_id: str | None = None
    message: str | None = None

    def __init__(
        self,
        *,
        event_id: str,
        time: datetime,
        channel: str | None = None,
        provider: str | None = None,
        provider_guid: str | None = None,
        record_id: str | None = None,
        computer: str | None = None,
        event_data: dict[str, str] | None = None,
        user_data: dict[str, str] | None = None,
        version: int | None = None,
        level: str | None = None,
        task: str | None = None,
        opcode: str | None = None,
        keywords: list[str] | None = None,
        pid: int | None = None,
        thread_id: int | None = None,
        user_sid: str | None = None,
        user_name: str | None = None,
        user_domain: str | None = None,
        user_type: str | None = None,
        activity_id: str | None = None,
        related_activity_id: str | None = None,
        message: str | None = None,
    ) -> None:
        self.event_id = event_id
        self.time = time
        self.channel = channel
        self.provider = provider
        self.provider_guid = provider_guid
        self.record_id = record_id
        self.computer = computer
        self.event_data = {} if event_data is None else event_data
        self.user_data = user_data
        self.version = version
        self.level = level
        self.task = task
        self.opcode = opcode
        self.keywords = keywords
        self.pid = pid
        self.thread_id = thread_id
        self.user_sid = user_sid
        self.user_name = user_name
        self.user_domain = user_domain
        self.user_type = user_type
        self.activity_id = activity_id
        self.related_activity_id = related_activity_id
        self.message = message


# --------------------------------------------------------------------------------------------
# Values shared by the shape modules
# --------------------------------------------------------------------------------------------


def text(value: object) -> str | None:
    """An EventData value as the shippers render it; None for null and empty (dropped)."""
    if type(value) is str:
        if "\r" in value:
            value = value.replace("\r\n", "\n")
        if value.endswith("\n"):
            value = value.rstrip("\n")
        return value or None
    if value is None:
        return None
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict):
        if "#text" in value:
            return text(value["#text"])
        return text(orjson.dumps(value).decode()) if value else None
    if isinstance(value, list):
        parts = [part for part in [text(item) for item in value] if part is not None]
        return ", ".join(parts) or None
    return text(str(value))


def data_text(value: object) -> str | None:
    """An EventData/UserData element's value: as `text`, except that an empty one is `""`.

    Sigma tells `field: ''` (present and empty) from `field: null` (absent), so an element Windows
    wrote empty must stay present. The evtx tools write an empty element as `""` or as null (the
    `evtx` package does both, e.g. for UserData); either way the element is there, so both are `""`.
    A field is absent only when the event has no such element.
    """
    if value is None:
        return ""
    if type(value) is str:
        if "\r" in value:
            value = value.replace("\r\n", "\n")
        return value.rstrip("\n") if value.endswith("\n") else value
    if isinstance(value, dict) and "#text" in value:
        return data_text(value["#text"])
    return text(value)


def nonempty(value: object) -> str | None:
    """A System field that is a non-empty string, else None."""
    return value if isinstance(value, str) and value else None


def put_text(out: dict[str, str], key: str, value: object) -> None:
    """`out[key] = data_text(value)`; a clean string (the common case, as Winlogbeat and evtx send
    them) is stored as it is, and an int (the `evtx` package's numbers) as its decimal string."""
    if type(value) is str:
        if "\r" not in value and not value.endswith("\n"):
            out[key] = value
            return
    elif type(value) is int:  # not a bool (`type` is exact): `text` gives these `str(value)`
        out[key] = str(value)
        return
    item = data_text(value)
    if item is not None:
        out[key] = item


def unnamed_values(data: dict[str, str]) -> list[str]:
    """The values of the unnamed `<Data>` elements (`param1..N`, in order): Sigma's `Data` field.

    Winlogbeat names unnamed elements `paramN` and so do our other shapes, so this one rule gives
    every shape the same list. A manifest that itself names its fields `param1..N` (System 7036,
    7040) cannot be told apart in Winlogbeat's shape, so its values are listed too.
    """
    if not _has_param_key(data):  # most events
        return []
    found: list[tuple[int, str]] = []
    for key, value in data.items():
        number = key[5:]
        if key[:5] == "param" and number.isascii() and number.isdigit() and number[0] != "0":
            found.append((int(number), value))
    found.sort()
    return [value for _, value in found]


def _has_param_key(data: dict[str, str]) -> bool:
    for key in data:  # noqa: SIM110  (a loop compiles to C; any() over a generator does not)
        if key.startswith("param"):
            return True
    return False


def merge_user_data(data: dict[str, str], user: dict[str, str] | None) -> None:
    """UserData's values join EventData under their own names, as Winlogbeat flattens them; EventData
    keeps a name both have."""
    if user is not None:
        for key, value in user.items():
            if key != "xml_name" and key not in data:
                data[key] = value


def rendered_keywords(value: object) -> list[str] | None:
    """Keyword names as a shipper rendered them (one name or a list); None when there are none."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return None
    names = [item for item in value if isinstance(item, str) and item]
    return names or None


def event_code(value: object, what: str) -> str:
    """The event id as a decimal string; a record without one is not a Windows event."""
    code = to_int(value)
    if code is None:
        raise NormalizeError(f"{what} missing or not a number: {str(value)[:40]!r}")
    return str(code)


def record_id(value: object) -> str | None:
    """The event record id as a decimal string; None when missing or 0 (not a real record)."""
    number = to_int(value)
    return str(number) if number else None


def load_json(raw: str) -> object:
    """The one JSON document every JSON shape arrives as."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise NormalizeError(f"not JSON: {exc}") from None


def to_int(value: object) -> int | None:
    """A non-negative int from a number or a decimal/`0x` hex string; None otherwise."""
    if type(value) is int:
        return value if 0 <= value < 1 << 63 else None
    if isinstance(value, str):
        if value.isdigit():
            number = int(value)
        elif value[:2] in ("0x", "0X") and len(value) > 2:
            try:
                number = int(value[2:], 16)
            except ValueError:
                return None
        else:
            return None
        return number if number < 1 << 63 else None
    return None


def parse_time(value: object, tz: tzinfo = UTC, *, what: str = "time") -> datetime:
    """The event time as an aware UTC datetime cut to milliseconds; naive input is in `tz`."""
    if isinstance(value, str):
        if len(value) > 23 and value[19] == ".":  # cut the fraction to milliseconds before parsing
            fraction = value[20:]
            tail = fraction.lstrip("0123456789")
            if len(fraction) - len(tail) > 3:
                value = value[:23] + tail
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise NormalizeError(f"bad {what} {value[:40]!r}: expected ISO 8601") from None
    elif isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        number = float(value)
        if number >= 1e14:  # NXLog `integer($EventTime)`: microseconds
            number /= 1e6
        elif number >= 1e11:
            number /= 1e3
        if number > 32503680000:
            raise NormalizeError(f"{what} out of range: {value!r}")
        moment = datetime.fromtimestamp(number, UTC)
    else:
        raise NormalizeError(f"missing or bad {what}: {str(value)[:40]!r}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    if moment.tzinfo is not UTC:
        try:
            moment = moment.astimezone(UTC)
        except (OverflowError, ValueError):  # year 1 or 9999 pushed past the calendar by an offset
            raise NormalizeError(f"{what} out of range: {str(value)[:40]!r}") from None
    micro = moment.microsecond % 1000
    return moment - timedelta(microseconds=micro) if micro else moment


@lru_cache(maxsize=1024)
def provider_guid(value: str) -> str | None:
    """`guid` for provider GUIDs, cached: a few providers send all the events."""
    return guid(value)


def guid(value: object) -> str | None:
    """`{UPPER-CASE}`: Windows writes GUIDs with braces, some tools without or in lower case."""
    if not isinstance(value, str) or not value:
        return None
    inner = value[1:-1] if value[0] == "{" and value[-1] == "}" else value
    return "{" + inner.upper() + "}"


LEVEL_NAMES: Final[dict[int, str]] = {
    0: "information",  # "LogAlways": Event Viewer shows Information
    1: "critical",
    2: "error",
    3: "warning",
    4: "information",
    5: "verbose",
}
OPCODE_NAMES: Final[dict[int, str]] = {
    0: "Info", 1: "Start", 2: "Stop", 3: "DCStart", 4: "DCStop",
    5: "Extension", 6: "Reply", 7: "Resume", 8: "Suspend", 9: "Send",
}  # fmt: skip
# Standard keyword bits (winmeta.xml); provider bits (the high byte) have no shared names.
KEYWORD_NAMES: Final[tuple[tuple[int, str], ...]] = (
    (0x1000000000000, "Response Time"),
    (0x2000000000000, "WDI Context"),
    (0x4000000000000, "WDI Diag"),
    (0x8000000000000, "SQM"),
    (0x10000000000000, "Audit Failure"),
    (0x20000000000000, "Audit Success"),
    (0x40000000000000, "Correlation Hint"),
    (0x80000000000000, "Classic"),
)
_SECURITY_TASKS: Final[dict[int, str]] = {
    12288: "Security State Change", 12289: "Security System Extension", 12290: "System Integrity",
    12291: "IPsec Driver", 12292: "Other System Events", 12544: "Logon", 12545: "Logoff",
    12546: "Account Lockout", 12547: "IPsec Main Mode", 12548: "Special Logon", 12549: "IPsec Quick Mode",
    12550: "IPsec Extended Mode", 12551: "Other Logon/Logoff Events", 12552: "Network Policy Server",
    12553: "User / Device Claims", 12554: "Group Membership", 12800: "File System", 12801: "Registry",
    12802: "Kernel Object", 12803: "SAM", 12804: "Other Object Access Events",
    12805: "Certification Services", 12806: "Application Generated", 12807: "Handle Manipulation",
    12808: "File Share", 12809: "Filtering Platform Packet Drop", 12810: "Filtering Platform Connection",
    12811: "Detailed File Share", 12812: "Removable Storage", 12813: "Central Policy Staging",
    13056: "Sensitive Privilege Use", 13057: "Non Sensitive Privilege Use",
    13058: "Other Privilege Use Events", 13312: "Process Creation", 13313: "Process Termination",
    13314: "DPAPI Activity", 13315: "RPC Events", 13316: "Plug and Play Events",
    13317: "Token Right Adjusted Events", 13568: "Audit Policy Change",
    13569: "Authentication Policy Change", 13570: "Authorization Policy Change",
    13571: "MPSSVC Rule-Level Policy Change", 13572: "Filtering Platform Policy Change",
    13573: "Other Policy Change Events", 13824: "User Account Management",
    13825: "Computer Account Management", 13826: "Security Group Management",
    13827: "Distribution Group Management", 13828: "Application Group Management",
    13829: "Other Account Management Events", 14080: "Directory Service Access",
    14081: "Directory Service Changes", 14082: "Directory Service Replication",
    14083: "Detailed Directory Service Replication", 14336: "Credential Validation",
    14337: "Kerberos Service Ticket Operations", 14338: "Other Account Logon Events",
    14339: "Kerberos Authentication Service",
}  # fmt: skip
_SYSMON_TASKS: Final[dict[int, str]] = {
    1: "Process Create (rule: ProcessCreate)",
    2: "File creation time changed (rule: FileCreateTime)",
    3: "Network connection detected (rule: NetworkConnect)",
    4: "Sysmon service state changed",
    5: "Process terminated (rule: ProcessTerminate)",
    6: "Driver loaded (rule: DriverLoad)",
    7: "Image loaded (rule: ImageLoad)",
    8: "CreateRemoteThread detected (rule: CreateRemoteThread)",
    9: "RawAccessRead detected (rule: RawAccessRead)",
    10: "Process accessed (rule: ProcessAccess)",
    11: "File created (rule: FileCreate)",
    12: "Registry object added or deleted (rule: RegistryEvent)",
    13: "Registry value set (rule: RegistryEvent)",
    14: "Registry object renamed (rule: RegistryEvent)",
    15: "File stream created (rule: FileCreateStreamHash)",
    16: "Sysmon config state changed",
    17: "Pipe Created (rule: PipeEvent)",
    18: "Pipe Connected (rule: PipeEvent)",
    19: "WmiEventFilter activity detected (rule: WmiEvent)",
    20: "WmiEventConsumer activity detected (rule: WmiEvent)",
    21: "WmiEventConsumerToFilter activity detected (rule: WmiEvent)",
    22: "Dns query (rule: DnsQuery)",
    23: "File Delete archived (rule: FileDelete)",
    24: "Clipboard changed (rule: ClipboardChange)",
    25: "Process Tampering (rule: ProcessTampering)",
    26: "File Delete logged (rule: FileDeleteDetected)",
    27: "File Block Executable (rule: FileBlockExecutable)",
    28: "File Block Shredding (rule: FileBlockShredding)",
    29: "File Executable Detected (rule: FileExecutableDetected)",
    255: "Error",
}
TASK_NAMES: Final[dict[str, dict[int, str]]] = {
    "Microsoft-Windows-Security-Auditing": _SECURITY_TASKS,
    "Microsoft-Windows-Sysmon": _SYSMON_TASKS,
    "Microsoft-Windows-PowerShell": {2: "Execute a Remote Command", 4: "PowerShell Console Startup",
                                     111: "PowerShell Named Pipe IPC"},
    "PowerShell": {4: "Engine Lifecycle", 6: "Provider Lifecycle", 8: "Pipeline Execution Details"},
    "Microsoft-Windows-Eventlog": {104: "Log clear"},
}  # fmt: skip


def level_name(value: object) -> str | None:
    """Lower-case level name (Winlogbeat lower-cases the rendered level)."""
    if isinstance(value, str):
        return value.lower() or None
    return LEVEL_NAMES.get(value) if type(value) is int else None


def opcode_name(value: object) -> str | None:
    return OPCODE_NAMES.get(value) if type(value) is int else None


def task_name(provider: str | None, value: object) -> str | None:
    """The rendered task name Windows shows for this provider's task number, if we know it."""
    if type(value) is not int:
        return None
    if value == 0:
        return "None"
    names = TASK_NAMES.get(provider or "")
    return names.get(value) if names is not None else None


def keyword_mask(value: object) -> int | None:
    """The 64-bit keyword mask from `0x...` hex, a decimal string, or a (signed) int."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value & 0xFFFFFFFFFFFFFFFF
    if isinstance(value, str) and value:
        try:
            number = int(value, 16) if value[:2] in ("0x", "0X") else int(value)
        except ValueError:
            return None
        return number & 0xFFFFFFFFFFFFFFFF
    return None


#: The names `KEYWORD_NAMES` gives each value of the mask's byte they occupy (bits 48 to 55), so
#: that an event's names are one lookup, not eight operations on a 64-bit (boxed) int.
_KEYWORD_BYTE_SHIFT: Final = 48
_NAMES_BY_BYTE: Final[tuple[tuple[str, ...], ...]] = tuple(
    tuple(name for bit, name in KEYWORD_NAMES if (byte << _KEYWORD_BYTE_SHIFT) & bit) for byte in range(256)
)
if any(bit >> _KEYWORD_BYTE_SHIFT not in range(1, 256) for bit, _ in KEYWORD_NAMES):
    raise ImportError("KEYWORD_NAMES has a bit outside the byte _NAMES_BY_BYTE covers")


def keyword_names(mask: int | None) -> list[str] | None:
    if not mask:
        return None
    names = _NAMES_BY_BYTE[(mask >> _KEYWORD_BYTE_SHIFT) & 0xFF]
    return list(names) if names else None


def split_command_line(cmd: str) -> list[str]:
    """Windows `CommandLineToArgvW` rules: what the started program sees as its arguments.

    The program name ends at the first blank or, when quoted, at the next quote (no escapes).
    After it: blanks separate arguments unless quoted; 2n backslashes before a quote give n and the
    quote toggles quoting; 2n+1 give n and a literal quote; `""` inside quotes is a literal quote
    that also ends quoting (the pre-2008 rule `CommandLineToArgvW` keeps); other backslashes are
    literal. Scans segment by segment with `str.split`, not per character.
    """
    cmd = cmd.lstrip(" \t")
    if not cmd:
        return []
    if cmd[0] == '"':
        end = cmd.find('"', 1)
        if end < 0:
            return [cmd[1:]]
        args = [cmd[1:end]]
        rest = cmd[end + 1 :]
    else:
        cut = len(cmd)
        for blank in (" ", "\t"):
            at = cmd.find(blank)
            if 0 <= at < cut:
                cut = at
        args = [cmd[:cut]]
        rest = cmd[cut + 1 :]
    if '"' not in rest:
        if "\t" in rest:
            rest = rest.replace("\t", " ")
        args.extend(part for part in rest.split(" ") if part)
        return args
    current: list[str] = []
    started = False  # an argument is open (even an empty one, as in `""`)
    quoted = False
    segments = rest.split('"')
    last = len(segments) - 1
    index = 0
    while index <= last:
        segment = segments[index]
        if index < last:  # a quote follows this segment: count the backslashes before it
            stripped = segment.rstrip("\\")
            slashes = len(segment) - len(stripped)
            segment = stripped + "\\" * (slashes // 2)
            literal_quote = slashes % 2 == 1
        else:
            literal_quote = False
        # blanks split arguments only outside quotes
        if quoted:
            current.append(segment)
            started = True
        else:
            pieces = segment.replace("\t", " ").split(" ")
            for number, piece in enumerate(pieces):
                if number:
                    if started:
                        args.append("".join(current))
                    current = []
                    started = False
                if piece:
                    current.append(piece)
                    started = True
        if index < last:
            started = True
            if literal_quote:
                current.append('"')
            elif quoted and index + 1 < last and segments[index + 1] == "":
                current.append('"')  # `""` inside quotes: a literal quote, and quoting ends
                quoted = False
                index += 1
            else:
                quoted = not quoted
        index += 1
    if started:
        args.append("".join(current))
    return args


@lru_cache(maxsize=8192)
def clean_ip(value: str) -> str | None:
    """A literal IP for `source.ip` & co. (v4-mapped IPv6 shown as IPv4, zone id dropped), or None.

    An Elasticsearch `ip` field given anything else rejects the whole document, so only literal
    addresses get through. Cached: the same few addresses repeat on every event.
    """
    if not value or len(value) > 64 or value in ("-", "::"):
        return None
    if value[0] == "[" and value[-1] == "]":
        value = value[1:-1]
    if value[:7].lower() == "::ffff:" and "." in value:
        value = value[7:]
    value = value.partition("%")[0]
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def _host(computer: str) -> dict[str, str]:
    short = computer.partition(".")[0].lower() or computer.lower()
    return {"name": short, "hostname": computer}


# --------------------------------------------------------------------------------------------
# Categorization tables: event code -> ECS event.category / event.type / event.action
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Spec:
    """ECS categorization for one event code (Elastic's values where Elastic has them)."""

    category: tuple[str, ...] = ()
    type: tuple[str, ...] = ()
    action: str | None = None
    outcome: str | None = None


def _s(category: str, types: str, action: str | None = None, outcome: str | None = None) -> Spec:
    return Spec(tuple(category.split()), tuple(types.split()), action, outcome)


_SYSMON_SPECS: Final[dict[str, Spec]] = {
    "1": _s("process", "start", "Process creation"),
    "2": _s("file", "change", "A process changed a file creation time"),
    "3": _s("network", "start connection protocol", "Network connection"),
    "4": _s("process", "change", "Sysmon service state changed"),
    "5": _s("process", "end", "Process terminated"),
    "6": _s("driver", "start", "Driver loaded"),
    "7": _s("process", "change", "Image loaded"),
    "8": _s("process", "change", "CreateRemoteThread"),
    "9": _s("process", "access", "RawAccessRead"),
    "10": _s("process", "access", "ProcessAccess"),
    "11": _s("file", "creation", "FileCreate"),
    "12": _s("configuration registry", "change", "RegistryEvent (Object create and delete)"),
    "13": _s("configuration registry", "change", "RegistryEvent (Value Set)"),
    "14": _s("configuration registry", "change", "RegistryEvent (Key and Value Rename)"),
    "15": _s("file", "access", "FileCreateStreamHash"),
    "16": _s("configuration", "change", "ServiceConfigurationChange"),
    "17": _s("file", "creation", "PipeEvent (Pipe Created)"),
    "18": _s("file", "access", "PipeEvent (Pipe Connected)"),
    "19": _s("process", "info", "WmiEvent (WmiEventFilter activity detected)"),
    "20": _s("process", "change", "WmiEvent (WmiEventConsumer activity detected)"),
    "21": _s("process", "access", "WmiEvent (WmiEventConsumerToFilter activity detected)"),
    "22": _s("network", "connection protocol info", "DNSEvent (DNS query)"),
    "23": _s("file", "deletion", "FileDelete (File Delete archived)"),
    "24": _s("", "change", "ClipboardChange (New content in the clipboard)"),
    "25": _s("process", "change", "ProcessTampering (Process image change)"),
    "26": _s("file", "deletion", "FileDeleteDetected (File Delete logged)"),
    "27": _s("file", "creation", "FileBlockExecutable", "failure"),
    "28": _s("file", "deletion", "FileBlockShredding"),
    "29": _s("file", "creation", "FileExecutableDetected"),
    "255": _s("process", "", "Error", "failure"),
}

_SECURITY_SPECS: Final[dict[str, Spec]] = {
    "1100": _s("process", "end", "logging-service-shutdown"),
    "1102": _s("iam", "admin change", "audit-log-cleared"),
    "1104": _s("iam", "admin", "logging-full"),
    "4608": _s("host", "start", "windows-started"),
    "4610": _s("configuration", "access", "authentication-package-loaded"),
    "4611": _s("configuration", "change", "trusted-logon-process-registered"),
    "4614": _s("configuration", "access", "notification-package-loaded"),
    "4616": _s("configuration", "change", "system-time-changed"),
    "4622": _s("configuration", "access", "security-package-loaded"),
    "4624": _s("authentication", "start", "logged-in"),
    "4625": _s("authentication", "start", "logon-failed"),
    "4627": _s("iam", "group info", "group-membership-listed"),
    "4634": _s("authentication", "end", "logged-out"),
    "4647": _s("authentication", "end", "logged-out"),
    "4648": _s("authentication", "start", "logged-in-explicit"),
    "4656": _s("file", "access", "object-handle-requested"),
    "4657": _s("registry configuration", "change", "registry-value-modified"),
    "4660": _s("file", "deletion", "object-deleted"),
    "4663": _s("file", "access", "object-accessed"),
    "4670": _s("iam configuration", "admin change", "permissions-changed"),
    "4672": _s("iam", "admin", "logged-in-special"),
    "4673": _s("iam", "admin", "privileged-service-called"),
    "4674": _s("iam", "admin", "privileged-operation"),
    "4688": _s("process", "start", "created-process"),
    "4689": _s("process", "end", "exited-process"),
    "4697": _s("iam configuration", "admin change", "service-installed"),
    "4698": _s("iam configuration", "creation admin", "scheduled-task-created"),
    "4699": _s("iam configuration", "deletion admin", "scheduled-task-deleted"),
    "4700": _s("iam configuration", "change admin", "scheduled-task-enabled"),
    "4701": _s("iam configuration", "change admin", "scheduled-task-disabled"),
    "4702": _s("iam configuration", "change admin", "scheduled-task-updated"),
    "4706": _s("configuration", "creation", "domain-trust-added"),
    "4707": _s("configuration", "deletion", "domain-trust-removed"),
    "4713": _s("configuration", "change", "kerberos-policy-changed"),
    "4719": _s("iam configuration", "admin change", "changed-audit-config"),
    "4720": _s("iam", "user creation", "added-user-account"),
    "4722": _s("iam", "user change", "enabled-user-account"),
    "4723": _s("iam", "user change", "changed-password"),
    "4724": _s("iam", "user change", "reset-password"),
    "4725": _s("iam", "user deletion", "disabled-user-account"),
    "4726": _s("iam", "user deletion", "deleted-user-account"),
    "4727": _s("iam", "group creation", "added-group-account"),
    "4728": _s("iam", "group change", "added-member-to-group"),
    "4729": _s("iam", "group change", "removed-member-from-group"),
    "4730": _s("iam", "group deletion", "deleted-group-account"),
    "4731": _s("iam", "group creation", "added-group-account"),
    "4732": _s("iam", "group change", "added-member-to-group"),
    "4733": _s("iam", "group change", "removed-member-from-group"),
    "4734": _s("iam", "group deletion", "deleted-group-account"),
    "4735": _s("iam", "group change", "modified-group-account"),
    "4737": _s("iam", "group change", "modified-group-account"),
    "4738": _s("iam", "user change", "modified-user-account"),
    "4739": _s("configuration", "change", "domain-policy-changed"),
    "4740": _s("iam", "user change", "locked-out-user-account"),
    "4741": _s("iam", "creation admin", "added-computer-account"),
    "4742": _s("iam", "change admin", "changed-computer-account"),
    "4743": _s("iam", "deletion admin", "deleted-computer-account"),
    "4754": _s("iam", "group creation", "added-group-account"),
    "4755": _s("iam", "group change", "modified-group-account"),
    "4756": _s("iam", "group change", "added-member-to-group"),
    "4757": _s("iam", "group change", "removed-member-from-group"),
    "4758": _s("iam", "group deletion", "deleted-group-account"),
    "4764": _s("iam", "group change", "type-changed-group-account"),
    "4767": _s("iam", "user change", "unlocked-user-account"),
    "4768": _s("authentication", "start", "kerberos-authentication-ticket-requested"),
    "4769": _s("authentication", "start", "kerberos-service-ticket-requested"),
    "4770": _s("authentication", "start", "kerberos-service-ticket-renewed"),
    "4771": _s("authentication", "start", "kerberos-preauth-failed"),
    "4776": _s("authentication", "start", "credential-validated"),
    "4778": _s("authentication session", "start", "session-reconnected"),
    "4779": _s("authentication session", "end", "session-disconnected"),
    "4781": _s("iam", "user change", "renamed-user-account"),
    "4798": _s("iam", "user info", "group-membership-enumerated"),
    "4799": _s("iam", "group info", "user-member-enumerated"),
    "4817": _s("iam configuration", "admin change", "object-audit-changed"),
    "4902": _s("iam configuration", "admin creation", "user-audit-policy-created"),
    "4904": _s("iam configuration", "admin change", "security-event-source-added"),
    "4905": _s("iam configuration", "admin deletion", "security-event-source-removed"),
    "4906": _s("iam configuration", "admin change", "crash-on-audit-changed"),
    "4907": _s("iam configuration", "admin change", "audit-setting-changed"),
    "4912": _s("iam configuration", "admin change", "per-user-audit-policy-changed"),
    "4946": _s("configuration", "creation", "windows-firewall-rule-added"),
    "4947": _s("configuration", "change", "windows-firewall-rule-modified"),
    "4948": _s("configuration", "deletion", "windows-firewall-rule-deleted"),
    "4950": _s("configuration", "change", "windows-firewall-setting-changed"),
    "4954": _s("configuration", "change", "windows-firewall-group-policy-changed"),
    "4964": _s("iam", "admin group", "logged-in-special"),
    "5024": _s("process", "start", "windows-firewall-service-started"),
    "5025": _s("process", "end", "windows-firewall-service-stopped"),
    "5033": _s("driver", "start", "windows-firewall-driver-started"),
    "5034": _s("driver", "end", "windows-firewall-driver-stopped"),
    "5037": _s("driver", "end", "windows-firewall-driver-error"),
    "5136": _s("iam configuration", "change", "directory-service-object-modified"),
    "5140": _s("network file", "info access", "network-share-object-accessed"),
    "5142": _s("network file", "creation", "network-share-object-added"),
    "5145": _s("network file", "info access", "network-share-object-access-checked"),
    "5156": _s("network", "connection start allowed", "network-connection-allowed"),
    "5157": _s("network", "connection start denied", "network-connection-blocked"),
    "5158": _s("network", "start allowed", "network-bind-allowed"),
}

_SYSTEM_SPECS: Final[dict[str, Spec]] = {
    "104": _s("iam", "admin change", "audit-log-cleared"),
    "1074": _s("host", "change", "shutdown-initiated"),
    "6005": _s("host", "start", "eventlog-service-started"),
    "6006": _s("host", "end", "eventlog-service-stopped"),
    "6008": _s("host", "end", "unexpected-shutdown"),
    "7034": _s("process", "end", "service-crashed"),
    "7036": _s("process", "change", "service-state-changed"),
    "7040": _s("configuration", "change", "service-start-type-changed"),
    "7045": _s("iam configuration", "admin change", "service-installed"),
}

_POWERSHELL_SPECS: Final[dict[str, Spec]] = {
    "400": _s("process", "start"),
    "403": _s("process", "end"),
    "4105": _s("process", "start"),
    "4106": _s("process", "end"),
}
_POWERSHELL_DEFAULT: Final = _s("process", "info")

_MALWARE = _s("malware", "info", "malware-detected")
_DEFENDER_SPECS: Final[dict[str, Spec]] = {
    "1000": _s("process", "start", "antivirus-scan-started"),
    "1001": _s("process", "end", "antivirus-scan-completed"),
    "1002": _s("process", "end", "antivirus-scan-stopped"),
    "1006": _MALWARE,
    "1007": _s("malware", "info", "malware-action-taken"),
    "1008": _s("malware", "info", "malware-action-failed", "failure"),
    "1013": _s("configuration", "deletion", "antivirus-history-deleted"),
    "1015": _MALWARE,
    "1116": _MALWARE,
    "1117": _MALWARE,
    "1118": _s("malware", "info", "malware-action-failed", "failure"),
    "1119": _s("malware", "info", "malware-action-failed", "failure"),
    "1150": _s("host", "info", "heartbeat"),
    "1151": _s("host", "info", "heartbeat"),
    "2000": _s("process", "info", "antivirus-updated"),
    "2001": _s("process", "info", "antivirus-update-failed", "failure"),
    "2050": _s("file", "info", "file-uploaded"),
    "3002": _s("process", "info", "antivirus-realtime-protection-failed", "failure"),
    "5000": _s("configuration", "change", "antivirus-realtime-protection-enabled"),
    "5001": _s("configuration", "change", "antivirus-realtime-protection-disabled"),
    "5004": _s("configuration", "change", "antivirus-realtime-protection-configuration-changed"),
    "5007": _s("configuration", "change", "antivirus-configuration-changed"),
    "5008": _s("process", "end", "antivirus-engine-failed", "failure"),
    "5010": _s("configuration", "change", "antivirus-spyware-scanning-disabled"),
    "5012": _s("configuration", "change", "antivirus-virus-scanning-disabled"),
    "5013": _s("configuration", "change", "antivirus-tamper-protection-blocked-change"),
}
_DEFENDER_DEFAULT: Final = _s("process", "info")

_FIREWALL_SPECS: Final[dict[str, Spec]] = {
    "2002": _s("configuration", "change", "firewall-setting-changed"),
    "2003": _s("configuration", "change", "firewall-profile-setting-changed"),
    "2004": _s("configuration", "creation", "firewall-rule-added"),
    "2005": _s("configuration", "change", "firewall-rule-modified"),
    "2006": _s("configuration", "deletion", "firewall-rule-deleted"),
    "2009": _s("configuration", "info", "firewall-group-policy-load-failed", "failure"),
    "2033": _s("configuration", "deletion", "firewall-all-rules-deleted"),
    "2052": _s("configuration", "deletion", "firewall-rule-deleted"),
    "2071": _s("configuration", "creation", "firewall-rule-added"),
    "2097": _s("configuration", "creation", "firewall-rule-added"),
}

# --------------------------------------------------------------------------------------------
# Field mapping helpers
# --------------------------------------------------------------------------------------------

_ABSENT: Final = frozenset(
    ("", "-", "{00000000-0000-0000-0000-000000000000}", "00000000-0000-0000-0000-000000000000")
)


def _get(ed: dict[str, str], key: str) -> str | None:
    """An EventData value worth copying to ECS: placeholders (`-`, the zero GUID) are not."""
    value = ed.get(key)
    return None if value is None or value in _ABSENT else value


def _sub(doc: Doc, key: str) -> Doc:
    obj: Doc | None = doc.get(key)
    if obj is None:
        obj = doc[key] = {}
    return obj


def _basename(path: str) -> str:
    return path.rpartition("\\")[2] or path


def _set_executable(target: Doc, path: str | None) -> None:
    if path:
        target["executable"] = path
        target["name"] = _basename(path)


def _set_command_line(target: Doc, cmd: str | None) -> None:
    if cmd:
        target["command_line"] = cmd
        args = _command_args(cmd) if len(cmd) <= MAX_REMEMBERED else tuple(split_command_line(cmd))
        if args:
            target["args"] = list(args)  # each document owns its list
            target["args_count"] = len(args)


@lru_cache(maxsize=4096)
def _command_args(cmd: str) -> tuple[str, ...]:
    """`split_command_line(cmd)`, remembered: the same command lines come back (a parent's above all)."""
    return tuple(split_command_line(cmd))


def _set_file_path(doc: Doc, path: str | None) -> None:
    """`file.path` and what ECS derives from it: name, directory, extension."""
    if not path:
        return
    file = _sub(doc, "file")
    file["path"] = path
    directory, sep, name = path.rpartition("\\")
    if sep and name:
        file["name"] = name
        file["directory"] = directory
    elif not sep:
        file["name"] = path
        name = path
    dot = name.rfind(".")
    if 0 <= dot < len(name) - 1:
        file["extension"] = name[dot + 1 :]


def _split_user(value: str | None) -> tuple[str | None, str | None]:
    """`DOMAIN\\name` -> (domain, name); anything else -> (None, None), like Elastic."""
    if not value:
        return None, None
    domain, sep, name = value.partition("\\")
    if not sep or not domain or not name or "\\" in name:
        return None, None
    return domain, name


def _set_ip(doc: Doc, side: str, address: str | None, port: str | None = None) -> None:
    ip = clean_ip(address) if address else None
    number = to_int(port) if port else None
    if ip is None and (number is None or number > 65535):
        return
    target = _sub(doc, side)
    if ip is not None:
        target["ip"] = ip
        add_related(doc, "ip", ip)
    if number is not None and number <= 65535:
        target["port"] = number


#: Values longer than this are not remembered (`_hash_pairs`, `_command_args`): payload text.
MAX_REMEMBERED: Final = 512


def _hashes(value: str | None) -> dict[str, str]:
    """`SHA1=..,MD5=..,SHA256=..,IMPHASH=..` -> lower-case names and values; all-zero skipped.
    A new dict (the caller takes `imphash` out of it); the parse is remembered: one image's
    hashes come back with each of its events."""
    if not value:
        return {}
    if len(value) > MAX_REMEMBERED:
        return _parse_hashes(value)
    return dict(_hash_pairs(value))


@lru_cache(maxsize=4096)
def _hash_pairs(value: str) -> tuple[tuple[str, str], ...]:
    return tuple(_parse_hashes(value).items())


def _parse_hashes(value: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in value.split(","):
        name, sep, digest = item.partition("=")
        if not sep:
            continue
        digest = digest.strip().lower()
        if digest and digest.strip("0"):
            out[name.strip().lower()] = digest
    return out


def _apply_hashes(doc: Doc, target_name: str, hashes: dict[str, str]) -> None:
    if not hashes:
        return
    target = _sub(doc, target_name)
    imphash = hashes.pop("imphash", None)
    if hashes:
        target["hash"] = hashes
    if imphash:
        _sub(target, "pe")["imphash"] = imphash
        add_related(doc, "hash", imphash)
    for digest in hashes.values():
        add_related(doc, "hash", digest)


_PE_FIELDS: Final = (
    ("OriginalFileName", "original_file_name"),
    ("Company", "company"),
    ("Description", "description"),
    ("FileVersion", "file_version"),
    ("Product", "product"),
)


def _apply_pe(target: Doc, ed: dict[str, str]) -> None:
    pe: Doc | None = None
    for source, name in _PE_FIELDS:
        value = _get(ed, source)
        if value is not None:
            if pe is None:
                pe = target.get("pe")
                if pe is None:
                    pe = target["pe"] = {}
            pe[name] = value


_DNS_TYPES: Final[dict[str, str]] = {
    "1": "A", "2": "NS", "5": "CNAME", "6": "SOA", "12": "PTR", "13": "HINFO", "15": "MX",
    "16": "TXT", "28": "AAAA", "33": "SRV", "35": "NAPTR", "39": "DNAME", "43": "DS",
    "46": "RRSIG", "48": "DNSKEY", "65": "HTTPS", "255": "ANY",
}  # fmt: skip
_HIVES: Final[dict[str, str]] = {
    "HKEY_CLASSES_ROOT": "HKCR", "HKCR": "HKCR", "HKEY_CURRENT_CONFIG": "HKCC", "HKCC": "HKCC",
    "HKEY_CURRENT_USER": "HKCU", "HKCU": "HKCU", "HKEY_DYN_DATA": "HKDD", "HKDD": "HKDD",
    "HKEY_LOCAL_MACHINE": "HKLM", "HKLM": "HKLM", "HKEY_PERFORMANCE_DATA": "HKPD", "HKPD": "HKPD",
    "HKEY_USERS": "HKU", "HKU": "HKU",
}  # fmt: skip
LOGON_TYPES: Final[dict[str, str]] = {
    "0": "System", "2": "Interactive", "3": "Network", "4": "Batch", "5": "Service", "7": "Unlock",
    "8": "NetworkCleartext", "9": "NewCredentials", "10": "RemoteInteractive",
    "11": "CachedInteractive", "12": "CachedRemoteInteractive", "13": "CachedUnlock",
}  # fmt: skip
_WFP_DIRECTIONS: Final[dict[str, str]] = {"%%14592": "ingress", "%%14593": "egress"}
_IANA_TRANSPORT: Final[dict[str, str]] = {
    "1": "icmp", "2": "igmp", "6": "tcp", "17": "udp", "41": "ipv6", "47": "gre", "50": "esp",
    "51": "ah", "58": "ipv6-icmp", "132": "sctp",
}  # fmt: skip


def _registry(doc: Doc, path: str, details: str | None) -> None:
    """`registry.*` from a Sysmon `TargetObject` and its `Details` (value data as Sysmon prints it)."""
    registry: Doc = {"path": path}
    tokens = path.split("\\")
    hive = _HIVES.get(tokens[0].upper())
    if hive is not None:
        registry["hive"] = hive
        if len(tokens) > 1:
            registry["key"] = "\\".join(tokens[1:])
    registry["value"] = tokens[-1]
    if details:
        data = _registry_data(details)
        if data is not None:
            registry["data"] = data
    doc["registry"] = registry


def _registry_data(details: str) -> Doc | None:
    if details.startswith("DWORD (") and details.endswith(")"):
        number = to_int(details[7:-1])
        return None if number is None else {"strings": [str(number)], "type": "SZ_DWORD"}
    if details.startswith("QWORD (") and details.endswith(")"):
        high, _, low = details[7:-1].partition("-")
        high_n, low_n = to_int(high), to_int(low)
        if high_n is None or low_n is None:
            return None
        return {"strings": [str((high_n << 32) | low_n)], "type": "SZ_QWORD"}
    if details == "Binary Data":
        return {"strings": [details], "type": "REG_BINARY"}
    return {"strings": [details], "type": "REG_SZ"}


def _dns_answers(doc: Doc, results: str) -> None:
    """Sysmon `QueryResults` (`type:  5 host;::ffff:1.2.3.4;`) -> `dns.answers`, `dns.resolved_ip`."""
    answers: list[Doc] = []
    ips: list[str] = []
    for item in results.split(";"):
        item = item.strip()
        if not item:
            continue
        if item.startswith("type:"):
            parts = item.split()
            if len(parts) >= 2:
                answer: Doc = {"type": _DNS_TYPES.get(parts[1], parts[1])}
                if len(parts) >= 3:
                    answer["data"] = parts[2]
                    add_related(doc, "hosts", parts[2])
                answers.append(answer)
        else:
            ip = clean_ip(item)
            if ip is not None:
                ips.append(ip)
    for ip in ips:
        answers.append({"type": "AAAA" if ":" in ip else "A", "data": ip})
        add_related(doc, "ip", ip)
    dns = _sub(doc, "dns")
    if answers:
        dns["answers"] = answers
    if ips:
        dns["resolved_ip"] = ips


# --------------------------------------------------------------------------------------------
# Per-channel mappers: (doc, event_data, event) -> None, filling ECS fields in `doc`
# --------------------------------------------------------------------------------------------

Mapper = Callable[[Doc, dict[str, str], WinEvent], None]

_SYSMON_PROCESS_HASHES: Final = frozenset(("1", "24", "25"))
_SYSMON_FILE_HASHES: Final = frozenset(("6", "7", "15", "23", "26", "29"))


def _map_sysmon(doc: Doc, ed: dict[str, str], ev: WinEvent) -> None:
    code = ev.event_id
    process: Doc = {}
    value = _get(ed, "ProcessGuid") or _get(ed, "SourceProcessGuid") or _get(ed, "SourceProcessGUID")
    if value:
        process["entity_id"] = value
    pid = to_int(_get(ed, "ProcessId") or _get(ed, "SourceProcessId"))
    if pid is not None:
        process["pid"] = pid
    _set_executable(process, _get(ed, "Image") or _get(ed, "SourceImage") or _get(ed, "Destination"))
    thread = to_int(_get(ed, "SourceThreadId"))
    if thread is not None:
        process["thread"] = {"id": thread}
    _set_command_line(process, _get(ed, "CommandLine"))
    value = _get(ed, "CurrentDirectory")
    if value:
        process["working_directory"] = value
    parent: Doc = {}
    value = _get(ed, "ParentProcessGuid")
    if value:
        parent["entity_id"] = value
    pid = to_int(_get(ed, "ParentProcessId"))
    if pid is not None:
        parent["pid"] = pid
    _set_executable(parent, _get(ed, "ParentImage"))
    _set_command_line(parent, _get(ed, "ParentCommandLine"))
    if parent:
        process["parent"] = parent
    if code != "7":
        _apply_pe(process, ed)
    if process:
        doc["process"] = process

    hashes = _hashes(_get(ed, "Hashes") or _get(ed, "Hash"))
    if hashes:
        if code in _SYSMON_PROCESS_HASHES:
            _apply_hashes(doc, "process", hashes)
        elif code in _SYSMON_FILE_HASHES:
            _apply_hashes(doc, "file", hashes)

    _set_file_path(doc, _get(ed, "TargetFilename") or _get(ed, "Device") or _get(ed, "ImageLoaded"))
    value = _get(ed, "PipeName")
    if value:
        _sub(doc, "file")["name"] = value
    if code == "7":
        _apply_pe(_sub(doc, "file"), ed)
    signature = _get(ed, "Signature")
    status = _get(ed, "SignatureStatus")
    signed = ed.get("Signed")
    if signature or status or signed == "true":
        code_signature = _sub(_sub(doc, "file"), "code_signature")
        if signature:
            code_signature["subject_name"] = signature
        if status:
            code_signature["status"] = status
            if status == "Valid":
                code_signature["valid"] = True
        if signed == "true":
            code_signature["signed"] = True

    if code == "3":
        network: Doc = {}
        value = _get(ed, "Protocol")
        if value:
            network["transport"] = value.lower()
        value = _get(ed, "DestinationPortName") or _get(ed, "SourcePortName")
        if value:
            network["protocol"] = value
        initiated = ed.get("Initiated")
        if initiated == "true":
            network["direction"] = "egress"
        elif initiated == "false":
            network["direction"] = "ingress"
        ipv6 = ed.get("SourceIsIpv6")
        if ipv6 in ("true", "false"):
            network["type"] = "ipv6" if ipv6 == "true" else "ipv4"
        if network:
            doc["network"] = network
    if "SourceIp" in ed or "SourcePort" in ed:
        _set_ip(doc, "source", ed.get("SourceIp"), ed.get("SourcePort"))
        value = _get(ed, "SourceHostname")
        if value:
            _sub(doc, "source")["domain"] = value
    if "DestinationIp" in ed or "DestinationPort" in ed:
        _set_ip(doc, "destination", ed.get("DestinationIp"), ed.get("DestinationPort"))
        value = _get(ed, "DestinationHostname")
        if value:
            _sub(doc, "destination")["domain"] = value

    if code == "22":
        _sub(doc, "network")["protocol"] = "dns"
        value = _get(ed, "QueryName")
        if value:
            _sub(doc, "dns")["question"] = {"name": value}
            add_related(doc, "hosts", value)
        value = _get(ed, "QueryResults")
        if value:
            _dns_answers(doc, value)

    if code in ("12", "13", "14"):
        value = _get(ed, "TargetObject")
        if value:
            _registry(doc, value, _get(ed, "Details"))

    sysmon: Doc = {}
    value = _get(ed, "QueryStatus")
    if value:
        sysmon["dns"] = {"status": value}
    for source, name in (("Archived", "archived"), ("IsExecutable", "is_executable")):
        flag = ed.get(source)
        if flag in ("true", "false"):
            sysmon.setdefault("file", {})[name] = flag == "true"
    if sysmon:
        doc["sysmon"] = sysmon

    if ev.user_sid:
        _sub(doc, "user")["id"] = ev.user_sid
    account_domain, account = _split_user(ed.get("User"))
    if account:
        user = _sub(doc, "user")
        user["domain"] = account_domain
        user["name"] = account
        add_related(doc, "user", account)
    value = _get(ed, "RuleName")
    if value:
        doc["rule"] = {"name": value}
    if code == "255":
        value = _get(ed, "ID")
        if value:
            doc["error"] = {"code": value}


# Security: whose account the user.* fields describe (Elastic's lists).
_TARGET_USER_EVENTS: Final = frozenset(
    ("4624", "4625", "4634", "4647", "4768", "4769", "4770", "4771", "4776", "4964")
)
_TARGET_TO_USER_TARGET: Final = frozenset(
    ("4670", "4720", "4722", "4723", "4724", "4725", "4726", "4738", "4740", "4767", "4798", "4817", "4907")
)
_GROUP_EVENTS: Final = frozenset(
    ("4727", "4728", "4729", "4730", "4731", "4732", "4733", "4734", "4735", "4737", "4744", "4745",
     "4746", "4747", "4748", "4749", "4750", "4751", "4752", "4753", "4754", "4755", "4756", "4757",
     "4758", "4759", "4760", "4761", "4762", "4763", "4764", "4799")
)  # fmt: skip
_SESSION_LOGON_ID_EVENTS: Final = frozenset(("4624", "4634", "4647", "4964"))
_SERVICE_TYPES: Final[dict[str, str]] = {
    "0x1": "Kernel Driver", "0x2": "File System Driver", "0x8": "Recognizer Driver",
    "0x10": "Win32 Own Process", "0x20": "Win32 Share Process", "0x110": "Interactive Own Process",
    "0x120": "Interactive Share Process",
}  # fmt: skip


def _account(ed: dict[str, str], sid_keys: tuple[str, ...], name_key: str, domain_key: str) -> Doc:
    """An ECS user object from EventData account fields (`user@realm` names keep the user part)."""
    account: Doc = {}
    for key in sid_keys:
        value = _get(ed, key)
        if value:
            account["id"] = value
            break
    value = _get(ed, name_key)
    if value:
        account["name"] = value.partition("@")[0] or value
    value = _get(ed, domain_key)
    if value:
        account["domain"] = value
    return account


def _map_security(doc: Doc, ed: dict[str, str], ev: WinEvent) -> None:
    code = ev.event_id
    if code in _TARGET_USER_EVENTS:
        user = _account(ed, ("TargetUserSid", "TargetSid"), "TargetUserName", "TargetDomainName")
    elif code in ("4778", "4779"):
        user = _account(ed, (), "AccountName", "AccountDomain")
    else:
        user = _account(ed, ("SubjectUserSid",), "SubjectUserName", "SubjectDomainName")
    if code in _TARGET_TO_USER_TARGET:
        target = _account(ed, ("TargetSid",), "TargetUserName", "TargetDomainName")
        if target:
            user["target"] = target
    elif code in ("4648", "4688"):
        effective = _account(ed, ("TargetUserSid",), "TargetUserName", "TargetDomainName")
        if effective:
            user["effective"] = effective
    elif code in _GROUP_EVENTS:
        group: Doc = _account(ed, ("TargetSid", "TargetUserSid"), "TargetUserName", "TargetDomainName")
        if group:
            doc["group"] = dict(group)
        member = _get(ed, "MemberName")
        if member:  # a DN: CN=Bob,OU=Staff,DC=corp,DC=local
            parts = [part.strip() for part in member.split(",")]
            target = {"name": parts[0][3:] if parts[0][:3].upper() == "CN=" else parts[0]}
            domain = ".".join(part[3:] for part in parts if part[:3].upper() == "DC=")
            if domain:
                target["domain"] = domain
            if group:
                target["group"] = dict(group)
            user["target"] = target
    if user:
        doc["user"] = user
        add_related(doc, "user", user.get("name"))
        for nested in ("target", "effective"):
            if nested in user:
                add_related(doc, "user", user[nested].get("name"))

    logon: Doc = {}
    value = _get(ed, "LogonType")
    if value:
        name = LOGON_TYPES.get(value)
        if name:
            logon["type"] = name
    if code in _SESSION_LOGON_ID_EVENTS:
        value = _get(ed, "TargetLogonId") or _get(ed, "SubjectLogonId")
    else:
        value = _get(ed, "SubjectLogonId") or _get(ed, "LogonID") or _get(ed, "TargetLogonId")
    if value:
        logon["id"] = value
    if logon:
        doc["winlog"]["logon"] = logon

    process: Doc = {}
    if code == "4688":
        pid = to_int(_get(ed, "NewProcessId"))
        if pid is not None:
            process["pid"] = pid
        _set_executable(process, _get(ed, "NewProcessName"))
        _set_command_line(process, _get(ed, "CommandLine"))
        parent: Doc = {}
        pid = to_int(_get(ed, "ProcessId"))
        if pid is not None:
            parent["pid"] = pid
        _set_executable(parent, _get(ed, "ParentProcessName"))
        if parent:
            process["parent"] = parent
    else:
        pid = to_int(_get(ed, "ProcessId") or _get(ed, "ProcessID"))
        if pid is not None:
            process["pid"] = pid
        _set_executable(process, _get(ed, "ProcessName") or _get(ed, "Application"))
    if process:
        doc["process"] = process

    if code in ("4778", "4779"):
        _set_ip(doc, "source", ed.get("ClientAddress"))
        value = _get(ed, "ClientName")
        if value:
            _sub(doc, "source")["domain"] = value
    elif code in ("5156", "5157", "5158"):
        _set_ip(doc, "source", ed.get("SourceAddress"), ed.get("SourcePort"))
        _set_ip(doc, "destination", ed.get("DestAddress"), ed.get("DestPort"))
        network: Doc = {}
        value = _get(ed, "Protocol")
        if value:
            network["transport"] = _IANA_TRANSPORT.get(value, value)
        value = _WFP_DIRECTIONS.get(ed.get("Direction", ""))
        if value:
            network["direction"] = value
        if network:
            doc["network"] = network
    else:
        _set_ip(doc, "source", ed.get("IpAddress"), ed.get("IpPort"))
        value = _get(ed, "WorkstationName")
        if value:
            _sub(doc, "source")["domain"] = value

    value = _get(ed, "ServiceName")
    if value:
        service: Doc = {"name": value}
        kind = _SERVICE_TYPES.get(ed.get("ServiceType", ""))
        if kind:
            service["type"] = kind
        doc["service"] = service

    if code in ("5140", "5145"):
        name = _get(ed, "RelativeTargetName")
        directory = _get(ed, "ShareLocalPath")
        file: Doc = {}
        if name:
            file["name"] = name
            dot = name.rfind(".")
            if 0 <= dot < len(name) - 1:
                file["extension"] = name[dot + 1 :]
            share = _get(ed, "ShareName")
            if share:
                file["target_path"] = f"{share}\\{name}"
        if directory:
            file["directory"] = directory
            if name:
                file["path"] = f"{directory}{name}" if directory.endswith("\\") else f"{directory}\\{name}"
        if file:
            doc["file"] = file
    elif code in ("4656", "4660", "4663") and ed.get("ObjectType") == "File":
        _set_file_path(doc, _get(ed, "ObjectName"))
    elif code == "4657":
        path = registry_value_path(_get(ed, "ObjectName"), _get(ed, "ObjectValueName"))
        if path is not None:
            _registry(doc, path, None)


_KERNEL_HIVES: Final = (("\\REGISTRY\\MACHINE", "HKLM"), ("\\REGISTRY\\USER", "HKU"))


def registry_value_path(key: str | None, value: str | None) -> str | None:
    """A 4657 value's path as Sysmon writes `TargetObject`: the key with its kernel hive name
    abbreviated (`\\REGISTRY\\MACHINE` -> `HKLM`, `\\REGISTRY\\USER` -> `HKU`), then the value name."""
    if key is None:
        return None
    upper = key.upper()
    for prefix, hive in _KERNEL_HIVES:
        if upper.startswith(prefix) and (len(key) == len(prefix) or key[len(prefix)] == "\\"):
            key = hive + key[len(prefix) :]
            break
    return f"{key}\\{value}" if value else key


def _context_info(value: str) -> dict[str, str]:
    """PowerShell 4103 `ContextInfo` lines `Host Application = ...` -> {"HostApplication": ...}."""
    out: dict[str, str] = {}
    for line in value.split("\n"):
        key, sep, item = line.partition("=")
        if sep:
            key = key.replace(" ", "").strip()
            item = item.strip()
            if key and item:
                out[key] = item
    return out


def _classic_details(value: str) -> dict[str, str]:
    """Windows PowerShell 400-800 details (`\\tKey=value` lines; a value may span lines)."""
    out: dict[str, str] = {}
    key: str | None = None
    for line in value.split("\n"):
        if line.startswith("\t"):
            name, sep, item = line[1:].partition("=")
            if sep and name.isalnum():
                key = name
                out[key] = item
                continue
        if key is not None and line:
            out[key] = f"{out[key]}\n{line}"
    return {name: item.strip() for name, item in out.items() if item.strip()}


def _apply_powershell(doc: Doc, details: dict[str, str]) -> None:
    """ECS `process.*`, `powershell.*`, `file.*`, `user.*` from the parsed PowerShell context."""
    process: Doc = doc.get("process") or {}
    value = details.get("HostApplication")
    if value:
        _set_command_line(process, value)
    value = details.get("HostID") or details.get("HostId")
    if value:
        process["entity_id"] = value
    value = details.get("HostName")
    if value:
        process["title"] = value
    if process:
        doc["process"] = process
    powershell = _sub(doc, "powershell")
    for source, path in (
        ("EngineVersion", ("engine", "version")),
        ("NewEngineState", ("engine", "new_state")),
        ("PreviousEngineState", ("engine", "previous_state")),
        ("NewProviderState", ("provider", "new_state")),
        ("ProviderName", ("provider", "name")),
        ("HostVersion", ("process", "executable_version")),
        ("CommandLine", ("command", "value")),
        ("CommandPath", ("command", "path")),
        ("CommandName", ("command", "name")),
        ("CommandType", ("command", "type")),
    ):
        value = details.get(source)
        if value:
            _sub(powershell, path[0])[path[1]] = value
    for source, name in (("PipelineID", "pipeline_id"), ("PipelineId", "pipeline_id"),
                         ("RunspaceID", "runspace_id"), ("RunspaceId", "runspace_id"),
                         ("ShellID", "id")):  # fmt: skip
        value = details.get(source)
        if value:
            powershell[name] = value
    for source, name in (("DetailSequence", "sequence"), ("DetailTotal", "total")):
        number = to_int(details.get(source))
        if number is not None:
            powershell[name] = number
    if not powershell:
        del doc["powershell"]
    number = to_int(details.get("SequenceNumber"))
    if number is not None:
        doc["event"]["sequence"] = number
    _set_file_path(doc, details.get("ScriptName"))
    account_domain, account = _split_user(details.get("UserId") or details.get("User"))
    if account:
        user = _sub(doc, "user")
        user["domain"] = account_domain
        user["name"] = account
        add_related(doc, "user", account)


def _map_powershell_operational(doc: Doc, ed: dict[str, str], ev: WinEvent) -> None:
    if ev.user_sid:
        doc["user"] = {"id": ev.user_sid}
    code = ev.event_id
    if code == "4103":
        value = ed.get("ContextInfo")
        if value:
            _apply_powershell(doc, _context_info(value))
        return
    powershell: Doc = {}
    script: Doc = {}
    value = _get(ed, "ScriptBlockText")
    if value:
        script["script_block_text"] = value
    value = _get(ed, "ScriptBlockId")
    if value:
        script["script_block_id"] = value
    if script:
        powershell["file"] = script
    for source, name in (("MessageNumber", "sequence"), ("MessageTotal", "total")):
        number = to_int(ed.get(source))
        if number is not None:
            powershell[name] = number
    value = _get(ed, "RunspaceId")
    if value:
        powershell["runspace_id"] = value
    if powershell:
        doc["powershell"] = powershell
    _set_file_path(doc, _get(ed, "Path"))


def _map_powershell_classic(doc: Doc, ed: dict[str, str], ev: WinEvent) -> None:
    if ev.user_sid:
        doc["user"] = {"id": ev.user_sid}
    value = ed.get("param2" if ev.event_id == "800" else "param3")
    if value:
        _apply_powershell(doc, _classic_details(value))


def _defender_path(value: str) -> str:
    """Defender resources (`file:_C:\\x.exe; process:_pid:4`) -> the first path, scheme removed."""
    first = value.split(";", 1)[0].strip()
    scheme, sep, rest = first.partition(":_")
    return rest if sep and scheme.isalpha() else first


def _map_defender(doc: Doc, ed: dict[str, str], ev: WinEvent) -> None:
    code = ev.event_id
    if code == "1117" and ed.get("Action Name") == "Quarantine":
        doc["event"]["action"] = "malware-quarantined"
    if (ed.get("Error Description") or "").strip() == "The operation completed successfully.":
        doc["event"].setdefault("outcome", "success")
    value = _get(ed, "FWLink")
    if value:
        doc["event"]["reference"] = value
    domain, name = _split_user(ed.get("Detection User") or ed.get("User"))
    if name:
        doc["user"] = {"domain": domain, "name": name}
        add_related(doc, "user", name)
    elif ev.user_sid:
        doc["user"] = {"id": ev.user_sid}
    value = _get(ed, "Path") or _get(ed, "FileName") or _get(ed, "Filename")
    if value:
        _set_file_path(doc, _defender_path(value))
    value = _get(ed, "Sha256")
    if value:
        _sub(_sub(doc, "file"), "hash")["sha256"] = value.lower()
    process: Doc = {}
    value = _get(ed, "Process Name")
    if value and code != "1126":
        _set_executable(process, value)
    elif value:
        process["name"] = value
    _set_command_line(process, _get(ed, "Target Commandline"))
    value = _get(ed, "Parent Commandline")
    if value:
        _set_command_line(_sub(process, "parent"), value)
    if process:
        doc["process"] = process
    value = _get(ed, "Destination")
    if value:
        _sub(doc, "destination")["domain"] = value


def _map_system(doc: Doc, ed: dict[str, str], ev: WinEvent) -> None:
    code = ev.event_id
    if code == "104":  # log cleared: UserData names who did it
        user = _account(ed, ("SubjectUserSid",), "SubjectUserName", "SubjectDomainName")
        if user:
            doc["user"] = user
            add_related(doc, "user", user.get("name"))
            value = _get(ed, "SubjectLogonId")
            if value:
                doc["winlog"]["logon"] = {"id": value}
            return
    if ev.user_sid:
        doc["user"] = {"id": ev.user_sid}
    if code == "7045":
        value = _get(ed, "ServiceName")
        if value:
            service: Doc = {"name": value}
            kind = _get(ed, "ServiceType")
            if kind:
                service["type"] = kind
            doc["service"] = service
    elif code in ("7034", "7036", "7040"):
        value = _get(ed, "param1")
        if value:
            service = {"name": value}
            state = _get(ed, "param2")
            if code == "7036" and state:
                service["state"] = state
            doc["service"] = service


def _map_firewall(doc: Doc, ed: dict[str, str], ev: WinEvent) -> None:
    rule: Doc = {}
    value = _get(ed, "RuleName")
    if value:
        rule["name"] = value
    value = _get(ed, "RuleId")
    if value:
        rule["id"] = value
    if rule:
        doc["rule"] = rule
    process: Doc = {}
    _set_executable(process, _get(ed, "ModifyingApplication"))
    if process:
        doc["process"] = process
    value = _get(ed, "ModifyingUser")
    if value:
        doc["user"] = {"id": value}
    elif ev.user_sid:
        doc["user"] = {"id": ev.user_sid}


def _map_default(doc: Doc, ed: dict[str, str], ev: WinEvent) -> None:
    if ev.user_sid:
        doc["user"] = {"id": ev.user_sid}


@dataclass(frozen=True, slots=True)
class Route:
    """What a channel's events get: ECS module and dataset, categorization, field mapper."""

    module: str
    dataset: str
    specs: dict[str, Spec]
    mapper: Mapper
    default: Spec | None = None


SECURITY = "Security"
SYSMON = "Microsoft-Windows-Sysmon/Operational"
ROUTES: Final[dict[str, Route]] = {
    SECURITY: Route("windows", "windows.security", _SECURITY_SPECS, _map_security),
    SYSMON: Route("sysmon", "windows.sysmon_operational", _SYSMON_SPECS, _map_sysmon),
    "Windows PowerShell": Route(
        "windows", "windows.powershell", _POWERSHELL_SPECS, _map_powershell_classic, _POWERSHELL_DEFAULT
    ),
    "Microsoft-Windows-PowerShell/Operational": Route(
        "windows",
        "windows.powershell_operational",
        _POWERSHELL_SPECS,
        _map_powershell_operational,
        _POWERSHELL_DEFAULT,
    ),
    "PowerShellCore/Operational": Route(
        "windows",
        "windows.powershell_operational",
        _POWERSHELL_SPECS,
        _map_powershell_operational,
        _POWERSHELL_DEFAULT,
    ),
    "System": Route("windows", "windows.system", _SYSTEM_SPECS, _map_system),
    "Microsoft-Windows-Windows Defender/Operational": Route(
        "windows", "windows.defender", _DEFENDER_SPECS, _map_defender, _DEFENDER_DEFAULT
    ),
    "Microsoft-Windows-Windows Firewall With Advanced Security/Firewall": Route(
        "windows", "windows.firewall", _FIREWALL_SPECS, _map_firewall
    ),
}
_EMPTY_SPECS: Final[dict[str, Spec]] = {}
_OTHER_ROUTES: dict[str, Route] = {}


def _slug(name: str) -> str:
    name = name.removeprefix("Microsoft-Windows-")
    out = "".join(ch.lower() if ch.isalnum() else "_" for ch in name)
    return "_".join(part for part in out.split("_") if part) or "unknown"


def route_for(channel: str | None, provider: str | None) -> Route:
    """The route of a channel; other channels get `windows.<channel slug>` (provider if none)."""
    route = ROUTES.get(channel or "")
    if route is not None:
        return route
    key = channel or provider or ""
    route = _OTHER_ROUTES.get(key)
    if route is None:
        route = Route("windows", "windows." + _slug(key[:80]), _EMPTY_SPECS, _map_default)
        if len(_OTHER_ROUTES) < 4096:  # bounded: channel names come from the payload
            _OTHER_ROUTES[key] = route
    return route


# --------------------------------------------------------------------------------------------
# The mapping
# --------------------------------------------------------------------------------------------


#: `winlog`'s System fields and `winlog.user`'s, in the document's order: their names in the
#: document (`to_ecs`) and in the flat view (`to_flat`), which write them by the same code.
_SYSTEM_NAMES: Final = (
    "channel", "provider_name", "provider_guid", "record_id", "computer_name", "version", "level",
    "task", "opcode",
)  # fmt: skip
_SYSTEM_DOTTED: Final = tuple("winlog." + name for name in _SYSTEM_NAMES)
_USER_NAMES: Final = ("identifier", "name", "domain", "type")
_USER_DOTTED: Final = tuple("winlog.user." + name for name in _USER_NAMES)


def _put_system(ev: WinEvent, out: Doc, names: tuple[str, ...]) -> None:
    """The System fields a Windows event has, under `names` (`_SYSTEM_NAMES` or `_SYSTEM_DOTTED`)."""
    values = (
        ev.channel, ev.provider, ev.provider_guid, ev.record_id, ev.computer, ev.version, ev.level,
        ev.task, ev.opcode,
    )  # fmt: skip
    _put_present(out, names, values)


def _put_user(ev: WinEvent, sid: str, out: Doc, names: tuple[str, ...]) -> None:
    """`winlog.user` of an event with a user SID, under `names` (`_USER_NAMES` or `_USER_DOTTED`)."""
    _put_present(out, names, (sid, ev.user_name, ev.user_domain, ev.user_type))


def _put_present(out: Doc, names: tuple[str, ...], values: tuple[object, ...]) -> None:
    """`out[name] = value` for the values that are set (Winlogbeat omits empty and zero values)."""
    for index in range(len(names)):
        value = values[index]
        if value:
            out[names[index]] = value


def _event_meta(ev: WinEvent, route: Route) -> Doc:
    """`event.*` of a Windows event (the channel's categorization; `to_ecs` and `to_flat`)."""
    spec = route.specs.get(ev.event_id) or route.default
    event: Doc = {"kind": "event", "code": ev.event_id, "module": route.module, "dataset": route.dataset}
    if ev.provider:
        event["provider"] = ev.provider
    if spec is not None:
        if spec.category:
            event["category"] = list(spec.category)
        if spec.type:
            event["type"] = list(spec.type)
        if spec.action:
            event["action"] = spec.action
        if spec.outcome:
            event["outcome"] = spec.outcome
    if "action" not in event and ev.task and ev.task != "None":
        event["action"] = ev.task  # what Winlogbeat puts there
    keywords = ev.keywords
    if keywords and "outcome" not in event:
        if "Audit Failure" in keywords:
            event["outcome"] = "failure"
        elif "Audit Success" in keywords:
            event["outcome"] = "success"
    return event


#: A Windows event's channel mapping (`map_event`): its `event.*`, what the channel's mapper adds to
#: `winlog`, and the mapper's other fields (`process`, `user`, ...), each in the mapper's order.
Mapped = tuple[Doc, Doc, Doc]


def map_event(ev: WinEvent) -> Mapped:
    """The channel's mapping of `ev`, apart from the fields every Windows event has (`compose`).

    The mapper reads and writes only its own fields, `event` and `winlog.logon`, so it runs on a
    scratch document of those; `compose` puts the pieces where the mapper would have put them."""
    route = route_for(ev.channel, ev.provider)
    event = _event_meta(ev, route)
    winlog: Doc = {}
    scratch: Doc = {"event": event, "winlog": winlog}
    route.mapper(scratch, ev.event_data, ev)
    del scratch["event"]
    del scratch["winlog"]
    return event, winlog, scratch


def to_ecs(ev: WinEvent) -> Doc:
    """The ECS document for one Windows event (no `event.original`/ids: the stage adds those)."""
    return compose(ev, map_event(ev))


def compose(ev: WinEvent, mapped: Mapped) -> Doc:
    """The ECS document of `ev` from its channel mapping (`map_event`; its dicts become the
    document's)."""
    event, extra, fields = mapped
    keywords = ev.keywords
    winlog: Doc = {"event_id": ev.event_id}
    _put_system(ev, winlog, _SYSTEM_NAMES)
    if keywords:
        winlog["keywords"] = keywords
    if ev.pid:
        process: Doc = {"pid": ev.pid}
        if ev.thread_id:
            process["thread"] = {"id": ev.thread_id}
        winlog["process"] = process
    if ev.user_sid:
        wuser: Doc = {}
        _put_user(ev, ev.user_sid, wuser, _USER_NAMES)
        winlog["user"] = wuser
    if ev.activity_id:
        winlog["activity_id"] = ev.activity_id
    if ev.related_activity_id:
        winlog["related_activity_id"] = ev.related_activity_id
    ed = ev.event_data
    if ed:
        unnamed = unnamed_values(ed) if "Data" not in ed else None
        winlog["event_data"] = {**ed, "Data": unnamed} if unnamed else ed
    if ev.user_data:
        winlog["user_data"] = ev.user_data
    if extra:
        winlog.update(extra)

    doc: Doc = {"@timestamp": ev.time, "event": event, "winlog": winlog}
    if ev.computer:
        doc["host"] = _host(ev.computer)
    if ev.message:
        doc["message"] = ev.message
    if fields:
        doc.update(fields)
    return doc


# Places of the flat view's event-data names, held (see `soc_core.flat.make_place`).
_ROOT_PLACE: Final = make_place("")
_WINLOG_PLACE: Final = make_place("winlog.")
_EVENT_DATA_PLACE: Final = make_place("winlog.event_data.")
_USER_DATA_PLACE: Final = make_place("winlog.user_data.")


def to_flat(
    ev: WinEvent,
    out: Doc,
    on_event: Callable[[Doc], None] | None = None,
    os_type: str | None = None,
    *,
    timestamp: bool = True,
) -> Mapped:
    """`to_ecs(ev)`'s dotted view (`Event.flat()` of its document), written into `out` without the
    nested document: `socpipe detect` reads the flat view of every event and the document only of
    those that alert, and building, copying and walking the document was a fifth of its time.

    Keys and values are those of the document's flat view, in its order (tested on every event of
    the EVTX corpus and the golden files): `on_event(out)` writes the caller's `event.*` fields
    (the stage's identity) where the document has them, after the event's own, and `os_type` is
    the stage's `host.os.type` (written here when the event names its computer). Returns the
    channel mapping, for `compose(ev, mapped)` to build `to_ecs(ev)` from if it is needed (the
    view copies what it takes, so the mapping stays the document's own). `timestamp=False`
    leaves `@timestamp` out (a reader that reads no time, see `NormalizeStage.normalize`)."""
    mapped = map_event(ev)
    event, winlog, fields = mapped
    ed = ev.event_data
    if timestamp:
        out["@timestamp"] = json_time(ev.time)
    flatten_under(event, "event", out)
    if on_event is not None:
        on_event(out)
    out["winlog.event_id"] = ev.event_id
    _put_system(ev, out, _SYSTEM_DOTTED)
    keywords = ev.keywords
    if keywords:
        out["winlog.keywords"] = list(keywords)  # names, strings: as the flat view copies them
    if ev.pid:
        out["winlog.process.pid"] = ev.pid
        if ev.thread_id:
            out["winlog.process.thread.id"] = ev.thread_id
    if ev.user_sid:
        _put_user(ev, ev.user_sid, out, _USER_DOTTED)
    if ev.activity_id:
        out["winlog.activity_id"] = ev.activity_id
    if ev.related_activity_id:
        out["winlog.related_activity_id"] = ev.related_activity_id
    if ed:
        flatten_at(ed, _EVENT_DATA_PLACE, "winlog.event_data.", out)
        if "Data" not in ed:
            unnamed = unnamed_values(ed)
            if unnamed:
                out["winlog.event_data.Data"] = unnamed
    if ev.user_data:
        flatten_at(ev.user_data, _USER_DATA_PLACE, "winlog.user_data.", out)
    if winlog:
        flatten_at(winlog, _WINLOG_PLACE, "winlog.", out)
    if ev.computer:
        host = _host(ev.computer)
        out["host.name"] = host["name"]
        out["host.hostname"] = host["hostname"]
        if os_type is not None:
            out["host.os.type"] = os_type
    if ev.message:
        out["message"] = ev.message
    flatten_at(fields, _ROOT_PLACE, "", out)
    return mapped
