"""What every coverage adapter shares: the snapshot's stored shape and what counts as an
anti-malware report. A snapshot keeps the province-wide figures as fields (charts aggregate them)
and the per-unit figures as an unindexed blob.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from soc_core.coverage import CoverageSnapshot

# What counts as an anti-malware report (a detection or a heartbeat) for endpoint protection.
ANTIMALWARE_MODULES = ("kaspersky", "antimalware", "defender", "windows_defender")
ANTIMALWARE_DATASET_PREFIX = "windows.defender"


def snapshot_record(snapshot: CoverageSnapshot) -> dict[str, Any]:
    province = {
        f.scope: {"covered": f.covered, "total": f.total, "ratio": f.ratio}
        for f in snapshot.figures
        if f.unit_id is None
    }
    units: dict[str, dict[str, list[int]]] = {}
    for f in snapshot.figures:
        if f.unit_id is not None:
            units.setdefault(f.unit_id, {})[f.scope] = [f.covered, f.total]
    return {
        "at": snapshot.at.astimezone(UTC).isoformat(),
        "province": province,
        "units": units,
        "systems_monitored": [s.system_id for s in snapshot.systems if s.monitored],
    }


def figure_of(record: dict[str, Any], scope: str, unit_id: str | None) -> tuple[int, int] | None:
    if unit_id is None:
        fig = record.get("province", {}).get(scope)
        return (int(fig["covered"]), int(fig["total"])) if fig else None
    pair = record.get("units", {}).get(unit_id, {}).get(scope)
    return (int(pair[0]), int(pair[1])) if pair else None


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
