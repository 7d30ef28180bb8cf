"""Auth schemas: roles, the caller's identity, users and API tokens, as the API reads and writes them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Role(StrEnum):
    ADMIN = "admin"
    ANALYST = "analyst"
    POLICE = "police"
    INSPECTOR = "inspector"
    VIEWER = "viewer"


#: Roles that may read the data of every unit (events, alerts, incidents, registry). Inspectors are
#: not among them: they see only the units of their inspection plans, through the inspection pages
#: and the unit dossier, which check plan membership.
PROVINCE_WIDE: tuple[Role, ...] = (Role.ADMIN, Role.ANALYST, Role.POLICE, Role.VIEWER)


class Principal(BaseModel):
    """Who is calling: a user through a console session, or an API token acting with its role."""

    model_config = ConfigDict(frozen=True)

    user_id: str
    username: str
    role: Role
    display_name: str | None = None


class UserCreate(BaseModel):
    username: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    password: str = Field(min_length=12, max_length=256)
    role: Role
    display_name: str | None = Field(default=None, max_length=128)


class UserUpdate(BaseModel):
    role: Role | None = None
    display_name: str | None = Field(default=None, max_length=128)
    active: bool | None = None
    password: str | None = Field(default=None, min_length=12, max_length=256)


class UserRead(BaseModel):
    id: str
    username: str
    role: Role
    display_name: str | None = None
    active: bool
    created_at: datetime


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    role: Role


class TokenRead(BaseModel):
    id: str
    name: str
    role: Role
    created_at: datetime
    created_by: str
    revoked: bool


class TokenCreated(TokenRead):
    token: str = Field(description="shown once; only its SHA-256 is stored")
