"""Users, passwords, sessions and API tokens.

- Passwords: argon2id (argon2-cffi defaults); a missing user still costs one verification, so response
  time does not tell which usernames exist.
- Sessions and API tokens: 32 random bytes given to the client once; the store keeps only SHA-256, so a
  copy of the database cannot be replayed as a login.
- Login failures are rate-limited per (username, address) and per address, counted in the store, so
  every API replica sees every failure: guessing is bounded to N per window whatever the replicas.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from api.audit import service as audit
from api.auth.errors import AuthFailed, TooManyAttempts, UserExists
from api.auth.models import Principal, Role
from soc_core.store import AccountStore, ApiTokenRecord, LoginAttemptStore, SessionRecord, Store, UserRecord

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a real password, only for constant time")


def sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def principal_of(user: UserRecord) -> Principal:
    return Principal(
        user_id=user.id, username=user.username, role=Role(user.role), display_name=user.display_name
    )


# -- users ----------------------------------------------------------------------------------------


def create_user(
    *,
    store: Store,
    username: str,
    password: str,
    role: Role,
    display_name: str | None = None,
    actor: str = "system",
) -> UserRecord:
    if store.get_user_by_name(username) is not None:
        raise UserExists("username already taken", username=username)
    now = datetime.now(UTC)
    user = UserRecord(
        id=uuid.uuid4().hex,
        username=username,
        role=role.value,
        password_hash=hash_password(password),
        display_name=display_name,
        created_at=now,
        password_changed_at=now,
    )
    store.put_user(user)
    audit.record(
        store=store,
        actor=actor,
        action="user.create",
        target_type="user",
        target_id=user.id,
        details={"username": username, "role": role.value},
    )
    return user


def set_password(*, store: Store, user: UserRecord, password: str, actor: str) -> UserRecord:
    """New password, and every open session of the user ends."""
    updated = user.model_copy(
        update={"password_hash": hash_password(password), "password_changed_at": datetime.now(UTC)}
    )
    store.put_user(updated)
    store.delete_user_sessions(user.id)
    audit.record(store=store, actor=actor, action="user.password", target_type="user", target_id=user.id)
    return updated


DEMO_ROLES: tuple[tuple[str, Role, str], ...] = (
    ("admin", Role.ADMIN, "Quản trị hệ thống"),
    ("analyst", Role.ANALYST, "Chuyên viên giám sát"),
    ("police", Role.POLICE, "Công an tỉnh (PA05)"),
    ("inspector", Role.INSPECTOR, "Đoàn kiểm tra"),
    ("viewer", Role.VIEWER, "Người xem"),
)


def create_demo_users(store: Store) -> list[tuple[str, str, str]]:
    """One user per role with a fresh random password each run (never a fixed demo password).

    Returns (username, password, role) for the CLI to print. Existing demo users get a new password.
    """
    out: list[tuple[str, str, str]] = []
    for username, role, display in DEMO_ROLES:
        password = secrets.token_urlsafe(12)
        existing = store.get_user_by_name(username)
        if existing is None:
            create_user(store=store, username=username, password=password, role=role, display_name=display)
        else:
            fixed = existing.model_copy(update={"role": role.value, "active": True, "display_name": display})
            set_password(store=store, user=fixed, password=password, actor="system")
        out.append((username, password, role.value))
    return out


# -- login rate limiting --------------------------------------------------------------------------


class LoginLimiter:
    """Sliding-window counts of failed logins per (username, address) and per address, kept in the
    store (`LoginAttemptStore`): every API replica reads and adds to the same counts, so guessing is
    bounded to the limit per window however many replicas answer. Keys are SHA-256 of the username and
    address, so a password typed into the username field is not stored in clear."""

    def __init__(self, store: LoginAttemptStore, *, per_user: int, per_ip: int, window_s: float) -> None:
        self.store = store
        self.per_user, self.per_ip, self.window_s = per_user, per_ip, window_s

    @staticmethod
    def _user_key(username: str, ip: str) -> str:
        return sha256(f"u:{username.lower()}|{ip}")

    @staticmethod
    def _ip_key(ip: str) -> str:
        return sha256(f"ip:{ip}")

    def check(self, username: str, ip: str) -> None:
        """Raise TooManyAttempts before even checking the password."""
        now = datetime.now(UTC)
        since = now - timedelta(seconds=self.window_s)
        for key, limit in ((self._user_key(username, ip), self.per_user), (self._ip_key(ip), self.per_ip)):
            count, oldest = self.store.login_failures(key, since)
            if count >= limit:
                waited = (now - oldest).total_seconds() if oldest else 0.0
                raise TooManyAttempts(
                    "too many failed logins", retry_after=max(1.0, self.window_s - waited), ip=ip
                )

    def failed(self, username: str, ip: str) -> None:
        now = datetime.now(UTC)
        self.store.record_login_failure(
            [self._user_key(username, ip), self._ip_key(ip)],
            now,
            forget_before=now - timedelta(seconds=self.window_s),
        )

    def succeeded(self, username: str, ip: str) -> None:
        self.store.clear_login_failures(self._user_key(username, ip))


# -- sessions -------------------------------------------------------------------------------------


def login(
    *,
    store: Store,
    limiter: LoginLimiter,
    username: str,
    password: str,
    ip: str,
    session_hours: float,
    previous_session: str | None = None,
) -> tuple[str, UserRecord]:
    """Check the password and open a new session (the previous one, if any, ends: renewal at login).

    Returns the session token for the cookie. Every attempt is audited.
    """
    limiter.check(username, ip)
    user = store.get_user_by_name(username)
    ok = verify_password(user.password_hash if user else _DUMMY_HASH, password)
    if user is None or not ok or not user.active:
        limiter.failed(username, ip)
        audit.record(
            store=store,
            actor=username[:64] or "anonymous",
            action="login.failure",
            ip=ip,
            details={"reason": "unknown user" if user is None else "bad password" if not ok else "disabled"},
        )
        raise AuthFailed("wrong username or password", username=username)
    limiter.succeeded(username, ip)
    if _hasher.check_needs_rehash(user.password_hash):
        user = user.model_copy(update={"password_hash": hash_password(password)})
        store.put_user(user)
    if previous_session:
        store.delete_session(sha256(previous_session))
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    store.put_session(
        SessionRecord(
            token_sha256=sha256(token),
            user_id=user.id,
            created_at=now,
            expires_at=now + timedelta(hours=session_hours),
            ip=ip,
        )
    )
    audit.record(
        store=store, actor=user.username, action="login.success", target_type="user", target_id=user.id, ip=ip
    )
    return token, user


def logout(*, store: Store, session_token: str, actor: str, ip: str | None) -> None:
    store.delete_session(sha256(session_token))
    audit.record(store=store, actor=actor, action="logout", ip=ip)


def principal_from_session(*, store: AccountStore, session_token: str) -> Principal | None:
    session = store.get_session(sha256(session_token))
    if session is None or session.expires_at <= datetime.now(UTC):
        return None
    user = store.get_user(session.user_id)
    if user is None or not user.active:
        return None
    return principal_of(user)


# -- API tokens -----------------------------------------------------------------------------------


def create_api_token(*, store: Store, name: str, role: Role, actor: str) -> tuple[str, ApiTokenRecord]:
    """A new bearer token; the clear value is returned once and never stored."""
    token = "socp_" + secrets.token_urlsafe(32)
    record = ApiTokenRecord(
        id=uuid.uuid4().hex[:12],
        name=name,
        role=role.value,
        token_sha256=sha256(token),
        created_at=datetime.now(UTC),
        created_by=actor,
    )
    store.put_api_token(record)
    audit.record(
        store=store,
        actor=actor,
        action="token.create",
        target_type="token",
        target_id=record.id,
        details={"name": name, "role": role.value},
    )
    return token, record


def revoke_api_token(*, store: Store, token_id: str, actor: str) -> ApiTokenRecord | None:
    for record in store.list_api_tokens():
        if record.id == token_id:
            revoked = record.model_copy(update={"revoked": True})
            store.put_api_token(revoked)
            audit.record(
                store=store, actor=actor, action="token.revoke", target_type="token", target_id=token_id
            )
            return revoked
    return None


def principal_from_token(*, store: AccountStore, token: str) -> Principal | None:
    record = store.get_api_token(sha256(token))
    if record is None or record.revoked:
        return None
    if record.expires_at is not None and record.expires_at <= datetime.now(UTC):
        return None
    return Principal(
        user_id=f"token:{record.id}",
        username=f"token:{record.name}",
        role=Role(record.role),
        display_name=None,
    )
