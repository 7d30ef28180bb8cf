"""Typed auth errors; the app maps them to HTTP answers."""

from __future__ import annotations

from soc_core.errors import SocError


class AuthFailed(SocError):
    """Wrong username or password, or a disabled account (never says which)."""


class TooManyAttempts(SocError):
    def __init__(self, message: str, retry_after: float, **context: object) -> None:
        super().__init__(message, **context)
        self.retry_after = retry_after


class CsrfFailed(SocError):
    """An unsafe request without the form's (or header's) CSRF token."""


class UserExists(SocError):
    pass
