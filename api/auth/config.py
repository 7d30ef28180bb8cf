"""Authentication settings (prefix `SOC_AUTH_`), built once in `create_app` and kept on the app.

Kept beside the auth package rather than in `soc_core.settings` because only the HTTP app uses them.
`cookie_secure` defaults to on everywhere except `SOC_ENVIRONMENT=dev`, where the console is served over
plain http on localhost and a Secure cookie would never come back.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AuthSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SOC_AUTH_", extra="forbid", frozen=True)

    cookie_secure: bool | None = Field(default=None, description="None: on unless environment is dev")
    cookie_samesite: Literal["lax", "strict"] = "lax"
    session_hours: float = Field(default=8.0, gt=0, description="absolute session lifetime")
    login_max_failures: int = Field(default=5, ge=1, description="per username and address, per window")
    login_max_failures_per_ip: int = Field(default=20, ge=1)
    login_window_s: float = Field(default=300.0, gt=0)

    def secure_cookies(self, environment: str) -> bool:
        return self.cookie_secure if self.cookie_secure is not None else environment != "dev"
