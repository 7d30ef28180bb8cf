"""Fixtures of the notification tests: real local SMTP and HTTP servers, alerts, a registry, a clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from soc_core.alert import Alert, RuleRef, Severity, alert_id
from soc_core.event import Soc, SocSource, SocSystem, SocUnit
from soc_core.registry import InformationSystem, Registry, Unit
from tests.notify.servers import HttpStub, SmtpServer, http_stub, smtp_server

#: 09:00 in Vietnam on a working day: outside the quiet hours.
MORNING = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    yield from smtp_server(implicit_tls=False)


@pytest.fixture
def smtp_tls() -> Iterator[SmtpServer]:
    yield from smtp_server(implicit_tls=True)


@pytest.fixture
def http() -> Iterator[HttpStub]:
    yield from http_stub()


class Clock:
    """The time the stage sees; tests move it instead of sleeping."""

    def __init__(self, now: datetime = MORNING) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def registry() -> Registry:
    return Registry(
        units=[
            Unit(
                id="so-tttt",
                name="Sở Thông tin và Truyền thông",
                security_contact="Trần Văn An, 0912 000 111",
                security_email="an.tv@sotttt.gov.vn",
                security_telegram="100200300",
            ),
            Unit(id="ubnd-xa", name="UBND xã Tân Trào"),
        ],
        systems=[
            InformationSystem(id="portal", name="Cổng dịch vụ công tỉnh", unit_id="so-tttt", level=3),
        ],
    )


def make_alert(
    n: int = 1,
    *,
    severity: Severity = Severity.HIGH,
    at: datetime = MORNING,
    unit: str = "so-tttt",
    system: str | None = "portal",
    host: str = "ws-kt-01",
    rule: str = "mimikatz-lsass",
    checklist: list[str] | None = None,
    **extra: Any,
) -> Alert:
    event_id = f"ev-{n:04d}"
    return Alert(
        id=alert_id(rule, event_id),
        timestamp=at,
        severity=severity,
        rule=RuleRef(
            id=rule,
            name="Đọc bộ nhớ LSASS (Mimikatz)",
            description="Một tiến trình đọc bộ nhớ của LSASS để lấy mật khẩu.",
            level=severity.value,
        ),
        checklist=checklist or [],
        soc=Soc(
            unit=SocUnit(id=unit, name=None),
            system=SocSystem(id=system),
            source=SocSource(id="src-portal"),
        ),
        host_name=host,
        user_name="ketoan01",
        event_ids=[event_id],
        created_at=at,
        **extra,
    )
