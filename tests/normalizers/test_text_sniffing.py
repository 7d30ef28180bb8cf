"""Content detection: every golden sample, given with no format, is recognised as its own format.

Walks all golden folders (Windows ones included), in registry order, exactly as
`registry.sniff` does. Cases whose expected result is a dead letter are not valid samples of their
format and are left out. Formats whose module does not exist yet are skipped in the walk (another
engineer may still be writing it), so this test reports only real mis-detections.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import orjson
import pytest

from normalizers import registry
from normalizers.base import Normalizer
from tests.normalizers.test_golden import expected_path, golden_cases, read_raw

# (format, case) -> why that valid sample is not recognised as its own format.
EXCEPTIONS: dict[tuple[str, str], str] = {}


def _available() -> list[Normalizer]:
    found = []
    for name in registry.names():
        if importlib.util.find_spec(registry.FORMATS[name]) is not None:
            found.append(registry.get(name))
    return found


def _valid_cases() -> list[tuple[str, Path]]:
    cases = []
    for fmt, raw in golden_cases():
        expected = expected_path(raw)
        if expected.exists() and "dead_letter" in orjson.loads(expected.read_bytes()):
            continue
        cases.append((fmt, raw))
    return cases


@pytest.mark.parametrize(("fmt", "raw"), _valid_cases(), ids=lambda v: v.stem if isinstance(v, Path) else v)
def test_sample_is_recognised_as_its_format(fmt: str, raw: Path) -> None:
    payload = read_raw(raw)
    sniffed = next((n.name for n in _available() if n.sniff(payload)), None)
    if (fmt, raw.stem) in EXCEPTIONS:
        pytest.xfail(EXCEPTIONS[(fmt, raw.stem)])
    assert sniffed == fmt


def test_text_dead_letter_samples_are_not_claimed_by_their_format() -> None:
    """A record that is not of a format should not look like it either (cheap sniffers stay honest)."""
    mine = {"bind_query", "cisco_asa", "fortigate", "journald", "linux_syslog", "web_access", "web_json"}
    for fmt, raw in golden_cases():
        expected = expected_path(raw)
        if fmt in mine and expected.exists() and "dead_letter" in orjson.loads(expected.read_bytes()):
            assert not registry.get(fmt).sniff(read_raw(raw)), f"{fmt}/{raw.stem}"
