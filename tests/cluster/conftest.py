"""The cluster, started once per session in the background as soon as the suite is collected (its
five JVMs boot while other tests run), always stopped at the end (`tests/background.py`). When it
cannot start, the test fails in CI (`CI=true`) and is skipped elsewhere."""

from __future__ import annotations

import pytest

from tests.background import BackgroundServers
from tests.cluster.servers import ClusterServers

_cluster = BackgroundServers("cluster_servers", ClusterServers, "the Kafka/Elasticsearch cluster")


def pytest_collection_finish(session: pytest.Session) -> None:
    _cluster.collection_finish(session)


def pytest_sessionfinish(session: pytest.Session) -> None:
    _cluster.session_finish()


@pytest.fixture(scope="session")
def cluster_servers() -> ClusterServers:
    """Three Kafka brokers and two Elasticsearch nodes of this session alone."""
    return _cluster.get()
