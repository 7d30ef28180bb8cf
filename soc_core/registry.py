"""The registry: what the province declares (units, information systems, log sources, endpoints,
coverage targets). Coverage is measured against it; ingest attributes records with it.

Ids are short stable slugs chosen by the province (`so-tttt`, `portal`), not database keys, so an
export re-imports to the same thing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")]


class UnitKind(StrEnum):
    PROVINCE = "province"
    DEPARTMENT = "department"
    COMMUNE = "commune"
    SERVICE_CENTRE = "service_centre"
    OTHER = "other"


class RegistryModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Unit(RegistryModel):
    """An agency, commune, department or public service centre (đơn vị)."""

    id: Slug
    name: str
    kind: UnitKind = UnitKind.OTHER
    parent_id: Slug | None = None
    security_contact: str | None = None
    # Where early warnings for the unit go (issue 16): the contact's email, and a Telegram chat
    # (a person's or a group's chat id) the SOC's bot may write to.
    security_email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")
    security_telegram: str | None = Field(default=None, pattern=r"^-?[0-9]{1,20}$|^@[A-Za-z0-9_]{5,32}$")


class ApprovalStatus(StrEnum):
    NOT_PROPOSED = "not_proposed"
    PROPOSED = "proposed"
    APPROVED = "approved"


class InformationSystem(RegistryModel):
    """An information system (HTTT) with its security level under Decree 85/2016."""

    id: Slug
    name: str
    unit_id: Slug
    level: int = Field(ge=1, le=5)
    level_approval: ApprovalStatus = ApprovalStatus.NOT_PROPOSED
    important: bool = False
    monitoring_deadline: date | None = None


class LogSource(RegistryModel):
    """A log source (nguồn nhật ký) a system must send, and how it authenticates."""

    id: Slug
    name: str
    system_id: Slug
    format: str | None = None
    allowed_silence_minutes: int = Field(default=15, ge=1)
    timezone: str = "Asia/Ho_Chi_Minh"
    token: SecretStr | None = Field(default=None, exclude=True)
    token_sha256: str | None = None
    address: str | None = None
    # Syslog over TLS: the client certificate that identifies this source, by the SHA-256 of its
    # DER encoding (a pin) or by a subject CN / subjectAltName of a certificate the receiver's
    # client CA verified. `address` (an IP or CIDR network) identifies plain UDP/TCP senders.
    tls_client_sha256: str | None = None
    tls_client_subject: str | None = None

    @model_validator(mode="after")
    def _hash_token(self) -> LogSource:
        """Only the token's hash is kept: the store and exports never hold a usable token."""
        if self.token is not None:
            self.token_sha256 = token_hash(self.token.get_secret_value())
            self.token = None
        return self


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Endpoint(RegistryModel):
    """A tracked computer or kiosk, and whether it is a secret-document machine."""

    id: Slug
    hostname: str
    unit_id: Slug
    secret_documents: bool = False
    kind: Literal["workstation", "kiosk", "server"] = "workstation"


class CoverageScope(StrEnum):
    IMPORTANT_SYSTEMS = "important_systems"
    LEVEL3_AND_ABOVE = "level3_and_above"
    SERVICE_CENTRE_ENDPOINTS = "service_centre_endpoints"


class CoverageTarget(RegistryModel):
    id: Slug
    scope: CoverageScope
    percent: float = Field(gt=0, le=100)
    deadline: date
    unit_id: Slug | None = None


class Registry(RegistryModel):
    """A whole registry, as imported or exported in one YAML file."""

    units: list[Unit] = Field(default_factory=list)
    systems: list[InformationSystem] = Field(default_factory=list)
    sources: list[LogSource] = Field(default_factory=list)
    endpoints: list[Endpoint] = Field(default_factory=list)
    targets: list[CoverageTarget] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SourceContext:
    """What the registry says about a source, denormalized for stamping each event."""

    source_id: str
    unit_id: str | None = None
    unit_name: str | None = None
    system_id: str | None = None
    system_name: str | None = None
    system_level: int | None = None
    format: str | None = None
    timezone: str = "Asia/Ho_Chi_Minh"


#: The registry's kinds by their name in files, APIs and stores.
REGISTRY_KINDS: dict[str, type[RegistryModel]] = {
    "units": Unit,
    "systems": InformationSystem,
    "sources": LogSource,
    "endpoints": Endpoint,
    "targets": CoverageTarget,
}
