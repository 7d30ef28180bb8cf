"""`socpipe ship` as a real process against the real HTTP intake: rotation by rename and by
copy-truncate, the intake answering 503 (spool, then resend), SIGKILL and restart; and `--once`."""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import orjson
import pytest

from ingest.shipper.sender import IntakeClient, encode_batch
from ingest.shipper.shipper import import_file
from ingest.shipper.storage import Checkpoint
from ingest.shipper.tail import Tailer, line_digest
from tests.ingest.helpers import Recorder, http_intake, source

TOKEN = "tok-ship"
SOURCES = [source("app-files", format="linux_syslog", token=TOKEN)]
ROOT = Path(__file__).resolve().parents[2]


def write(path: Path, tag: str, n: int) -> list[str]:
    lines = [f"<13>Jul  1 08:00:00 web01 app[7]: {tag} line {i:05d}" for i in range(n)]
    with path.open("a") as fh:
        fh.write("".join(line + "\n" for line in lines))
    return lines


class ShipperProcess:
    def __init__(self, url: str, glob: str, state: Path, log: Path) -> None:
        self.args = [
            sys.executable,
            "-m",
            "ingest.cli",
            "ship",
            "--url",
            url,
            "--path",
            glob,
            "--state-dir",
            str(state),
        ]
        self.env = {**os.environ, "SOC_SHIP_TOKEN": TOKEN, "SOC_LOG_LEVEL": "INFO"}
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ShipperProcess:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.args, env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
            )
        return self

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(30)

    def text(self) -> str:
        return self.log.read_text(errors="replace")[-5000:]


def spooled_lines(state: Path) -> int:
    return sum(p.read_bytes().count(b"\n") for p in (state / "spool").glob("*.ndjson"))


@pytest.fixture
def intake(tmp_path: Path) -> Iterator[tuple[str, Recorder]]:
    rec = Recorder()
    with http_intake(tmp_path, SOURCES, rec) as (url, _):
        yield url, rec


@pytest.mark.chaos
def test_shipper_survives_rotation_truncation_outage_and_sigkill(
    tmp_path: Path, intake: tuple[str, Recorder]
) -> None:
    url, rec = intake
    logs, state = tmp_path / "logs", tmp_path / "state"
    logs.mkdir()
    live = logs / "app.log"
    written: list[str] = []
    shipper = ShipperProcess(url, str(live), state, tmp_path / "shipper.log").start()
    procs = [shipper]
    try:
        written += write(live, "first", 1000)
        assert rec.wait_for(1000, 30) == 1000, shipper.text()

        # the intake answers 503 (Kafka down); meanwhile logrotate renames, creates, then deletes
        rec.open.clear()
        written += write(live, "before-rename", 1000)
        live.rename(logs / "app.log.1")
        written += write(live, "after-rename", 1000)
        deadline = time.monotonic() + 30
        while spooled_lines(state) < 2000 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert spooled_lines(state) >= 2000, shipper.text()
        (logs / "app.log.1").unlink()  # gone from disk: only the spool has it now
        rec.open.set()
        assert rec.wait_for(3000, 60) == 3000, shipper.text()

        # copy-truncate rotation
        written += write(live, "pre-truncate", 500)
        assert rec.wait_for(3500, 30) == 3500, shipper.text()
        shutil.copy(live, logs / "app.log.copy")
        with live.open("r+") as fh:
            fh.truncate(0)
        written += write(live, "post-truncate", 700)
        assert rec.wait_for(4200, 30) == 4200, shipper.text()

        # SIGKILL mid-stream, more lines while it is down, restart from the checkpoint
        written += write(live, "burst", 3000)
        time.sleep(0.3)
        shipper.stop(signal.SIGKILL)
        written += write(live, "while-down", 800)
        shipper = ShipperProcess(url, str(live), state, tmp_path / "shipper2.log").start()
        procs.append(shipper)
        assert rec.wait_for(len(written), 60) == len(written), shipper.text()
        time.sleep(1.0)
    finally:
        codes = [p.stop() for p in procs]
    assert codes[-1] == 0  # SIGTERM: clean exit
    got = rec.distinct()
    assert sorted(r.payload for r in got.values()) == sorted(written)  # every line, once
    assert all(r.source_id == "app-files" and r.format == "linux_syslog" for r in got.values())
    assert "truncated" in (tmp_path / "shipper.log").read_text()


def test_once_imports_a_file_as_evidence_idempotently(tmp_path: Path, intake: tuple[str, Recorder]) -> None:
    url, rec = intake
    evidence = tmp_path / "auth.log"
    lines = write(evidence, "evidence", 300)
    cmd = [
        sys.executable,
        "-m",
        "ingest.cli",
        "ship",
        "--url",
        url,
        "--once",
        str(evidence),
        "--case",
        "INSP-7",
    ]
    env = {**os.environ, "SOC_SHIP_TOKEN": TOKEN}
    for _ in range(2):
        out = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert "300 records, 300 accepted" in out.stdout
    assert len(rec.records) == 600 and len(rec.distinct()) == 300  # the second import: duplicates
    r = next(iter(rec.distinct().values()))
    assert r.evidence is not None and r.evidence["case"] == "INSP-7" and r.evidence["file"] == "auth.log"
    assert sorted(x.payload for x in rec.distinct().values()) == sorted(lines)


def test_once_reads_evtx_through_the_evtx_reader(
    tmp_path: Path, intake: tuple[str, Recorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, rec = intake
    evtx = tmp_path / "Security.evtx"
    evtx.write_bytes(b"ElfFile\x00 not parsed by this test")
    fake = ModuleType("normalizers.evtx_file")
    fake.iter_records = lambda path: iter(['{"Event": {"System": {"EventID": 4625}}}'] * 3)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "normalizers.evtx_file", fake)
    client = IntakeClient(url, TOKEN)
    try:
        result = import_file(evtx, client, evidence={"case": "INSP-8"})
    finally:
        client.close()
    assert (result.records, result.accepted, result.format) == (3, 3, "evtx_json")
    assert {r.format for r in rec.records} == {"evtx_json"}
    assert len(rec.distinct()) == 3  # identical records at three positions stay three events


def test_tailed_lines_keep_their_ids_host_origin_inode_offset_digest(tmp_path: Path) -> None:
    """Ids are dedup keys already stored downstream: their format never changes."""
    log = tmp_path / "app.log"
    log.write_bytes(b"first\r\n\nsecond\n" + "third caf\u00e9\n".encode() + b"partial")
    tailer = Tailer([str(log)], Checkpoint(tmp_path / "cp.json").load(), host="web01")
    tailer.scan()
    lines = tailer.read(100, 1 << 20)
    tailer.close()
    ino = log.stat().st_ino
    expect = [(0, b"first"), (8, b"second"), (15, "third caf\u00e9".encode())]
    assert [(ln.id, ln.payload) for ln in lines] == [
        (f"web01:{log}:{ino}:{offset}:{line_digest(raw)}", raw.decode()) for offset, raw in expect
    ]
    assert tailer.stats.lines == 3


def test_shipper_bodies_are_gzip_of_the_ndjson() -> None:
    records = [{"id": f"r{n}", "payload": f"line {n}"} for n in range(3)]
    assert gzip.decompress(encode_batch(records)) == b"".join(orjson.dumps(r) + b"\n" for r in records)
