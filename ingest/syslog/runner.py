"""Running the syslog receiver: in a thread of the embedded `socpipe run`, or as its own process.

Embedded::

    handle = start_syslog_in_thread(settings.ingest, registry, submit, deadletter=store.put_deadletters)
    ...
    handle.stop()   # stops listening, waits until what was read is durable

The thread owns an asyncio loop; `submit` runs in the receiver's small thread pool, so it may block
(SQLite commit, Kafka acks) without stalling the listeners.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

from ingest.batcher import DeadLetterSink, Submit
from ingest.sources import SourceDirectory
from ingest.syslog.receiver import SyslogReceiver
from soc_core.errors import ConfigError
from soc_core.registry_cache import RegistryCache
from soc_core.settings import IngestSettings

log = logging.getLogger(__name__)


class SyslogHandle:
    """A receiver running on its own loop in a daemon thread."""

    def __init__(self, receiver: SyslogReceiver) -> None:
        self.receiver = receiver
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="syslog-receiver", daemon=True)

    @property
    def ports(self) -> dict[str, int]:
        return self.receiver.ports

    def start(self, timeout_s: float = 30.0) -> SyslogHandle:
        self._thread.start()
        if not self._started.wait(timeout_s):
            raise ConfigError("syslog receiver did not start in time")
        if self._error is not None:
            raise self._error
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        finally:
            self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        try:
            await self.receiver.start()
        except BaseException as exc:
            self._error = exc
            self._started.set()
            return
        self._started.set()
        await self._stop.wait()
        await self.receiver.stop()

    def stop(self, timeout_s: float = 60.0) -> None:
        if self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout_s)

    def call(self, fn: Callable[[], None]) -> None:
        """Run `fn` on the receiver's loop (tests)."""
        self._loop.call_soon_threadsafe(fn)


def start_syslog_in_thread(
    config: IngestSettings,
    registry: RegistryCache,
    submit: Submit,
    *,
    deadletter: DeadLetterSink | None = None,
) -> SyslogHandle | None:
    """Start the listeners `config` opens (None when it sets no syslog port)."""
    if not config.syslog_listens:
        return None
    receiver = SyslogReceiver(config, SourceDirectory(registry), submit, deadletter=deadletter)
    return SyslogHandle(receiver).start()
