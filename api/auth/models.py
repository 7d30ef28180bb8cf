"""Auth schemas: users, API tokens and the caller's identity, as the API reads and writes them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from api.auth.deps import Role


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
