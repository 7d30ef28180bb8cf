"""The alerts every SLA test starts from (`tests.sla.seed`), in the test's store."""

from __future__ import annotations

import pytest

from soc_core.alert import Alert
from soc_core.store import Store
from tests.sla.seed import sla_alerts


@pytest.fixture
def seeded(store: Store) -> dict[str, Alert]:
    alerts = sla_alerts()
    store.put_alerts(list(alerts.values()))
    store.refresh()
    return alerts
