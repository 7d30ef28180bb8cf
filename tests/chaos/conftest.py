"""The chaos suite's private servers: started once per session, in the background as soon as the
suite is collected (they boot while the tests on the shared servers run), always stopped at the end
(`tests/background.py`).

When they cannot start, a test that needs them fails in CI (`CI=true`) and is skipped elsewhere,
as the shared servers' tests are (`tests/conftest.py`).
"""

from __future__ import annotations

import pytest

from tests.background import BackgroundServers
from tests.chaos.servers import PrivateServers

_private = BackgroundServers("private_servers", PrivateServers, "private Kafka/Elasticsearch")


def pytest_collection_finish(session: pytest.Session) -> None:
    _private.collection_finish(session)


def pytest_sessionfinish(session: pytest.Session) -> None:
    _private.session_finish()


@pytest.fixture(scope="session")
def private_servers() -> PrivateServers:
    """Kafka and Elasticsearch of this session alone, which a test may stop and start."""
    return _private.get()
