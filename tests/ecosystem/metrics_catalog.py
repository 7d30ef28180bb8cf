"""What socpipe exports to Prometheus, found the way a reviewer would: every module of the product
that imports prometheus_client is imported, and every metric it registered is given one child per
label so that the exposition shows each family as a scrape would."""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.metrics import MetricWrapperBase

from tests.servers import in_ci

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (
    "soc_core",
    "ingest",
    "normalizers",
    "detections",
    "stores",
    "buses",
    "api",
    "notify",
    "notifiers",
    "socpipe",
)
EXTERNAL = {"up"}
"""Series the dashboard and the rules may read that socpipe does not export: Prometheus' own."""


def metric_modules() -> list[str]:
    """Dotted names of the product modules that define or touch Prometheus metrics."""
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "prometheus_client import" in path.read_text(encoding="utf-8"):
                found.append(".".join(path.relative_to(ROOT).with_suffix("").parts))
    return found


@cache
def exposition() -> str:
    """The text exposition with every socpipe family present (one sample per label set)."""
    for name in metric_modules():
        module = importlib.import_module(name)
        for value in vars(module).values():
            if isinstance(value, MetricWrapperBase) and value._labelnames:
                value.labels(*["x"] * len(value._labelnames))
    return generate_latest(REGISTRY).decode()


def families() -> dict[str, str]:
    """socpipe's metric families as exposed: name (with `_total` for counters) -> type."""
    out = {}
    for line in exposition().splitlines():
        if line.startswith("# TYPE soc_"):
            _, _, name, kind = line.split()
            if not name.endswith("_created"):
                out[name] = kind
    return out


def series_names() -> set[str]:
    """Every series name a query may use: the families plus histogram `_bucket/_sum/_count`."""
    names = set()
    for name, kind in families().items():
        names.add(name)
        if kind == "histogram":
            names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (strings, label matchers, ranges and label
    lists removed; what is left and is not a function, keyword or number is a metric name)."""
    bare = re.sub(r'"[^"]*"|\{[^}]*\}|\[[^]]*\]', " ", expr)
    bare = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", bare)
    words = set(re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b(?!\s*\()", bare))
    return words - {"and", "or", "unless", "offset", "bool"}


def promtool() -> str:
    """The promtool binary (Debian's `prometheus` package, `make system-deps`); missing it fails
    in CI and skips elsewhere."""
    path = shutil.which("promtool")
    if path is None:
        if in_ci():
            pytest.fail("promtool is not installed (make system-deps installs Debian's prometheus package)")
        pytest.skip("promtool is not installed (apt-get install prometheus, or make system-deps)")
    return path


def run_promtool(
    *args: str, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args], input=stdin, capture_output=True, text=True, timeout=120, cwd=cwd, check=False
    )


def promtool_version() -> str:
    return run_promtool("--version").stdout.split("\n", 1)[0]
