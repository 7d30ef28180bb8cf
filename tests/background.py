"""Private servers started in the background as soon as the suite is collected (they boot while the
tests on the shared servers run), always stopped at the end: the chaos suite's pair and the cluster.

Only a run whose selected tests (after `-m`, `-k`) ask for the fixture starts them, and never
`--collect-only`. When they cannot start, a test that needs them fails in CI (`CI=true`) and is
skipped elsewhere, as the shared servers' tests are (`tests/conftest.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, Protocol, TypeVar

import pytest

from tests.servers import in_ci


class _Startable(Protocol):
    def start(self) -> None: ...

    def close(self) -> None: ...


S = TypeVar("S", bound=_Startable)


class BackgroundServers(Generic[S]):
    def __init__(self, fixture: str, make: Callable[[], S], what: str) -> None:
        self.fixture, self.make, self.what = fixture, make, what
        self.servers: S | None = None
        self.starting: Future[None] | None = None

    def collection_finish(self, session: pytest.Session) -> None:
        """From `pytest_collection_finish`: start them if a selected test asks for the fixture."""
        if session.config.option.collectonly or self.starting is not None:
            return
        if any(self.fixture in getattr(i, "fixturenames", ()) for i in session.items):
            self.servers = self.make()
            pool = ThreadPoolExecutor(1, thread_name_prefix=self.fixture)
            self.starting = pool.submit(self.servers.start)
            pool.shutdown(wait=False)

    def session_finish(self) -> None:
        """From `pytest_sessionfinish`: stop them (after a start still running)."""
        if self.servers is not None:
            if self.starting is not None:
                self.starting.exception()
            self.servers.close()

    def get(self) -> S:
        """The fixture's value once started; fails in CI, skips elsewhere when they could not start."""
        if self.servers is None or self.starting is None:
            pytest.fail(f"{self.what} were not started at collection")
        error = self.starting.exception()
        if error is not None:
            if in_ci():
                pytest.fail(f"{self.what} could not start in CI: {error}")
            pytest.skip(f"{self.what} not available: {error}")
        return self.servers
