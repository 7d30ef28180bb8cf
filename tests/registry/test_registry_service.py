"""Registry management: validation lists every problem, imports are all-or-nothing, CSV and YAML
round-trip, and the CLI reports problems clearly."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.registry import service
from soc_core.registry import InformationSystem, LogSource, Registry, Unit
from soc_core.store import Store
from socpipe.cli import app
from socpipe.demo.province import demo_registry


def test_the_demo_registry_is_consistent() -> None:
    registry, tokens = demo_registry()
    assert service.problems(registry) == []
    assert sum(s.important for s in registry.systems) == 20
    assert set(tokens) == {s.id for s in registry.sources}


def test_every_problem_is_listed() -> None:
    reg = Registry(
        units=[
            Unit(id="a", name="A", parent_id="b"),
            Unit(id="b", name="B", parent_id="a"),
            Unit(id="a", name="A2"),
        ],
        systems=[InformationSystem(id="s1", name="S", unit_id="nope", level=3, important=True)],
        sources=[LogSource(id="x", name="X", system_id="s9", format="klingon")],
    )
    found = service.problems(reg)
    assert "units: duplicate id 'a'" in found
    assert any("parent chain loops" in p for p in found)
    assert "systems.s1: owner unit 'nope' is not a registered unit" in found
    assert "systems.s1: an important system needs a monitoring deadline" in found
    assert "sources.x: system 's9' is not a registered system" in found
    assert any(p.startswith("sources.x: unknown format 'klingon'") for p in found)


def test_import_is_all_or_nothing_and_keeps_token_hashes(store: Store) -> None:
    base = Registry(
        units=[Unit(id="u", name="U")],
        systems=[InformationSystem(id="s", name="S", unit_id="u", level=2)],
        sources=[LogSource.model_validate({"id": "src", "name": "N", "system_id": "s", "token": "t1"})],
    )
    service.apply_import(store, base)
    bad = Registry(
        sources=[LogSource(id="src2", name="N2", system_id="missing")], units=[Unit(id="v", name="V")]
    )
    with pytest.raises(service.RegistryInvalid) as err:
        service.apply_import(store, bad)
    assert err.value.problems == ["sources.src2: system 'missing' is not a registered system"]
    assert [u.id for u in store.load_registry().units] == ["u"]  # nothing of the bad import was written
    renamed = Registry(sources=[LogSource(id="src", name="Renamed", system_id="s")])
    service.apply_import(store, renamed)
    src = store.load_registry().sources[0]
    assert src.name == "Renamed" and src.token_sha256 is not None  # the token survives a re-import


def test_delete_refuses_to_leave_dangling_references(store: Store) -> None:
    service.apply_import(
        store,
        Registry(
            units=[Unit(id="u", name="U")],
            systems=[InformationSystem(id="s", name="S", unit_id="u", level=2)],
        ),
    )
    with pytest.raises(service.RegistryInvalid) as err:
        service.delete_entry(store, "units", "u")
    assert "owner unit 'u' is not a registered unit" in err.value.problems[0]
    service.delete_entry(store, "systems", "s")
    service.delete_entry(store, "units", "u")
    assert store.load_registry() == Registry()


def test_csv_and_yaml_round_trip() -> None:
    registry, _ = demo_registry()
    for kind in service.KINDS:
        back = service.parse_csv(kind, service.to_csv(registry, kind))
        assert [i.model_dump() for i in getattr(back, kind)] == [
            i.model_dump() for i in getattr(registry, kind)
        ]
    assert service.parse_yaml(service.to_yaml(registry)) == registry


def test_cli_import_export_and_clear_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOC_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    good = tmp_path / "units.csv"
    good.write_text("id,name,kind\nso-y-te,Sở Y tế,department\nxa-a,UBND xã A,commune\n", encoding="utf-8")
    result = runner.invoke(app, ["registry", "import", str(good), "--kind", "units"])
    assert result.exit_code == 0, result.output
    assert "imported 2 units" in result.output
    systems = tmp_path / "reg.yaml"
    systems.write_text(
        "systems:\n  - {id: lan, name: LAN, unit_id: so-y-te, level: 2, important: true,"
        f" monitoring_deadline: {date(2025, 8, 15)}}}\n  - {{id: bad, name: B, unit_id: ghost, level: 9}}\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["registry", "import", str(systems)])
    assert result.exit_code == 2
    assert "systems.1.level" in result.output
    result = runner.invoke(app, ["registry", "export", "--format", "csv", "--kind", "units"])
    assert result.exit_code == 0
    assert result.output.splitlines()[0].startswith("id,name,kind")
    assert "Sở Y tế" in result.output
