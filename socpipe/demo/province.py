"""The demo province: the units of the 2026 Ninh Bình inspection plan (shared/seeds/001), plus the
provincial portal, the document-management system, the data centre and the public service centre.

20 important systems (and two that are not), each with the log sources it must send. A few
sources are left without demo traffic on purpose, so the console shows what "not monitored"
looks like from the first minute.
"""

from __future__ import annotations

import secrets
import unicodedata
from datetime import date

from soc_core.registry import (
    ApprovalStatus,
    CoverageScope,
    CoverageTarget,
    Endpoint,
    InformationSystem,
    LogSource,
    Registry,
    Unit,
    UnitKind,
)

PROVINCE = Unit(
    id="ninh-binh",
    name="UBND tỉnh Ninh Bình",
    kind=UnitKind.PROVINCE,
    security_contact="Phòng An ninh mạng, Công an tỉnh",
)
DEPARTMENTS = [
    ("bao-dai-ptth", "Báo và Đài Phát thanh truyền hình Ninh Bình"),
    ("so-y-te", "Sở Y tế"),
    ("so-vhtt", "Sở Văn hóa và Thể thao"),
    ("so-tu-phap", "Sở Tư pháp"),
    ("ldld-tinh", "Liên đoàn Lao động tỉnh"),
]
COMMUNES = [
    "Đông Hoa Lư",
    "Yên Thắng",
    "Phát Diệm",
    "Nho Quan",
    "Gia Trấn",
    "Thiên Trường",
    "Vị Khê",
    "Nghĩa Hưng",
    "Cổ Lễ",
    "Hải Hậu",
    "Châu Sơn",
    "Tân Thanh",
    "Bình Mỹ",
]

# Sources the demo shippers leave silent, so "never connected" shows from the start.
SILENT_SOURCES = frozenset(
    {
        "xa-gia-tran-lan-winsec",
        "xa-vi-khe-lan-winsec",
        "xa-hai-hau-lan-winsec",
        "xa-binh-my-lan-winsec",
        "so-ldld-tinh-lan-winsec",
        "qlvb-iis",
        "ttdl-dns",
    }
)


def slug(text: str) -> str:
    """ASCII slug of a Vietnamese name: 'Đông Hoa Lư' -> 'dong-hoa-lu'."""
    text = text.replace("Đ", "D").replace("đ", "d")
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "-".join(ascii_text.lower().split())


def demo_registry() -> tuple[Registry, dict[str, str]]:
    """The demo registry and a fresh bearer token per source (only hashes go into the registry)."""
    units = [
        PROVINCE,
        Unit(
            id="so-khcn",
            name="Sở Khoa học và Công nghệ",
            kind=UnitKind.DEPARTMENT,
            parent_id=PROVINCE.id,
            security_contact="Trung tâm Công nghệ thông tin và Truyền thông",
        ),
        Unit(
            id="tt-phvhcc",
            name="Trung tâm Phục vụ hành chính công tỉnh",
            kind=UnitKind.SERVICE_CENTRE,
            parent_id=PROVINCE.id,
        ),
    ]
    units += [
        Unit(
            id=uid,
            name=name,
            kind=UnitKind.DEPARTMENT,
            parent_id=PROVINCE.id,
            security_contact=None if uid == "ldld-tinh" else f"Cán bộ chuyên trách ATTT, {name}",
        )
        for uid, name in DEPARTMENTS
    ]
    units += [
        Unit(id=f"xa-{slug(c)}", name=f"UBND xã {c}", kind=UnitKind.COMMUNE, parent_id=PROVINCE.id)
        for c in COMMUNES
    ]

    deadline = date(2025, 8, 15)
    systems: list[InformationSystem] = []
    sources: list[LogSource] = []

    def add(
        sys_id: str,
        name: str,
        unit_id: str,
        level: int,
        srcs: list[tuple[str, str, str]],
        important: bool = True,
        approval: ApprovalStatus = ApprovalStatus.APPROVED,
    ) -> None:
        systems.append(
            InformationSystem(
                id=sys_id,
                name=name,
                unit_id=unit_id,
                level=level,
                level_approval=approval,
                important=important,
                monitoring_deadline=deadline if important else None,
            )
        )
        for src_id, src_name, fmt in srcs:
            sources.append(
                LogSource(id=src_id, name=src_name, system_id=sys_id, format=fmt, allowed_silence_minutes=15)
            )

    add(
        "cong-ttdt",
        "Cổng thông tin điện tử tỉnh",
        "so-khcn",
        3,
        [
            ("portal-nginx", "Nginx máy chủ cổng", "web_access"),
            ("portal-linux", "Syslog máy chủ cổng (Ubuntu)", "linux_syslog"),
        ],
    )
    add(
        "qlvb",
        "Hệ thống quản lý văn bản và điều hành",
        "so-khcn",
        3,
        [
            ("qlvb-winsec", "Windows Security máy chủ QLVB", "winlogbeat"),
            ("qlvb-iis", "IIS máy chủ QLVB", "iis_w3c"),
        ],
    )
    add(
        "ttdl",
        "Trung tâm dữ liệu tỉnh",
        "so-khcn",
        4,
        [
            ("ttdl-fortigate", "Tường lửa FortiGate TTDL", "fortigate"),
            ("ttdl-dns", "Máy chủ DNS (BIND)", "bind_query"),
        ],
    )
    add(
        "hcc-motcua",
        "Hệ thống thông tin giải quyết thủ tục hành chính",
        "tt-phvhcc",
        3,
        [
            ("motcua-winsec", "Windows Security máy chủ một cửa", "winlogbeat"),
            ("hcc-ksc", "Kaspersky Security Center (CEF)", "cef"),
        ],
    )
    for uid, name in DEPARTMENTS:
        short = uid.removeprefix("so-")
        add(
            f"{uid}-lan",
            f"Mạng nội bộ {name}",
            uid,
            2,
            [
                (f"so-{short}-lan-winsec", f"Windows Security máy chủ {name}", "winlogbeat"),
            ],
        )
    important_communes = COMMUNES[:11]
    for commune in COMMUNES:
        cid = f"xa-{slug(commune)}"
        add(
            f"{cid}-lan",
            f"Mạng nội bộ UBND xã {commune}",
            cid,
            2,
            [(f"{cid}-lan-winsec", f"Windows Security máy chủ xã {commune}", "winlogbeat")],
            important=commune in important_communes,
            approval=ApprovalStatus.APPROVED if commune in COMMUNES[:8] else ApprovalStatus.PROPOSED,
        )

    endpoints = [
        Endpoint(
            id=f"hcc-pc-{n:02d}",
            hostname=f"HCC-PC{n:02d}",
            unit_id="tt-phvhcc",
            kind="kiosk" if n > 10 else "workstation",
        )
        for n in range(1, 13)
    ]
    endpoints.append(
        Endpoint(id="vp-mat-01", hostname="VP-MAT01", unit_id="so-tu-phap", secret_documents=True)
    )
    targets = [
        CoverageTarget(
            id="htttqt-100", scope=CoverageScope.IMPORTANT_SYSTEMS, percent=100, deadline=deadline
        ),
        CoverageTarget(
            id="pcmd-hcc-100",
            scope=CoverageScope.SERVICE_CENTRE_ENDPOINTS,
            percent=100,
            deadline=date(2025, 8, 30),
        ),
    ]
    tokens = {s.id: secrets.token_urlsafe(24) for s in sources}
    sources = [s.model_copy(update={"token_sha256": None}) for s in sources]
    with_tokens = [LogSource.model_validate({**s.model_dump(), "token": tokens[s.id]}) for s in sources]
    registry = Registry(
        units=units, systems=systems, sources=with_tokens, endpoints=endpoints, targets=targets
    )
    return registry, tokens
