"""The reports' tests run over the inspection scenario (a province built through the real pipeline:
alerts, an incident, coverage gaps, findings; `tests.inspections.scenario`) on each store."""

from __future__ import annotations

from tests.inspections.conftest import client_for, rules, scenario
from tests.notify.conftest import smtp

__all__ = ["client_for", "rules", "scenario", "smtp"]
