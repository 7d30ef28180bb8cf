"""The secured servers, started once for the tests that ask for `secure_servers` (they boot in
about a minute), stopped at the end. Fails in CI when they cannot start; skips elsewhere."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.production.secure_servers import SecureServers
from tests.servers import in_ci


@pytest.fixture(scope="session")
def secure_servers() -> Iterator[SecureServers]:
    secure = SecureServers()
    try:
        try:
            secure.start()
        except (RuntimeError, OSError) as exc:
            if in_ci():
                pytest.fail(f"secured Kafka/Elasticsearch could not start in CI: {exc}")
            pytest.skip(f"secured Kafka/Elasticsearch not available: {exc}")
        yield secure
    finally:
        secure.close()
