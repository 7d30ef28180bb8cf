"""Notify benchmark: what early warnings cost the pipeline, and how fast the stage decides.

- hand-off: CPU time per alert of `AlertHandoff.offer`, the only notification work done on the
  embedded pipeline's thread (the distributed pipeline does none: the notify worker has its own
  consumer group).
- stage: alerts per CPU-second through `NotifyStage.offer` (routing, flood control, the Vietnamese
  text for each recipient, the signed link), with N alerts in distinct groups, each to on-call and
  the unit's email and Telegram contact (three messages per alert), digests off (a high threshold).

- memory: what saving flood control's memory after each batch costs (`FloodMemory.save` into the
  embedded store's SQLite file, in a temporary folder), with the default digest threshold: a flood,
  so each batch writes 300 told marks and the three held digests (20 alerts each) again; CPU per
  told mark and wall time per batch of 100 alerts.

No server is involved: delivery is the servers' time, not ours. Writes `bench/results/notify.json`.

    .venv/bin/python bench/bench_notify.py [--alerts 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from notify.flood import FloodMemory
from notify.stage import NotifyStage
from soc_core.alert import Alert, RuleRef, Severity, alert_id
from soc_core.event import Soc, SocSource, SocSystem, SocUnit
from soc_core.registry import InformationSystem, Registry, Unit
from soc_core.settings import NotifySettings
from socpipe.notify import AlertHandoff
from stores.sqlite.notify_config import SqliteNotifyStateStore
from stores.sqlite.store import SqliteStore

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


def alerts(n: int) -> list[Alert]:
    return [
        Alert(
            id=alert_id("bench-rule", f"ev-{i}"),
            timestamp=NOW,
            created_at=NOW,
            severity=Severity.HIGH,
            rule=RuleRef(id="bench-rule", name="Đọc bộ nhớ LSASS", description="Một tiến trình đọc LSASS."),
            checklist=["VN-03"],
            soc=Soc(unit=SocUnit(id="so-tttt"), system=SocSystem(id="portal"), source=SocSource(id="s")),
            host_name=f"ws-{i % 500}",
            user_name="ketoan01",
            event_ids=[f"ev-{i}"],
        )
        for i in range(n)
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=20_000)
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results" / "notify.json")
    args = parser.parse_args()
    batch = alerts(args.alerts)
    registry = Registry(
        units=[Unit(id="so-tttt", name="Sở TTTT", security_email="a@so.vn", security_telegram="100200300")],
        systems=[InformationSystem(id="portal", name="Cổng dịch vụ công", unit_id="so-tttt", level=3)],
    )
    settings = NotifySettings(oncall=["telegram:-100999"], digest_threshold=10**9, max_tracked=10**6)
    stage = NotifyStage(
        settings, secret="s", registry=lambda: registry, acknowledged=lambda a: False, clock=lambda: NOW
    )

    handoff = AlertHandoff(len(batch), lambda letters: None)
    started = time.process_time()
    for i in range(0, len(batch), 100):
        handoff.offer(batch[i : i + 100])
    handoff_s = time.process_time() - started

    started = time.process_time()
    messages = 0
    for i in range(0, len(batch), 100):
        messages += len(stage.offer(batch[i : i + 100]))
    stage_s = time.process_time() - started

    with tempfile.TemporaryDirectory() as folder:
        core = SqliteStore(Path(folder) / "store.sqlite3")
        core.setup()  # the file as `socpipe run` has it (WAL)
        state = SqliteNotifyStateStore(core.path)
        state.setup()
        flood_settings = NotifySettings(oncall=["telegram:-100999"], max_tracked=10**6)
        fresh = NotifyStage(
            flood_settings,
            secret="s",
            registry=lambda: registry,
            acknowledged=lambda a: False,
            clock=lambda: NOW,
        )
        memory = FloodMemory(state, fresh.flood, settings.max_tracked)
        save_cpu = save_wall = 0.0
        for i in range(0, len(batch), 100):
            fresh.offer(batch[i : i + 100])
            cpu, wall = time.process_time(), time.perf_counter()
            memory.save()
            save_cpu += time.process_time() - cpu
            save_wall += time.perf_counter() - wall
        marks = fresh.flood.seq
        state.close()
        core.close()

    result = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "alerts": len(batch),
        "handoff_us_per_alert": round(handoff_s / len(batch) * 1e6, 2),
        "stage_alerts_per_cpu_s": round(len(batch) / stage_s),
        "stage_messages_per_cpu_s": round(messages / stage_s),
        "messages": messages,
        "memory_save_cpu_us_per_mark": round(save_cpu / marks * 1e6, 2),
        "memory_save_wall_ms_per_batch": round(save_wall / (len(batch) / 100) * 1e3, 2),
        "load_average": os.getloadavg(),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
