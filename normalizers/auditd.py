"""Linux audit (auditd) events -> ECS, and `AuditdAssembler` to group a line stream into events.

The kernel writes one audit event as several records (lines) that share `msg=audit(TS:SERIAL)`:
`SYSCALL`, `EXECVE`, `CWD`, `PATH`..., `PROCTITLE`, then `EOE`. A raw record given to `parse`
holds one line or the whole group (newline-separated, as a shipper that joins groups sends it);
all its lines must share one serial, and they become one event:

- `auditd.data.<key>`: every key/value of every record, as text; untrusted strings that auditd
  hex-encodes (`proctitle`, EXECVE `aN`, `cmd`, `exe`, `comm`, `cwd`, `name`, `acct`...) are decoded;
  user-space records' `msg='k=v ...'` is flattened in. When two records share a key, EXECVE wins
  over SYSCALL, which wins over the rest (so `a0` is the program's first argument, as Sigma's
  auditd rules expect). The syscall name and arch are added as `SYSCALL`/`ARCH` when the log is not
  in the enriched format already (same names auditd itself uses there).
- `auditd.record_types`, `auditd.sequence` (the serial), `auditd.paths` (every PATH record);
- `process.*` (executable, name, pid, parent.pid, args, command_line, working_directory, title),
  `user.id/name`, `user.effective.*`, `user.audit.*` (the login uid), `source.*` for remote logins,
  `destination.*` from a `SOCKADDR` record, `event.category/type/action/outcome`.

`host.name` comes from `node=` (auditd `name_format`) or a syslog header in front of the record.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from normalizers._text_common import absent, add_related, endpoint, host_doc, to_int, truncate, utc_from_epoch
from normalizers._text_syslog import parse_prefix
from normalizers.base import ParseContext
from soc_core.errors import NormalizeError

_RECORD = re.compile(r"(?:node=(\S+) )?type=([A-Za-z0-9_]+) msg=audit\((\d+)(?:\.(\d+))?:(\d+)\):?")
_KV = re.compile(r"([A-Za-z_][\w\-\[\]]*)=(?:\"([^\"]*)\"|'([^']*)'|(\S*))")
_KV_RAW = re.compile(r"([A-Za-z_][\w\-\[\]]*)=(\"[^\"]*\"|'[^']*'|\S*)")
_QUOTES = frozenset("\"'")
_HEX = re.compile(r"(?:[0-9A-F]{2})+")
_EXECVE_ARG = re.compile(r"a(\d+)(?:\[(\d+)\])?")
_AVC = re.compile(r"avc: +(\w+) +\{ ([^}]*)\}")

# Fields auditd logs as "untrusted strings": quoted when plain, hex-encoded otherwise.
_HEX_KEYS = frozenset(
    {
        "proctitle", "cmd", "exe", "comm", "cwd", "name", "path", "acct", "data", "key", "ocomm",
        "watch", "dir", "new-disk", "old-disk", "vm", "grp", "new_group", "new-user", "root_dir",
        "old_user", "new_user", "old-chardev", "new-chardev",
    }
)  # fmt: skip
_UNSET_ID = frozenset({"4294967295", "-1"})

_ARCHES = {"c000003e": "x86_64", "c00000b7": "aarch64", "40000003": "i386", "40000028": "arm"}
_X86_64 = {
    2: "open", 9: "mmap", 10: "mprotect", 41: "socket", 42: "connect", 43: "accept", 44: "sendto",
    45: "recvfrom", 49: "bind", 50: "listen", 56: "clone", 57: "fork", 58: "vfork", 59: "execve",
    62: "kill", 63: "uname", 76: "truncate", 77: "ftruncate", 82: "rename", 83: "mkdir", 84: "rmdir",
    85: "creat", 86: "link", 87: "unlink", 88: "symlink", 90: "chmod", 91: "fchmod", 92: "chown",
    93: "fchown", 94: "lchown", 101: "ptrace", 105: "setuid", 106: "setgid", 113: "setreuid",
    117: "setresuid", 126: "capset", 133: "mknod", 135: "personality", 155: "pivot_root", 157: "prctl",
    161: "chroot", 164: "settimeofday", 165: "mount", 166: "umount2", 167: "swapon", 169: "reboot",
    170: "sethostname", 175: "init_module", 176: "delete_module", 188: "setxattr", 189: "lsetxattr",
    190: "fsetxattr", 197: "removexattr", 198: "lremovexattr", 199: "fremovexattr", 200: "tkill",
    227: "clock_settime", 231: "exit_group", 234: "tgkill", 235: "utimes", 246: "kexec_load",
    248: "add_key", 249: "request_key", 250: "keyctl", 257: "openat", 258: "mkdirat", 259: "mknodat",
    260: "fchownat", 263: "unlinkat", 264: "renameat", 265: "linkat", 266: "symlinkat", 268: "fchmodat",
    272: "unshare", 280: "utimensat", 288: "accept4", 303: "name_to_handle_at", 304: "open_by_handle_at",
    308: "setns", 310: "process_vm_readv", 311: "process_vm_writev", 313: "finit_module",
    316: "renameat2", 319: "memfd_create", 321: "bpf", 322: "execveat",
}  # fmt: skip
_AARCH64 = {
    5: "setxattr", 6: "lsetxattr", 7: "fsetxattr", 14: "removexattr", 15: "lremovexattr",
    16: "fremovexattr", 33: "mknodat", 34: "mkdirat", 35: "unlinkat", 36: "symlinkat", 37: "linkat",
    38: "renameat", 39: "umount2", 40: "mount", 41: "pivot_root", 45: "truncate", 46: "ftruncate",
    51: "chroot", 52: "fchmod", 53: "fchmodat", 54: "fchownat", 55: "fchown", 56: "openat",
    88: "utimensat", 91: "capset", 92: "personality", 94: "exit_group", 97: "unshare", 104: "kexec_load",
    105: "init_module", 106: "delete_module", 112: "clock_settime", 117: "ptrace", 129: "kill",
    130: "tkill", 131: "tgkill", 144: "setgid", 145: "setreuid", 146: "setuid", 147: "setresuid",
    160: "uname", 161: "sethostname", 167: "prctl", 170: "settimeofday", 198: "socket", 200: "bind",
    201: "listen", 202: "accept", 203: "connect", 206: "sendto", 207: "recvfrom", 217: "add_key",
    218: "request_key", 219: "keyctl", 220: "clone", 221: "execve", 222: "mmap", 226: "mprotect",
    242: "accept4", 268: "setns", 270: "process_vm_readv", 271: "process_vm_writev", 273: "finit_module",
    276: "renameat2", 279: "memfd_create", 280: "bpf", 281: "execveat",
}  # fmt: skip
_SYSCALLS = {"x86_64": _X86_64, "aarch64": _AARCH64}

Mapping = tuple[list[str] | None, list[str] | None, str]
_FILE_CHANGE: Mapping = (["file"], ["change"], "changed-file")
_SYSCALL_MAP: dict[str, Mapping] = {
    "execve": (["process"], ["start"], "executed"),
    "execveat": (["process"], ["start"], "executed"),
    "open": (["file"], ["access"], "opened-file"),
    "openat": (["file"], ["access"], "opened-file"),
    "open_by_handle_at": (["file"], ["access"], "opened-file"),
    "creat": (["file"], ["creation"], "created-file"),
    "unlink": (["file"], ["deletion"], "deleted"),
    "unlinkat": (["file"], ["deletion"], "deleted"),
    "rmdir": (["file"], ["deletion"], "deleted"),
    "rename": (["file"], ["change"], "renamed"),
    "renameat": (["file"], ["change"], "renamed"),
    "renameat2": (["file"], ["change"], "renamed"),
    "chmod": (["file"], ["change"], "changed-file-permissions-of"),
    "fchmod": (["file"], ["change"], "changed-file-permissions-of"),
    "fchmodat": (["file"], ["change"], "changed-file-permissions-of"),
    "chown": (["file"], ["change"], "changed-file-ownership-of"),
    "fchown": (["file"], ["change"], "changed-file-ownership-of"),
    "lchown": (["file"], ["change"], "changed-file-ownership-of"),
    "fchownat": (["file"], ["change"], "changed-file-ownership-of"),
    "setxattr": (["file"], ["change"], "changed-file-attributes-of"),
    "lsetxattr": (["file"], ["change"], "changed-file-attributes-of"),
    "fsetxattr": (["file"], ["change"], "changed-file-attributes-of"),
    "removexattr": (["file"], ["change"], "changed-file-attributes-of"),
    "lremovexattr": (["file"], ["change"], "changed-file-attributes-of"),
    "fremovexattr": (["file"], ["change"], "changed-file-attributes-of"),
    "truncate": _FILE_CHANGE,
    "ftruncate": _FILE_CHANGE,
    "utimes": (["file"], ["change"], "changed-timestamp-of"),
    "utimensat": (["file"], ["change"], "changed-timestamp-of"),
    "mkdir": (["file"], ["creation"], "created-directory"),
    "mkdirat": (["file"], ["creation"], "created-directory"),
    "mknod": (["file"], ["creation"], "created-file"),
    "mknodat": (["file"], ["creation"], "created-file"),
    "link": (["file"], ["creation"], "linked"),
    "linkat": (["file"], ["creation"], "linked"),
    "symlink": (["file"], ["creation"], "linked"),
    "symlinkat": (["file"], ["creation"], "linked"),
    "mount": (["file"], ["change"], "mounted"),
    "umount2": (["file"], ["change"], "unmounted"),
    "connect": (["network"], ["connection", "start"], "connected-to"),
    "accept": (["network"], ["connection", "start"], "accepted-connection-from"),
    "accept4": (["network"], ["connection", "start"], "accepted-connection-from"),
    "bind": (["network"], ["start"], "bound-socket"),
    "listen": (["network"], ["start"], "listen-for-connections"),
    "socket": (["network"], ["info"], "created-socket"),
    "init_module": (["driver"], ["start"], "loaded-kernel-module"),
    "finit_module": (["driver"], ["start"], "loaded-kernel-module"),
    "delete_module": (["driver"], ["end"], "unloaded-kernel-module"),
    "ptrace": (["process"], ["access"], "traced"),
    "process_vm_readv": (["process"], ["access"], "read-process-memory"),
    "process_vm_writev": (["process"], ["change"], "wrote-process-memory"),
    "kill": (["process"], ["end"], "killed-pid"),
    "tkill": (["process"], ["end"], "killed-pid"),
    "tgkill": (["process"], ["end"], "killed-pid"),
    "setuid": (["process"], ["change"], "changed-identity-of"),
    "setgid": (["process"], ["change"], "changed-identity-of"),
    "setreuid": (["process"], ["change"], "changed-identity-of"),
    "setresuid": (["process"], ["change"], "changed-identity-of"),
    "capset": (["process"], ["change"], "changed-identity-of"),
}
_TYPE_MAP: dict[str, Mapping] = {
    "USER_LOGIN": (["authentication", "session"], ["start"], "logged-in"),
    "USER_LOGOUT": (["session"], ["end"], "logged-out"),
    "LOGIN": (["session"], ["start"], "changed-login-id-to"),
    "USER_AUTH": (["authentication"], ["info"], "authenticated"),
    "USER_ACCT": (["authentication"], ["info"], "was-authorized"),
    "USER_START": (["session"], ["start"], "session-opened"),
    "USER_END": (["session"], ["end"], "session-closed"),
    "USER_ERR": (["authentication"], ["info"], "error"),
    "CRED_ACQ": (["authentication"], ["info"], "acquired-credentials"),
    "CRED_DISP": (["authentication"], ["info"], "disposed-credentials"),
    "CRED_REFR": (["authentication"], ["info"], "refreshed-credentials"),
    "USER_CMD": (["process"], ["start"], "ran-command"),
    "USER_CHAUTHTOK": (["iam"], ["user", "change"], "changed-password"),
    "ADD_USER": (["iam"], ["user", "creation"], "added-user-account"),
    "DEL_USER": (["iam"], ["user", "deletion"], "deleted-user-account"),
    "ADD_GROUP": (["iam"], ["group", "creation"], "added-group-account"),
    "DEL_GROUP": (["iam"], ["group", "deletion"], "deleted-group-account"),
    "USER_MGMT": (["iam"], ["user", "change"], "modified-user-account"),
    "GRP_MGMT": (["iam"], ["group", "change"], "modified-group-account"),
    "ACCT_LOCK": (["iam"], ["user", "change"], "locked-account"),
    "ACCT_UNLOCK": (["iam"], ["user", "change"], "unlocked-account"),
    "USER_ROLE_CHANGE": (["iam"], ["user", "change"], "changed-role-to"),
    "SERVICE_START": (["process"], ["start"], "started-service"),
    "SERVICE_STOP": (["process"], ["end"], "stopped-service"),
    "CONFIG_CHANGE": (["configuration"], ["change"], "changed-audit-configuration"),
    "DAEMON_START": (["process"], ["start"], "started-audit"),
    "DAEMON_END": (["process"], ["end"], "stopped-audit"),
    "DAEMON_ABORT": (["process"], ["end"], "aborted-audit"),
    "ANOM_ABEND": (["process"], ["end"], "crashed-program"),
    "ANOM_PROMISCUOUS": (["network"], ["info"], "changed-promiscuous-mode-on-device"),
    "SYSTEM_BOOT": (["host"], ["start"], "booted-system"),
    "SYSTEM_SHUTDOWN": (["host"], ["end"], "shutdown-system"),
    "KERN_MODULE": (["driver"], ["start"], "loaded-kernel-module"),
    "AVC": (None, None, "violated-selinux-policy"),
    "USER_AVC": (None, None, "access-permission"),
    "TTY": (None, None, "typed"),
    "USER_TTY": (None, None, "typed"),
}
# Records that describe the event without being it: used for data, never as the primary type.
_AUXILIARY = frozenset({"EOE", "PROCTITLE", "CWD", "PATH", "EXECVE", "SOCKADDR", "BPRM_FCAPS", "SYSCALL"})
_USER_SPACE_PREFIXES = ("USER_", "CRED_", "ADD_", "DEL_", "GRP_", "ACCT_", "LOGIN")


def _decode_hex(value: str, keep_nul: bool = False) -> str:
    text = bytes.fromhex(value).decode("utf-8", "replace")
    return text if keep_nul else text.replace("\x00", " ").rstrip()


class _Record:
    """One audit line: its type, header and decoded key/values (enriched ones kept apart)."""

    __slots__ = ("args", "enriched", "fields", "frac", "node", "prefix", "seconds", "serial", "type")

    def __init__(self, line: str) -> None:
        m = _RECORD.search(line)
        if m is None:
            raise NormalizeError(
                f"not an audit record (no 'type=... msg=audit(TS:SERIAL):'): {truncate(line, 80)!r}"
            )
        self.prefix = line[: m.start()]
        self.node = m.group(1)
        self.type = m.group(2)
        self.seconds = int(m.group(3))
        self.frac = m.group(4) or ""
        self.serial = int(m.group(5))
        body, _, enriched = line[m.end() :].partition("\x1d")
        self.fields: dict[str, str] = {}
        self.args: dict[int, dict[int, str]] = {}
        self._parse(body, self.fields)
        self.enriched: dict[str, str] = {}
        if enriched:
            for key, quoted, _, bare in _KV.findall(enriched):
                self.enriched[key] = bare or quoted
        if self.type == "AVC":
            avc = _AVC.search(body)
            if avc is not None:
                self.fields.setdefault("seresult", avc.group(1))
                self.fields.setdefault("seperms", ",".join(avc.group(2).split()))

    def _parse(self, body: str, into: dict[str, str]) -> None:
        if self.type == "EXECVE":
            self._parse_execve(body, into)
            return
        if "'" not in body and "{" not in body:
            # auditd hex-encodes any value holding a space, so outside the user-space msg='...'
            # part (and AVC braces) a record splits on spaces: much cheaper than a regex.
            raw: dict[str, str] = {}
            plain_quoted: list[str] = []
            for token in body.split():
                key, eq, value = token.partition("=")
                if eq and key:
                    if value[:1] == '"':
                        value = value[1:-1]
                        plain_quoted.append(key)
                    raw[key] = value
            self._decode_hex_fields(raw, plain_quoted)
            into.update(raw)
            return
        # Values as written (quotes included); only the quoted and hex-capable ones are fixed up.
        raw = dict(_KV_RAW.findall(body))
        quoted = [(k, v) for k, v in raw.items() if v[:1] in _QUOTES]
        self._decode_hex_fields(raw, [k for k, _ in quoted])
        nested: list[str] = []
        for key, value in quoted:
            if value[0] == '"':
                raw[key] = value[1:-1]
            else:
                del raw[key]
                nested.append(value[1:-1])
        for text in nested:  # user-space records carry their facts in msg='k=v ...': flatten them in.
            self._parse(text, raw)
        into.update(raw)

    @staticmethod
    def _decode_hex_fields(raw: dict[str, str], quoted: list[str]) -> None:
        """Untrusted-string fields written bare and in hex are auditd's encoding: decode them."""
        for key in _HEX_KEYS.intersection(raw).difference(quoted):
            value = raw[key]
            if _HEX.fullmatch(value):
                raw[key] = _decode_hex(value, keep_nul=key == "proctitle")

    def _parse_execve(self, body: str, into: dict[str, str]) -> None:
        for key, quoted, _, bare in _KV.findall(body):
            if key[0] == "a" and key[1:2].isdigit():
                arg = _EXECVE_ARG.fullmatch(key)
                if arg is None:  # a1_len=...: bookkeeping for split arguments
                    into[key] = bare or quoted
                    continue
                index, chunk = int(arg.group(1)), int(arg.group(2) or 0)
                self.args.setdefault(index, {})[chunk] = bare or f'"{quoted}"'
            else:
                into[key] = bare or quoted

    @staticmethod
    def _chunk(value: str) -> bytes:
        if value[:1] == '"':
            return value[1:-1].encode()
        if _HEX.fullmatch(value):
            return bytes.fromhex(value)
        return value.encode()

    def argv(self) -> list[str]:
        """EXECVE arguments in order; a long one's chunks (a1[0], a1[1]...) are decoded and joined."""
        out: list[str] = []
        for index in sorted(self.args):
            chunks = self.args[index]
            if len(chunks) == 1:
                out.append(self._chunk(chunks[next(iter(chunks))]).decode("utf-8", "replace"))
            else:
                joined = b"".join([self._chunk(chunks[i]) for i in sorted(chunks)])
                out.append(joined.decode("utf-8", "replace"))
        return out


def _sockaddr(saddr: str) -> tuple[str, int] | None:
    """(ip, port) from a hex `saddr` of family AF_INET (2) or AF_INET6 (10), else None."""
    try:
        raw = bytes.fromhex(saddr)
    except ValueError:
        return None
    if len(raw) >= 8 and raw[0] == 2 and raw[1] == 0:
        return ".".join(str(b) for b in raw[4:8]), int.from_bytes(raw[2:4], "big")
    if len(raw) >= 24 and raw[0] == 10 and raw[1] == 0:
        return str(ipaddress.IPv6Address(raw[8:24])), int.from_bytes(raw[2:4], "big")
    return None


_PRECEDENCE = {"EXECVE": 0, "SYSCALL": 1}
_SYSCALL_ARGS = ("a0", "a1", "a2", "a3")


class Auditd:
    name = "auditd"
    typed_output = True  # documents built from typed values: see Normalizer.typed_output

    def parse(self, raw: str, ctx: ParseContext) -> dict[str, Any]:
        # split on newlines only: str.splitlines() would also cut at the enriched-format \x1d.
        lines = [line.rstrip("\r") for line in raw.split("\n") if line.strip()]
        if not lines:
            raise NormalizeError("empty audit record")
        records = [_Record(line) for line in lines]
        head = records[0]
        serials = {(r.node, r.serial) for r in records}
        if len(serials) > 1:
            shown = ", ".join(str(s) for _, s in sorted(serials, key=lambda x: x[1])[:5])
            raise NormalizeError(
                f"audit record holds {len(serials)} events (serials {shown}): send one event per record "
                "(normalizers.auditd.AuditdAssembler groups a line stream)"
            )
        timestamp = utc_from_epoch(head.seconds, int(head.frac[:6].ljust(6, "0")) if head.frac else 0)
        by_type: dict[str, _Record] = {}
        for record in records:
            by_type.setdefault(record.type, record)
        execve = by_type.get("EXECVE")
        args = execve.argv() if execve is not None else []
        # First record wins per key, EXECVE before SYSCALL before the rest: updating in the
        # reverse of that order lets dict.update do the merge.
        data: dict[str, str] = {}
        for record in reversed(sorted(records, key=lambda r: _PRECEDENCE.get(r.type, 2))):
            data.update(record.enriched)
            data.update(record.fields)
        if execve is not None:
            for key in _SYSCALL_ARGS:  # with EXECVE, SYSCALL a0-a3 are argv pointers: noise
                data.pop(key, None)
            data.update({f"a{index}": arg for index, arg in enumerate(args)})
        types = [r.type for r in records if r.type != "EOE"] or [head.type]
        syscall = by_type.get("SYSCALL")
        syscall_name = self._syscall_name(syscall, data) if syscall is not None else None

        event: dict[str, Any] = {
            "kind": "event",
            "module": "auditd",
            "dataset": "linux.auditd",
            "provider": "auditd",
        }
        auditd: dict[str, Any] = {"sequence": head.serial, "record_types": types, "data": data}
        doc: dict[str, Any] = {"@timestamp": timestamp, "event": event, "auditd": auditd}
        paths = [r.fields for r in records if r.type == "PATH"]
        if paths:
            auditd["paths"] = paths
        self._host(doc, head, ctx)
        self._process(doc, data, args, syscall is not None)
        primary = next((t for t in types if t not in _AUXILIARY), None)
        self._user(doc, data, user_space=primary is not None and primary.startswith(_USER_SPACE_PREFIXES))
        self._classify(event, primary, syscall_name, bool(args), data)
        if "SOCKADDR" in by_type:
            address = _sockaddr(by_type["SOCKADDR"].fields.get("saddr", ""))
            if address is not None:
                side = "source" if syscall_name in ("accept", "accept4") else "destination"
                endpoint(doc, side, address[0], address[1])
        return doc

    @staticmethod
    def _syscall_name(record: _Record, data: dict[str, str]) -> str | None:
        if "SYSCALL" in record.enriched:
            return record.enriched["SYSCALL"]
        arch = _ARCHES.get(record.fields.get("arch", ""))
        number = to_int(record.fields.get("syscall"))
        name = _SYSCALLS.get(arch or "", {}).get(number) if number is not None else None
        if arch and "ARCH" not in data:
            data["ARCH"] = arch
        if name and "SYSCALL" not in data:
            data["SYSCALL"] = name
        return name

    @staticmethod
    def _host(doc: dict[str, Any], head: _Record, ctx: ParseContext) -> None:
        name = head.node
        if name is None and head.prefix.strip():
            header = parse_prefix(head.prefix, ctx)
            name = header.hostname if header is not None else None
        host = host_doc(name)
        if host is not None:
            doc["host"] = host
            add_related(doc, "hosts", host["name"])

    @staticmethod
    def _process(doc: dict[str, Any], data: dict[str, str], args: list[str], has_syscall: bool) -> None:
        process: dict[str, Any] = {}
        pid = to_int(data.get("pid"))
        if pid is not None:
            process["pid"] = pid
        ppid = to_int(data.get("ppid"))
        if ppid is not None:
            process["parent"] = {"pid": ppid}
        exe = data.get("exe")
        if not absent(exe):
            process["executable"] = exe
        comm = data.get("comm")
        if not absent(comm):
            process["name"] = comm
        elif exe and not absent(exe):
            process["name"] = exe.rpartition("/")[2]
        title = data.get("proctitle")
        if title and not absent(title):
            title_args = [part for part in title.split("\x00") if part]
            data["proctitle"] = " ".join(title_args)
            process["title"] = data["proctitle"]
            if not args and has_syscall:
                args = title_args
        if args:
            process["args"] = args
            process["args_count"] = len(args)
            process["command_line"] = " ".join(args)
        cwd = data.get("cwd")
        if not absent(cwd):
            process["working_directory"] = cwd
        if process:
            doc["process"] = process

    @staticmethod
    def _user(doc: dict[str, Any], data: dict[str, str], user_space: bool) -> None:
        user: dict[str, Any] = {}
        if user_space:
            # In USER_* records uid is the reporting program (sshd, sudo); acct/id is the account.
            acct = data.get("acct")
            if not absent(acct):
                user["name"] = acct
            account_id = data.get("id")
            if account_id and account_id.isdigit():
                user["id"] = account_id
            # addr is the remote peer; hostname is often the local machine, so it is not a source.
            address = data.get("addr")
            if not absent(address):
                endpoint(doc, "source", address)
        else:
            uid = data.get("uid")
            if uid and uid not in _UNSET_ID:
                user["id"] = uid
            name = data.get("UID")
            if name and not name.startswith("unknown"):
                user["name"] = name
            elif uid == "0":  # the one uid every Linux system resolves the same way
                user["name"] = "root"
            euid = data.get("euid")
            if euid and euid != uid and euid not in _UNSET_ID:
                user["effective"] = {"id": euid}
                if data.get("EUID"):
                    user["effective"]["name"] = data["EUID"]
                elif euid == "0":
                    user["effective"]["name"] = "root"
        auid = data.get("auid")
        if auid and auid not in _UNSET_ID:
            user["audit"] = {"id": auid}
            if data.get("AUID") and not data["AUID"].startswith("unset"):
                user["audit"]["name"] = data["AUID"]
        if user:
            doc["user"] = user
            if "name" in user:
                add_related(doc, "user", user["name"])

    @staticmethod
    def _classify(
        event: dict[str, Any], primary: str | None, syscall: str | None, exec_args: bool, data: dict[str, str]
    ) -> None:
        mapping: Mapping | None = None
        if primary is not None:
            mapping = _TYPE_MAP.get(primary)
            if mapping is None:
                mapping = (None, None, primary.lower().replace("_", "-"))
        elif exec_args:
            mapping = _SYSCALL_MAP["execve"]
        elif syscall is not None:
            mapping = _SYSCALL_MAP.get(syscall, (None, None, syscall))
        if mapping is not None:
            category, kind, action = mapping
            if category:
                event["category"] = category
            if kind:
                event["type"] = kind
            event["action"] = action
        success = data.get("success") or data.get("res")
        if success in ("yes", "success", "1"):
            event["outcome"] = "success"
        elif success in ("no", "failed", "0"):
            event["outcome"] = "failure"
            if primary == "USER_LOGIN":
                event["action"] = "logon-failed"

    def sniff(self, raw: str) -> bool:
        return "msg=audit(" in raw and "type=" in raw


NORMALIZER = Auditd()


class AuditdAssembler:
    """Groups a stream of single audit lines into one raw record per event. Pure: no I/O.

    `push(line)` returns the groups it completed (possibly none); `flush()` returns the rest.
    A group ends at its `EOE` line, when a line with another serial arrives from the same node
    (single-record events such as `USER_LOGIN` have no `EOE`), or when it reaches `max_lines`.
    Lines that are not audit records are passed through alone, so they become dead letters with
    their reason downstream instead of disappearing. Example::

        asm = AuditdAssembler()
        for line in lines:
            for group in asm.push(line):
                handle(group)          # "type=SYSCALL ...\\ntype=EXECVE ...\\n..."
        for group in asm.flush():
            handle(group)
    """

    def __init__(self, max_lines: int = 1000) -> None:
        self._max_lines = max_lines
        self._open: dict[str | None, tuple[int, list[str]]] = {}

    def push(self, line: str) -> list[str]:
        line = line.rstrip("\r\n")
        if not line.strip():
            return []
        m = _RECORD.search(line)
        if m is None:
            return [line]
        node, record_type, serial = m.group(1), m.group(2), int(m.group(5))
        done: list[str] = []
        current = self._open.get(node)
        if current is not None and current[0] != serial:
            done.append("\n".join(current[1]))
            current = None
        if current is None:
            current = (serial, [])
            self._open[node] = current
        current[1].append(line)
        if record_type == "EOE" or len(current[1]) >= self._max_lines:
            done.append("\n".join(current[1]))
            del self._open[node]
        return done

    def flush(self) -> list[str]:
        done = ["\n".join(lines) for _, lines in self._open.values()]
        self._open.clear()
        return done
