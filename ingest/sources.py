"""Who is sending: registry sources by peer address or TLS client certificate, and attribution.

Syslog carries no credential of its own, so a syslog sender is identified by what the network
proves: the verified client certificate (TLS) or the peer address declared in the registry
(`LogSource.address`, an IP or a CIDR network; the most specific network wins). Anything else is
refused by the receiver. Records are stamped with the source, unit and system from the registry,
never from the payload.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from soc_core.event import utcnow
from soc_core.records import RawRecord, record_id
from soc_core.registry import LogSource
from soc_core.registry_cache import RegistryCache

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Attribution:
    """A source with what every record from it is stamped with."""

    source: LogSource
    unit_id: str | None
    system_id: str | None

    @property
    def source_id(self) -> str:
        return self.source.id

    def record(
        self,
        payload: str,
        *,
        shipper_id: str | None = None,
        fmt: str | None = None,
        evidence: dict[str, Any] | None = None,
        received_at: datetime | None = None,
    ) -> RawRecord:
        """A RawRecord with the deterministic id (source + shipper id, else the payload bytes).

        Receivers pass one `received_at` for everything that arrived together (one request, one
        read), which also spares a clock read per record."""
        return RawRecord(
            id=record_id(self.source.id, payload, shipper_id),
            source_id=self.source.id,
            unit_id=self.unit_id,
            system_id=self.system_id,
            format=fmt or self.source.format,
            received_at=utcnow() if received_at is None else received_at,
            payload=payload,
            evidence=evidence,
        )

    def lines(self, raws: Sequence[bytes], texts: Sequence[str], received_at: datetime) -> list[RawRecord]:
        """Records for text lines that arrived together: `texts[i]` is `raws[i]` decoded as UTF-8,
        so the id hashes the bytes as received (what `record` hashes, without encoding again)."""
        sid, unit_id, system_id, fmt = self.source.id, self.unit_id, self.system_id, self.source.format
        return [
            RawRecord(
                id=record_id(sid, raw),
                source_id=sid,
                unit_id=unit_id,
                system_id=system_id,
                format=fmt,
                received_at=received_at,
                payload=text,
            )
            for raw, text in zip(raws, texts, strict=True)
        ]


def attribution(registry: RegistryCache, source: LogSource) -> Attribution:
    ctx = registry.context(source.id)
    return Attribution(source, ctx.unit_id if ctx else None, ctx.system_id if ctx else None)


def cert_sha256(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def _norm_fingerprint(value: str) -> str:
    return value.replace(":", "").replace(" ", "").lower()


def _cert_names(cert: dict[str, Any]) -> list[str]:
    """Subject CN and DNS / IP / URI subjectAltNames of a verified peer certificate."""
    names: list[str] = []
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                names.append(str(value))
    for kind, value in cert.get("subjectAltName", ()):
        if kind in ("DNS", "IP Address", "URI"):
            names.append(str(value))
    return names


class SourceDirectory:
    """Peer address / certificate -> Attribution, rebuilt from the registry cache on `refresh()`."""

    def __init__(self, registry: RegistryCache) -> None:
        self._registry = registry
        self._exact: dict[ipaddress.IPv4Address | ipaddress.IPv6Address, Attribution] = {}
        self._networks: list[tuple[Network, Attribution]] = []
        self._by_fingerprint: dict[str, Attribution] = {}
        self._by_name: dict[str, Attribution] = {}
        self.rebuild()

    def refresh(self) -> None:
        """Reload the registry from the store and rebuild (blocking: call it off the event loop)."""
        self._registry.reload()
        self.rebuild()

    def rebuild(self) -> None:
        exact: dict[ipaddress.IPv4Address | ipaddress.IPv6Address, Attribution] = {}
        networks: list[tuple[Network, Attribution]] = []
        by_fp: dict[str, Attribution] = {}
        by_name: dict[str, Attribution] = {}
        for source in self._registry.registry.sources:
            attr = attribution(self._registry, source)
            if source.address:
                try:
                    net = ipaddress.ip_network(source.address.strip(), strict=False)
                except ValueError:
                    log.warning(
                        "registry source %s has an invalid address %r: ignored", source.id, source.address
                    )
                else:
                    if net.num_addresses == 1:
                        if net.network_address in exact:
                            log.warning(
                                "address %s is declared by sources %s and %s: the first one is used",
                                net.network_address,
                                exact[net.network_address].source_id,
                                source.id,
                            )
                        exact.setdefault(net.network_address, attr)
                    else:
                        networks.append((net, attr))
            fingerprint = source.tls_client_sha256
            if fingerprint:
                by_fp[_norm_fingerprint(fingerprint)] = attr
            subject = source.tls_client_subject
            if subject:
                by_name[subject] = attr
        networks.sort(key=lambda item: item[0].prefixlen, reverse=True)
        self._exact, self._networks, self._by_fingerprint, self._by_name = exact, networks, by_fp, by_name

    def by_peer(self, host: str) -> Attribution | None:
        try:
            ip = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return None
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        found = self._exact.get(ip)
        if found is not None:
            return found
        for net, attr in self._networks:
            if ip.version == net.version and ip in net:
                return attr
        return None

    def by_certificate(self, der: bytes | None, cert: dict[str, Any] | None) -> Attribution | None:
        """The source pinned to this certificate (SHA-256 of DER), else named by its CN / SAN."""
        if der:
            found = self._by_fingerprint.get(cert_sha256(der))
            if found is not None:
                return found
        if cert:
            for name in _cert_names(cert):
                found = self._by_name.get(name)
                if found is not None:
                    return found
        return None

    @property
    def uses_certificates(self) -> bool:
        return bool(self._by_fingerprint or self._by_name)
