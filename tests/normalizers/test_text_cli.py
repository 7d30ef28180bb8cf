"""`normalize_command` (registered by the lead as `socpipe normalize`): framing, outputs, summary."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest
import typer
from typer.testing import CliRunner

from normalizers.cli import frame, normalize_command
from soc_core.records import record_id

app = typer.Typer()
app.command("normalize")(normalize_command)


@app.callback()
def _root() -> None:
    """A group, so the command is invoked by name as under `socpipe`."""


RUNNER = CliRunner()
SSH = "<38>Dec 31 22:14:07 vpn-gw sshd[2231]: Invalid user oracle from 45.135.232.10 port 51928"
AUDIT = [
    "type=SYSCALL msg=audit(1767196862.418:10): arch=c000003e syscall=59 success=yes pid=5 ppid=1 uid=0"
    ' comm="id"',
    'type=EXECVE msg=audit(1767196862.418:10): argc=1 a0="id"',
    "type=EOE msg=audit(1767196862.418:10):",
    "type=USER_LOGIN msg=audit(1767196862.500:11): pid=9 uid=0"
    " msg='op=login acct=\"a\" addr=1.2.3.4 res=failed'",
]
IIS = [
    "#Software: Microsoft Internet Information Services 10.0",
    "#Fields: date time c-ip cs-method cs-uri-stem sc-status",
    "2025-12-31 15:30:12 10.0.0.9 GET /a 200",
    "#Fields: date time cs-method cs-uri-stem c-ip sc-status",
    "2025-12-31 15:30:13 POST /b 10.0.0.8 404",
]


def _lines(text: str) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_file_gives_events_on_stdout_dead_letters_and_summary_on_stderr(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_text(f"{SSH}\n\nnot a log line\n", encoding="utf-8")
    result = RUNNER.invoke(app, ["normalize", str(log), "--format", "linux_syslog", "--source", "src-1"])
    assert result.exit_code == 0, result.output
    events = _lines(result.stdout)
    assert len(events) == 1
    assert events[0]["event"]["id"] == record_id("src-1", SSH)  # type: ignore[index]
    assert events[0]["soc"]["source"] == {"id": "src-1", "format": "linux_syslog"}  # type: ignore[index]
    letters = _lines(result.stderr)
    assert len(letters) == 1 and "not a syslog line" in letters[0]["reason"]  # type: ignore[operator]
    assert "1 events, 1 dead letters" in result.stderr.splitlines()[-1]


def test_stdin_and_content_detection(tmp_path: Path) -> None:
    bind = "client @0x1 10.0.0.5#53211 (a.vn): query: a.vn IN A + (10.0.0.1)"
    result = RUNNER.invoke(app, ["normalize", "-"], input=f"{SSH}\n{bind}\n")
    assert result.exit_code == 0, result.output
    formats = [e["soc"]["source"]["format"] for e in _lines(result.stdout)]  # type: ignore[index]
    assert formats == ["linux_syslog", "bind_query"]


def test_auditd_lines_are_grouped_into_events(tmp_path: Path) -> None:
    log = tmp_path / "audit.log.gz"
    with gzip.open(log, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(AUDIT) + "\n")
    result = RUNNER.invoke(app, ["normalize", str(log)])
    assert result.exit_code == 0, result.output
    events = _lines(result.stdout)
    assert [e["auditd"]["sequence"] for e in events] == [10, 11]  # type: ignore[index]
    assert events[0]["process"]["args"] == ["id"]  # type: ignore[index]


def test_iis_header_is_carried_to_each_line() -> None:
    records = list(frame(IIS, None))
    assert [(r[1], r[2]) for r in records] == [(IIS[2], "iis_w3c"), (IIS[4], "iis_w3c")]
    assert records[0][0] == f"{IIS[1]}\n{IIS[2]}"
    assert records[1][0] == f"{IIS[3]}\n{IIS[4]}"


def test_iis_file_end_to_end(tmp_path: Path) -> None:
    log = tmp_path / "u_ex251231.log"
    log.write_text("\r\n".join(IIS) + "\r\n", encoding="utf-8")
    result = RUNNER.invoke(app, ["normalize", str(log), "-f", "iis_w3c"])
    assert result.exit_code == 0, result.output
    events = _lines(result.stdout)
    assert [(e["source"]["ip"], e["url"]["path"]) for e in events] == [("10.0.0.9", "/a"), ("10.0.0.8", "/b")]  # type: ignore[index]


def test_unknown_format_and_missing_file_are_usage_errors(tmp_path: Path) -> None:
    assert RUNNER.invoke(app, ["normalize", "-", "--format", "nope"], input="").exit_code == 2
    assert RUNNER.invoke(app, ["normalize", str(tmp_path / "missing.log")]).exit_code == 2


def test_unreadable_evtx_is_a_read_dead_letter(tmp_path: Path) -> None:
    broken = tmp_path / "broken.evtx"
    broken.write_bytes(b"not an evtx file")
    result = RUNNER.invoke(app, ["normalize", str(broken)])
    assert result.exit_code == 0, result.output
    letters = _lines(result.stderr)
    assert letters and letters[0]["stage"] == "read" and letters[0]["format_tried"] == "evtx_json"


SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "data" / "evtx-attack-samples"


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="shared EVTX samples not beside the repository")
def test_evtx_file_records_become_evtx_json_events() -> None:
    smallest = min(SAMPLES.rglob("*.evtx"), key=lambda p: p.stat().st_size)
    result = RUNNER.invoke(app, ["normalize", str(smallest)])
    assert result.exit_code == 0, result.output
    events = _lines(result.stdout)
    assert events
    assert {e["soc"]["source"]["format"] for e in events} == {"evtx_json"}  # type: ignore[index]
