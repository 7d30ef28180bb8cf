"""What Linux authentication programs say, mapped to ECS: sshd, sudo, su, PAM, shadow-utils, logind.

Shared by `linux_syslog` and `journald`, so an sshd failure gives the same fields whichever way
the host ships it. `classify(program, message, doc)` adds `event.category/type/action/outcome`,
`user.*`, `source.*`, `group.*` and the Elastic-style `system.auth.*` details (method, sudo command,
useradd home/shell) to `doc` and says whether it recognised the message.

Action names follow the ones Elastic uses for the same facts on Windows (`logged-in`,
`logon-failed`, `added-user-account`, `added-member-to-group`, ...), so one correlation rule can
speak of both. `user.name` is the account the event is about (the one logging in, created, or
added to a group); for sudo and su it is the invoking user and `user.effective.name` the target.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from normalizers._text_common import absent, add_related, clean_ip, endpoint, to_int

AUTH_PROGRAMS = frozenset(
    {
        "sshd", "sshd-session", "sshd-auth", "sudo", "su", "login", "useradd", "usermod", "userdel",
        "groupadd", "groupmod", "groupdel", "gpasswd", "passwd", "chpasswd", "chage", "chsh", "chfn",
        "newusers", "systemd-logind", "polkitd", "pkexec", "unix_chkpwd", "dbus-daemon-launch-helper",
    }
)  # fmt: skip

Doc = dict[str, Any]


def _mark(doc: Doc, category: list[str], kind: list[str], action: str, outcome: str | None = None) -> None:
    event = doc["event"]
    event["category"] = category
    event["type"] = kind
    event["action"] = action
    if outcome is not None:
        event["outcome"] = outcome


def _user(doc: Doc, name: str | None, uid: str | None = None) -> None:
    if absent(name):
        return
    assert name is not None
    user = doc.setdefault("user", {})
    user["name"] = name
    if uid is not None and uid.isdigit():
        user["id"] = uid
    add_related(doc, "user", name)


def _effective(doc: Doc, name: str | None) -> None:
    if absent(name):
        return
    assert name is not None
    doc.setdefault("user", {})["effective"] = {"name": name}
    add_related(doc, "user", name)


def _auth(doc: Doc) -> dict[str, Any]:
    system = doc.setdefault("system", {})
    auth: dict[str, Any] = system.setdefault("auth", {})
    return auth


def _remote(doc: Doc, host: str | None, port: str | None = None) -> None:
    """`rhost=`/`from X` can be an address or a name; `endpoint` files each where it belongs."""
    if absent(host):
        return
    endpoint(doc, "source", host, port)


# --- sshd ----------------------------------------------------------------------------------------

_SSH_AUTH = re.compile(
    r"(Accepted|Failed|Postponed|Partial) (\S+) for (invalid user )?(.*?) from (\S+) port (\d+)"
    r"(?: (ssh2?))?(?:: (.*))?$"
)
_SSH_INVALID = re.compile(r"Invalid user (.*?) from (\S+)(?: port (\d+))?$")
_SSH_DISCONNECTED = re.compile(
    r"Disconnected from (?:(invalid |authenticating )?user (.*) )?(\S+) port (\d+)( \[preauth\])?$"
)
_SSH_CLOSED = re.compile(
    r"Connection (?:closed|reset) by (?:(invalid |authenticating )?user (.*) )?(\S+) port (\d+)"
    r"( \[preauth\])?$"
)
_SSH_RECEIVED = re.compile(r"Received disconnect from (\S+) port (\d+):(\d+): (.*?)( \[preauth\])?$")
_SSH_MAX_TRIES = re.compile(
    r"(?:error: )?maximum authentication attempts exceeded for (invalid user )?(.*) from (\S+) port (\d+)"
)
_SSH_NOT_ALLOWED = re.compile(r"User (\S+) from (\S+) not allowed because (.*)$")
_SSH_NO_ID = re.compile(r"Did not receive identification string from (\S+)(?: port (\d+))?")
_SSH_CONNECTION = re.compile(r"Connection from (\S+) port (\d+) on (\S+) port (\d+)")


def _sshd(message: str, doc: Doc) -> bool:
    first = message[:4]
    if first in ("Acce", "Fail", "Post", "Part"):
        m = _SSH_AUTH.match(message)
        if m is None:
            return False
        verdict, method = m.group(1), m.group(2)
        _user(doc, m.group(4))
        _remote(doc, m.group(5), m.group(6))
        ssh: dict[str, Any] = {"event": verdict, "method": method}
        if m.group(8):
            ssh["signature"] = m.group(8)
        if m.group(3):
            ssh["invalid_user"] = True
        _auth(doc)["ssh"] = ssh
        if verdict == "Accepted":
            _mark(doc, ["authentication", "session"], ["start"], "logged-in", "success")
        elif verdict == "Failed":
            _mark(doc, ["authentication"], ["start"], "logon-failed", "failure")
        else:
            _mark(doc, ["authentication"], ["info"], "authentication-in-progress", "unknown")
        return True
    if first == "Inva":
        m = _SSH_INVALID.match(message)
        if m is None:
            return False
        _user(doc, m.group(1))
        _remote(doc, m.group(2), m.group(3))
        _auth(doc)["ssh"] = {"event": "Invalid", "invalid_user": True}
        _mark(doc, ["authentication"], ["start"], "invalid-user", "failure")
        return True
    if first == "Disc":
        m = _SSH_DISCONNECTED.match(message)
        if m is None:
            return False
        _user(doc, m.group(2))
        _remote(doc, m.group(3), m.group(4))
        if m.group(5) or m.group(1):
            _mark(doc, ["network"], ["connection", "end"], "disconnected-preauth")
        else:
            _mark(doc, ["session"], ["end"], "disconnected")
        return True
    if first == "Conn":
        m = _SSH_CLOSED.match(message)
        if m is not None:
            _user(doc, m.group(2))
            _remote(doc, m.group(3), m.group(4))
            preauth = bool(m.group(5) or m.group(1))
            _mark(
                doc,
                ["network"],
                ["connection", "end"],
                "connection-closed-preauth" if preauth else "connection-closed",
            )
            return True
        m = _SSH_CONNECTION.match(message)
        if m is not None:
            _remote(doc, m.group(1), m.group(2))
            endpoint(doc, "destination", m.group(3), m.group(4))
            _mark(doc, ["network"], ["connection", "start"], "connection-opened")
            return True
        return False
    if first == "Rece":
        m = _SSH_RECEIVED.match(message)
        if m is None:
            return False
        _remote(doc, m.group(1), m.group(2))
        _auth(doc)["ssh"] = {"disconnect": {"code": m.group(3), "reason": m.group(4)}}
        _mark(doc, ["network"], ["connection", "end"], "disconnect-received")
        return True
    if "maximum authentication attempts" in message:
        m = _SSH_MAX_TRIES.match(message)
        if m is None:
            return False
        _user(doc, m.group(2))
        _remote(doc, m.group(3), m.group(4))
        _mark(doc, ["authentication"], ["start"], "max-auth-attempts-exceeded", "failure")
        return True
    if first == "User":
        m = _SSH_NOT_ALLOWED.match(message)
        if m is None:
            return False
        _user(doc, m.group(1))
        _remote(doc, m.group(2))
        _auth(doc)["ssh"] = {"reason": m.group(3)}
        _mark(doc, ["authentication"], ["start"], "login-not-allowed", "failure")
        return True
    if first == "Did ":
        m = _SSH_NO_ID.match(message)
        if m is None:
            return False
        _remote(doc, m.group(1), m.group(2))
        _mark(doc, ["network"], ["connection"], "no-identification-string", "failure")
        return True
    return _pam(message, doc)


# --- sudo ----------------------------------------------------------------------------------------


def _sudo(message: str, doc: Doc) -> bool:
    """`alice : [error ; ]TTY=pts/0 ; PWD=/home/alice ; USER=root ; [ENV=.. ; ]COMMAND=...`."""
    text = message.strip()
    if text.startswith("pam_"):
        return _pam(text, doc)
    user, sep, rest = text.partition(" : ")
    if not sep or " " in user or "=" not in rest:
        return False
    command: str | None = None
    head, csep, tail = rest.partition("COMMAND=")
    if csep:
        command = tail
        rest = head
    details: dict[str, Any] = {}
    errors: list[str] = []
    for item in rest.split(" ; "):
        item = item.strip().rstrip(";").strip()
        if not item:
            continue
        key, eq, value = item.partition("=")
        if eq and key.isupper():
            details[key.lower()] = value
        else:
            errors.append(item)
    if command is not None:
        details["command"] = command
    _user(doc, user)
    _effective(doc, details.get("user"))
    if errors:
        details["error"] = " ; ".join(errors)
    _auth(doc)["sudo"] = details
    if errors:
        _mark(doc, ["authentication"], ["start"], "sudo-denied", "failure")
    else:
        _mark(doc, ["process"], ["start"], "sudo-command", "success")
    return True


# --- su ------------------------------------------------------------------------------------------

_SU_DEBIAN = re.compile(r"(FAILED SU )?\(to (\S+)\) (\S+) on (\S+)$")
_SU_CLASSIC = re.compile(r"(Successful|FAILED) su for (\S+) by (\S+)$")
_SU_SHORT = re.compile(r"([+-]) (\S+) (\S+):(\S+)$")


def _su(message: str, doc: Doc) -> bool:
    if message.startswith("pam_"):
        return _pam(message, doc)
    m = _SU_DEBIAN.match(message)
    if m is not None:
        failed, target, user, tty = bool(m.group(1)), m.group(2), m.group(3), m.group(4)
    else:
        m = _SU_CLASSIC.match(message)
        if m is not None:
            failed, target, user, tty = m.group(1) == "FAILED", m.group(2), m.group(3), None
        else:
            m = _SU_SHORT.match(message)
            if m is None:
                return False
            failed, tty, user, target = m.group(1) == "-", m.group(2), m.group(3), m.group(4)
    _user(doc, user)
    _effective(doc, target)
    if tty:
        _auth(doc)["su"] = {"tty": tty}
    if failed:
        _mark(doc, ["authentication"], ["start"], "su-failed", "failure")
    else:
        _mark(doc, ["authentication", "session"], ["start"], "su", "success")
    return True


# --- PAM (any program) ---------------------------------------------------------------------------

_PAM = re.compile(r"(pam_\w+)\(([^:)]+):(\w+)\): (.*)$")
_PAM_SESSION = re.compile(
    r"session (opened|closed) for user ([^\s(]+)(?:\(uid=(\d+)\))?(?: by ([^\s(]*)(?:\(uid=(\d+)\))?)?"
)
_PAM_KV = re.compile(r"(\w+)=(\S*)")


def _pam(message: str, doc: Doc) -> bool:
    m = _PAM.match(message)
    if m is None:
        return False
    module, service, kind, text = m.groups()
    _auth(doc)["pam"] = {"module": module, "service": service, "type": kind}
    if text.startswith("session "):
        s = _PAM_SESSION.match(text)
        if s is None:
            return False
        _user(doc, s.group(2), s.group(3))
        if s.group(4):
            add_related(doc, "user", s.group(4))
        if s.group(1) == "opened":
            _mark(doc, ["session"], ["start"], "session-opened", "success")
        else:
            _mark(doc, ["session"], ["end"], "session-closed", "success")
        return True
    if text.startswith("authentication failure"):
        values = dict(_PAM_KV.findall(text))
        # `uid=` is the caller of PAM (sshd runs as 0), not the account: leave user.id out.
        _user(doc, values.get("user") or values.get("ruser") or values.get("logname"))
        _remote(doc, values.get("rhost"))
        tty = values.get("tty")
        if tty:
            _auth(doc)["pam"]["tty"] = tty
        _mark(doc, ["authentication"], ["start"], "logon-failed", "failure")
        return True
    if text.startswith("password changed for "):
        _user(doc, text[len("password changed for ") :].strip())
        _mark(doc, ["iam"], ["user", "change"], "changed-password", "success")
        return True
    if text.startswith("check pass; user unknown"):
        _mark(doc, ["authentication"], ["start"], "logon-failed", "failure")
        return True
    return False


# --- shadow-utils: useradd, usermod, userdel, groupadd, groupmod, groupdel, gpasswd, passwd -----

_NEW_USER = re.compile(r"new user: (.*)$")
_NEW_GROUP = re.compile(r"(?:new group|group added to \S+): (.*)$")
_ADD_TO_GROUP = re.compile(r"add '([^']*)' to (shadow )?group '([^']*)'")
_DEL_FROM_GROUP = re.compile(r"delete '([^']*)' from (shadow )?group '([^']*)'")
_DEL_USER = re.compile(r"delete user '([^']*)'")
_DEL_GROUP = re.compile(r"(?:removed (?:shadow )?group '([^']*)' owned by '[^']*'|group '([^']*)' removed)")
_CHANGE_USER = re.compile(r"(change|lock|unlock) user (?:name )?'([^']*)'(?: (.*))?$")
_FAILED_ADD = re.compile(r"failed adding user '([^']*)'")
_PASSWD_CHANGED = re.compile(r"password for '([^']*)' changed by '([^']*)'")
_GPASSWD = re.compile(r"user (\S+) (added|removed) by (\S+) (?:to|from) group (\S+)")
_GROUP_CHANGED = re.compile(r"group changed in \S+ \(group ([^/)]+)/(\d+)")
_CSV_KV = re.compile(r"(\w+)=([^,]*)")


def _group(doc: Doc, name: str | None, gid: str | None = None) -> None:
    group: dict[str, Any] = {}
    if not absent(name):
        group["name"] = name
    if gid is not None and gid.isdigit():
        group["id"] = gid
    if group:
        doc["group"] = group


def _shadow(message: str, doc: Doc) -> bool:
    if message.startswith("pam_"):
        return _pam(message, doc)
    m = _NEW_USER.match(message)
    if m is not None:
        values = dict(_CSV_KV.findall(m.group(1)))
        _user(doc, values.get("name"), values.get("UID"))
        _group(doc, None, values.get("GID"))
        details = {k: values[k] for k in ("home", "shell", "from") if k in values}
        if details:
            _auth(doc)["useradd"] = details
        _mark(doc, ["iam"], ["user", "creation"], "added-user-account", "success")
        return True
    m = _NEW_GROUP.match(message)
    if m is not None:
        values = dict(_CSV_KV.findall(m.group(1)))
        _group(doc, values.get("name"), values.get("GID"))
        _mark(doc, ["iam"], ["group", "creation"], "added-group-account", "success")
        return True
    m = _ADD_TO_GROUP.match(message)
    if m is not None:
        _user(doc, m.group(1))
        _group(doc, m.group(3))
        _mark(doc, ["iam"], ["group", "change"], "added-member-to-group", "success")
        return True
    m = _DEL_FROM_GROUP.match(message)
    if m is not None:
        _user(doc, m.group(1))
        _group(doc, m.group(3))
        _mark(doc, ["iam"], ["group", "change"], "removed-member-from-group", "success")
        return True
    m = _DEL_USER.match(message)
    if m is not None:
        _user(doc, m.group(1))
        _mark(doc, ["iam"], ["user", "deletion"], "deleted-user-account", "success")
        return True
    m = _DEL_GROUP.match(message)
    if m is not None:
        _group(doc, m.group(1) or m.group(2))
        _mark(doc, ["iam"], ["group", "deletion"], "deleted-group-account", "success")
        return True
    m = _CHANGE_USER.match(message)
    if m is not None:
        verb, name, what = m.group(1), m.group(2), m.group(3) or ""
        _user(doc, name)
        if verb == "change" and what.strip() == "password":
            _mark(doc, ["iam"], ["user", "change"], "changed-password", "success")
        elif verb in ("lock", "unlock"):
            _mark(doc, ["iam"], ["user", "change"], f"{verb}ed-user-account", "success")
        else:
            _mark(doc, ["iam"], ["user", "change"], "modified-user-account", "success")
        return True
    m = _PASSWD_CHANGED.match(message)
    if m is not None:
        _user(doc, m.group(1))
        add_related(doc, "user", m.group(2))
        _mark(doc, ["iam"], ["user", "change"], "changed-password", "success")
        return True
    m = _GPASSWD.match(message)
    if m is not None:
        _user(doc, m.group(1))
        add_related(doc, "user", m.group(3))
        _group(doc, m.group(4))
        action = "added-member-to-group" if m.group(2) == "added" else "removed-member-from-group"
        _mark(doc, ["iam"], ["group", "change"], action, "success")
        return True
    m = _GROUP_CHANGED.match(message)
    if m is not None:
        _group(doc, m.group(1), m.group(2))
        _mark(doc, ["iam"], ["group", "change"], "modified-group-account", "success")
        return True
    m = _FAILED_ADD.match(message)
    if m is not None:
        _user(doc, m.group(1))
        _mark(doc, ["iam"], ["user", "creation"], "added-user-account", "failure")
        return True
    return False


# --- systemd-logind and login ------------------------------------------------------------------

_LOGIND_NEW = re.compile(r"New session (\S+) of user (\S+?)\.?$")
_LOGIND_REMOVED = re.compile(r"Removed session (\S+?)\.?$")
_LOGIND_LOGGED_OUT = re.compile(r"Session (\S+) logged out\.")
_LOGIN_FAILED = re.compile(
    r"FAILED LOGIN (?:\((\d+)\)|(\d+)) (?:on '?(\S+?)'? )?FROM '?(\S*?)'? FOR '?(\S+?)'?, (.*)$"
)
_LOGIN_ROOT = re.compile(r"ROOT LOGIN +(?:on|ON) '?(\S+?)'?(?: FROM (\S+))?$")


def _logind(message: str, doc: Doc) -> bool:
    m = _LOGIND_NEW.match(message)
    if m is not None:
        _user(doc, m.group(2))
        _auth(doc)["logind"] = {"session_id": m.group(1)}
        _mark(doc, ["session"], ["start"], "new-session", "success")
        return True
    m = _LOGIND_REMOVED.match(message) or _LOGIND_LOGGED_OUT.match(message)
    if m is not None:
        _auth(doc)["logind"] = {"session_id": m.group(1)}
        action = "removed-session" if message.startswith("Removed") else "logged-out"
        _mark(doc, ["session"], ["end"], action, "success")
        return True
    return False


def _login(message: str, doc: Doc) -> bool:
    if message.startswith("pam_"):
        return _pam(message, doc)
    m = _LOGIN_FAILED.match(message)
    if m is not None:
        _user(doc, m.group(5))
        origin = m.group(4)
        if origin and clean_ip(origin):
            _remote(doc, origin)
        _auth(doc)["login"] = {"tty": m.group(3) or origin, "reason": m.group(6)}
        _mark(doc, ["authentication"], ["start"], "logon-failed", "failure")
        return True
    m = _LOGIN_ROOT.match(message)
    if m is not None:
        _user(doc, "root")
        _remote(doc, m.group(2))
        _auth(doc)["login"] = {"tty": m.group(1)}
        _mark(doc, ["authentication", "session"], ["start"], "logged-in", "success")
        return True
    return False


_HANDLERS: dict[str, Callable[[str, Doc], bool]] = {
    "sshd": _sshd,
    "sshd-session": _sshd,
    "sshd-auth": _sshd,
    "sudo": _sudo,
    "su": _su,
    "login": _login,
    "systemd-logind": _logind,
    **{p: _shadow for p in ("useradd", "usermod", "userdel", "groupadd", "groupmod", "groupdel",
                            "gpasswd", "passwd", "chpasswd", "chage", "newusers")},
}  # fmt: skip

_REPEATED = re.compile(r"message repeated (\d+) times: \[ ?(.*?)\]$")


def classify(program: str | None, message: str, doc: Doc) -> bool:
    """Add auth/iam/session ECS fields for a known program message; True when recognised."""
    if message.startswith("message repeated "):
        # rsyslog's duplicate suppression wraps the repeated line; the repeated fact is the event.
        m = _REPEATED.match(message)
        if m is not None:
            _auth(doc)["repeated"] = to_int(m.group(1))
            message = m.group(2)
    handler = _HANDLERS.get(program) if program else None
    if handler is not None:
        return handler(message, doc)
    if message.startswith("pam_"):
        return _pam(message, doc)
    return False
