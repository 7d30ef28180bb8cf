"""Events per second of the Windows normalizers, per shape, on one core. A dev tool, not a test.

    .venv/bin/python tests/normalizers/windows/bench.py [--data /work/shared/data] [--rounds 5]

Input: every record of the `.evtx` attack samples (~8,000 real events: Sysmon, Security, System,
PowerShell, Defender, ...) in the evtx-JSON shape, and the same records converted to the
Winlogbeat and NXLog shapes (`shapes.py`; NXLog skips the few events with unnamed data). Two
numbers per shape, best of `--rounds` passes:
- parse: `NORMALIZER.parse(raw, ctx)`, i.e. JSON decoding plus the ECS mapping;
- stage: `NormalizeStage()(record)` on prebuilt `RawRecord`s: parse plus id, `soc.*`,
  `event.original` and the pydantic validation into `Event`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent.parent))
sys.path.insert(0, str(HERE))

from shapes import to_nxlog, to_winlogbeat  # noqa: E402

from normalizers import registry  # noqa: E402
from normalizers.base import ParseContext  # noqa: E402
from normalizers.evtx_file import iter_records  # noqa: E402
from normalizers.stage import NormalizeStage  # noqa: E402
from soc_core.records import RawRecord, record_id  # noqa: E402


def _best(rounds: int, items: Sequence[Any], call: Callable[[Any], object]) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for item in items:
            call(item)
        best = min(best, time.perf_counter() - start)
    return len(items) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data"))
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    evtx = [
        payload
        for path in sorted((args.data / "evtx-attack-samples").rglob("*.evtx"))
        for payload in iter_records(path)
    ]
    records = [orjson.loads(payload) for payload in evtx]
    nxlog = []
    for record in records:
        try:
            nxlog.append(orjson.dumps(to_nxlog(record)).decode())
        except ValueError:
            continue
    shapes = {
        "evtx_json": evtx,
        "winlogbeat": [orjson.dumps(to_winlogbeat(record)).decode() for record in records],
        "nxlog_windows": nxlog,
    }
    ctx = ParseContext(received_at=datetime.now(UTC), source_id="bench")
    stage = NormalizeStage()
    print(f"{'shape':<14} {'events':>7} {'avg bytes':>9} {'parse ev/s':>11} {'stage ev/s':>11}")
    for fmt, payloads in shapes.items():
        parse = registry.get(fmt).parse
        raw_records = [
            RawRecord(id=record_id("bench", payload), source_id="bench", format=fmt, payload=payload)
            for payload in payloads
        ]
        parsed = _best(args.rounds, payloads, lambda payload: parse(payload, ctx))  # noqa: B023
        staged = _best(args.rounds, raw_records, stage)
        size = sum(map(len, payloads)) / len(payloads)
        print(f"{fmt:<14} {len(payloads):>7} {size:>9.0f} {parsed:>11,.0f} {staged:>11,.0f}")


if __name__ == "__main__":
    main()
