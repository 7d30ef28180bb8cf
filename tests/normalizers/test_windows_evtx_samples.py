"""Every `.evtx` attack sample reads and normalizes: zero unreadable records, zero dead letters.

The corpus (`evtx-attack-samples`, 277 files, ~8,000 events) covers Security, Sysmon, System,
PowerShell, Defender, RDP, BITS, WinRM, MSSQL and ETW traces saved as `.evtx` (no channel), so it
is the broadest real-world check of the Windows mapping we have. Also: a damaged file loses only
its damaged records, and a file that is not EVTX is reported, not raised.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from pathlib import Path

import orjson
import pytest

from normalizers.evtx_file import ReadStats, iter_identified, iter_records
from normalizers.stage import NormalizeStage
from soc_core.event import Event
from soc_core.records import DeadLetter, RawRecord, record_id

DATA = Path(os.environ.get("SOC_TEST_DATA", "/work/shared/data"))
SAMPLES = DATA / "evtx-attack-samples"


def _files() -> list[Path]:
    if not SAMPLES.is_dir():
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(f"sample data missing in CI: {SAMPLES}")
        pytest.skip(f"sample data not available: {SAMPLES}")
    return sorted(SAMPLES.rglob("*.evtx"))


def test_every_attack_sample_normalizes_without_dead_letters() -> None:
    stage = NormalizeStage()
    files = _files()
    events = 0
    unreadable: dict[str, int] = {}
    dead: Counter[str] = Counter()
    datasets: Counter[str] = Counter()
    for path in files:
        stats = ReadStats()
        for payload in iter_records(path, stats):
            source = f"upload:{path.name}"
            record = RawRecord(
                id=record_id(source, payload), source_id=source, format="evtx_json", payload=payload
            )
            result = stage(record)
            if isinstance(result, DeadLetter):
                dead[f"{path.name}: {result.reason[:160]}"] += 1
                continue
            assert isinstance(result, Event)
            events += 1
            datasets[result.event.get("dataset") or ""] += 1
        if stats.errors:
            unreadable[path.name] = stats.errors
    assert len(files) >= 250
    assert events >= 8000
    assert not unreadable, f"unreadable records: {unreadable}"
    assert not dead, f"dead letters: {dead.most_common(20)}"
    for dataset in ("windows.security", "windows.sysmon_operational", "windows.system", "windows.defender"):
        assert datasets[dataset] > 0, dataset


def test_sysmon_and_security_events_get_their_ecs_fields() -> None:
    """Spot checks over the whole corpus: the fields detections lean on are filled when present."""
    stage = NormalizeStage()
    missing: Counter[str] = Counter()
    for path in _files():
        for payload in iter_records(path):
            result = stage(RawRecord(id="x", source_id="s", format="evtx_json", payload=payload))
            assert isinstance(result, Event)
            flat = result.flat()
            data = result.winlog["event_data"] if result.winlog and "event_data" in result.winlog else {}
            code, channel = result.event.get("code"), result.winlog.get("channel") if result.winlog else None
            if channel == "Microsoft-Windows-Sysmon/Operational" and code == "1" and data.get("CommandLine"):
                missing["process.args"] += "process.args" not in flat
                if data.get("ParentImage", "-") != "-":  # Sysmon writes "-" for an unknown parent
                    missing["process.parent.executable"] += "process.parent.executable" not in flat
            if channel == "Security" and code == "4624":
                missing["winlog.logon.type"] += "winlog.logon.type" not in flat
                missing["user.name"] += "user.name" not in flat
            if channel == "Microsoft-Windows-Sysmon/Operational" and code in ("12", "13", "14"):
                missing["registry.path"] += "registry.path" not in flat
            if (
                channel == "Microsoft-Windows-Sysmon/Operational"
                and code == "3"
                and data.get("DestinationIp")
            ):
                missing["destination.ip"] += "destination.ip" not in flat
    assert sum(missing.values()) == 0, missing


def test_a_damaged_file_keeps_its_good_records(tmp_path: Path) -> None:
    source = max(_files(), key=lambda p: p.stat().st_size)
    good = sum(1 for _ in iter_records(source))
    data = bytearray(source.read_bytes())
    rng = random.Random(7)
    for offset in range(0x1200, len(data), 997):  # scribble over records, keep the file header
        data[offset] = rng.randrange(256)
    damaged = tmp_path / "damaged.evtx"
    damaged.write_bytes(bytes(data))
    stats = ReadStats()
    reasons: list[str] = []
    payloads = list(iter_records(damaged, stats, on_error=lambda path, reason: reasons.append(reason)))
    assert stats.errors > 0 and len(reasons) == stats.errors
    assert 0 < stats.records == len(payloads) < good
    for payload in payloads:
        assert isinstance(orjson.loads(payload), dict)  # whatever came out is JSON the stage can judge
    stage = NormalizeStage()
    for payload in payloads:
        assert isinstance(
            stage(RawRecord(id="x", source_id="s", format="evtx_json", payload=payload)), Event | DeadLetter
        )


def test_a_file_that_is_not_evtx_is_reported(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.evtx"
    bogus.write_bytes(b"this is not an event log\n" * 40)
    stats = ReadStats()
    assert list(iter_records(bogus, stats)) == []
    assert stats.file_error and stats.errors == 1 and stats.records == 0
    missing = ReadStats()
    assert list(iter_records(tmp_path / "absent.evtx", missing)) == []
    assert missing.file_error


def test_identified_records_carry_the_ids_of_their_shipper_ids() -> None:
    """`iter_identified` hashes a file's path once: each record's id is still `record_id` of its
    shipper id `<path>:<n>` (what `socpipe detect` gives the records of an `.evtx` file)."""
    files = _files()
    for path in (files[0], files[len(files) // 2], files[-1]):
        stats = ReadStats()
        identified = list(iter_identified(path, f"cli:{path.name}", stats))
        payloads = list(iter_records(path))
        assert [payload for _, payload in identified] == payloads and stats.records == len(payloads)
        source = f"cli:{path.name}"
        assert [rid for rid, _ in identified] == [
            record_id(source, payload, shipper_id=f"{path}:{n}") for n, payload in enumerate(payloads)
        ]
