"""The chaos suite's private servers: started once per session, in the background as soon as the
suite is collected (they boot while the tests on the shared servers run), always stopped at the end.

When they cannot start, a test that needs them fails in CI (`CI=true`) and is skipped elsewhere,
as the shared servers' tests are (`tests/conftest.py`).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from tests.chaos.servers import PrivateServers
from tests.servers import in_ci

_private: PrivateServers | None = None
_starting: Future[None] | None = None


def pytest_collection_finish(session: pytest.Session) -> None:
    """After selection (`-m`, `-k`): only a run that will use them starts them."""
    global _private, _starting
    items = session.items
    if _starting is None and any("private_servers" in getattr(i, "fixturenames", ()) for i in items):
        _private = PrivateServers()
        _starting = ThreadPoolExecutor(1, thread_name_prefix="private-servers").submit(_private.start)


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _private is not None:
        if _starting is not None:
            _starting.exception()  # wait for a start still running before stopping
        _private.close()


@pytest.fixture(scope="session")
def private_servers() -> PrivateServers:
    """Kafka and Elasticsearch of this session alone, which a test may stop and start."""
    if _private is None or _starting is None:
        pytest.fail("private servers were not started at collection")
    error = _starting.exception()
    if error is not None:
        if in_ci():
            pytest.fail(f"private Kafka/Elasticsearch could not start in CI: {error}")
        pytest.skip(f"private Kafka/Elasticsearch not available: {error}")
    return _private
