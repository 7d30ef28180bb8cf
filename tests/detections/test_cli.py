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
