"""`socpipe detect` over ECS JSON lines: alerts on stdout, counts and stats on stderr."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detections.cli import detect_command

PACK = Path(__file__).resolve().parents[2] / "detections" / "rules" / "provincial"


def test_detect_command_on_ecs_json_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = [
        {
            "@timestamp": "2025-07-15T08:30:00+07:00",
            "event": {"code": "1"},
            "host": {"name": "ws01"},
            "winlog": {
                "channel": "Microsoft-Windows-Sysmon/Operational",
                "event_data": {
                    "Image": "C:\\Windows\\System32\\net.exe",
                    "CommandLine": "net user guest /active:yes",
                },
            },
        },
        {
            "@timestamp": "2025-07-15T08:31:00+07:00",
            "event": {"code": "1"},
            "host": {"name": "ws01"},
            "winlog": {
                "channel": "Microsoft-Windows-Sysmon/Operational",
                "event_data": {"CommandLine": "calc"},
            },
        },
    ]
    path = tmp_path / "events.ndjson"
    path.write_text("\n".join(json.dumps(e) for e in events) + "\nnot json at all\n")
    detect_command([path], rules=[PACK], format=None, stats=True, cache_dir=None, no_cache=True)
    out, err = capsys.readouterr()
    alerts = [json.loads(line) for line in out.splitlines()]
    assert [a["rule"]["id"] for a in alerts] == ["ff3e8c61-3755-4d74-bd83-244a3d2d6152"]
    assert alerts[0]["checklist"] == ["VN-05"] and alerts[0]["kind"] == "alert"
    assert "ff3e8c61-3755-4d74-bd83-244a3d2d6152" in err
    assert "events=2" in err and "dead_letters=1" in err and "alerts=1" in err


def test_compiled_rules_are_cached_in_the_user_cache_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.ndjson"
    events.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("SOC_RULE_CACHE_DIR", raising=False)
    detect_command([events], rules=[PACK], format=None, stats=False, cache_dir=None, no_cache=False)
    assert list((tmp_path / "xdg" / "socpipe" / "rule-cache").glob("rules-*.pickle"))
    monkeypatch.setenv("SOC_RULE_CACHE_DIR", str(tmp_path / "setting"))
    detect_command([events], rules=[PACK], format=None, stats=False, cache_dir=None, no_cache=False)
    assert list((tmp_path / "setting").glob("rules-*.pickle"))
    option = tmp_path / "opt"
    detect_command([events], rules=[PACK], format=None, stats=False, cache_dir=option, no_cache=False)
    assert list((tmp_path / "opt").glob("rules-*.pickle"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg2"))
    monkeypatch.delenv("SOC_RULE_CACHE_DIR")
    detect_command([events], rules=[PACK], format=None, stats=False, cache_dir=None, no_cache=True)
    assert not (tmp_path / "xdg2").exists()
    capsys.readouterr()


def test_detect_unit_option_attributes_events(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--unit` stamps soc.unit.id on every record, as ingest does for a registered source."""
    golden = Path(__file__).resolve().parents[1] / "normalizers" / "cef" / "kaspersky_virus_found.raw"
    detect_command([golden], rules=[PACK], format=None, unit="so-yte", stats=False, cache_dir=None)
    alerts = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert alerts and {a["soc"]["unit"]["id"] for a in alerts} == {"so-yte"}
    detect_command([golden], rules=[PACK], format=None, stats=False, cache_dir=None)
    alerts = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert alerts and all("id" not in a["soc"].get("unit", {}) for a in alerts)


def test_detect_frames_records_like_normalize(capsys: pytest.CaptureFixture[str]) -> None:
    """An IIS log's header lines are not records (they were dead letters), and its `#Fields:` line
    applies to the data lines; an auditd event's lines are one record."""
    golden = Path(__file__).resolve().parents[1] / "normalizers"
    iis = golden / "iis_w3c" / "with_header_default_fields.raw"
    auditd = golden / "auditd" / "execve_group_hex_args.raw"  # 7 lines, one event
    detect_command([iis, auditd], rules=[PACK], format=None, stats=False, cache_dir=None)
    err = capsys.readouterr().err
    data_lines = sum(1 for line in iis.read_text().splitlines() if line and not line.startswith("#"))
    assert f"records={data_lines + 1}" in err and "dead_letters" not in err, err
